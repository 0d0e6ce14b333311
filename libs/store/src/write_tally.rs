//! Counting a writer's store writes for
//! `gh_exporter_store_write_total{source,result}`: observed as they happen,
//! written in one batch with the writer's other counters.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Family, SeriesKey, WriteSource};

/// Successful and failed writes since the last [`WriteTally::take`].
#[derive(Debug, Default)]
pub struct WriteTally {
    ok: AtomicU64,
    failed: AtomicU64,
}

/// Counts taken out of a tally, to be written (or put back).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TakenWrites {
    pub ok: u64,
    pub failed: u64,
}

impl WriteTally {
    /// Counts one write by its result.
    pub fn observe<T, E>(&self, result: &Result<T, E>) {
        let counter = if result.is_ok() {
            &self.ok
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn take(&self) -> TakenWrites {
        TakenWrites {
            ok: self.ok.swap(0, Ordering::Relaxed),
            failed: self.failed.swap(0, Ordering::Relaxed),
        }
    }

    /// Returns counts whose write failed, for the next attempt.
    pub fn put_back(&self, taken: TakenWrites) {
        self.ok.fetch_add(taken.ok, Ordering::Relaxed);
        self.failed.fetch_add(taken.failed, Ordering::Relaxed);
    }
}

impl TakenWrites {
    /// The non-zero counter increments of `source`.
    pub fn counters(self, source: WriteSource) -> Vec<(SeriesKey, u64)> {
        [("success", self.ok), ("failure", self.failed)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(result, n)| {
                (
                    SeriesKey::new(Family::StoreWrites, [source.as_str(), result]),
                    n,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_result_and_puts_back() {
        let t = WriteTally::default();
        t.observe(&Ok::<(), ()>(()));
        t.observe(&Ok::<(), ()>(()));
        t.observe(&Err::<(), ()>(()));
        let taken = t.take();
        assert_eq!(taken, TakenWrites { ok: 2, failed: 1 });
        assert_eq!(t.take(), TakenWrites::default());
        t.put_back(taken);
        let counters = t.take().counters(WriteSource::WorkerBackfill);
        assert_eq!(counters.len(), 2);
        assert_eq!(counters[0].0.labels, ["worker_backfill", "success"]);
        assert_eq!(counters[0].1, 2);
    }
}
