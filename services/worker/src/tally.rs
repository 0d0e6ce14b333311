//! Counters not yet written to the store: the consumers and the webhook
//! intake add to them as they go, and one flush a second writes them, with
//! the worker's store-write counts, in one batch rather than one store
//! write per job or delivery.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::Utc;
use ghstats_store::{SeriesKey, Store, WriteCtx, WriteSource, WriteTally};

/// Counter increments waiting for the next flush.
#[derive(Debug, Default)]
pub struct CounterTally {
    pending: Mutex<HashMap<SeriesKey, u64>>,
}

impl CounterTally {
    /// Adds one to `key`'s counter.
    pub fn add(&self, key: SeriesKey) {
        *self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    /// Writes what accumulated, with the store writes `writes` counted; on
    /// failure keeps both for the next flush (`what` names the counters in
    /// the warning).
    pub async fn flush(&self, store: &dyn Store, writes: &WriteTally, what: &str) {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let written = writes.take();
        let mut counters: Vec<(SeriesKey, u64)> =
            taken.iter().map(|(key, n)| (key.clone(), *n)).collect();
        counters.extend(written.counters(WriteSource::WorkerBackfill));
        if counters.is_empty() {
            return;
        }
        if let Err(e) = store
            .add_counters(WriteCtx::worker(), &counters, Utc::now())
            .await
        {
            tracing::warn!(error = %e, "cannot count {what}; retrying next flush");
            writes.put_back(written);
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            for (key, n) in taken {
                *pending.entry(key).or_default() += n;
            }
        }
    }
}
