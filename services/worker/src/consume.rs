//! The consumer loops: `backfill.consumer_count` named tasks that take
//! deliveries, process their jobs, and acknowledge, retry, defer or
//! dead-letter each. On shutdown a loop stops taking work; a job in flight
//! finishes within the grace period or stays unacknowledged, and the
//! broker delivers it again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use ghstats_core::{Cadence, Resumed, Shutdown};
use ghstats_queue::{Delivery, JobQueue, RetryOutcome};
use ghstats_store::{Family, SeriesKey};

use crate::gate::Gate;
use crate::job::{JobContext, Verdict};
use crate::tally::CounterTally;

/// Counts of what the consumers did.
#[derive(Debug, Default)]
pub struct Counts {
    pub processed: AtomicU64,
    pub failed: AtomicU64,
    pub expired: AtomicU64,
    pub deferred: AtomicU64,
    pub dead_lettered: AtomicU64,
}

impl Counts {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// How often the per-(org, result) job counters are written to the store.
pub const COUNTER_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The `result` label of a verdict.
fn result_label(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Done { .. } => "processed",
        Verdict::Duplicate => "duplicate",
        Verdict::Expired => "expired",
        Verdict::Defer(_) => "deferred",
        Verdict::Retry(_) => "failed",
        Verdict::Dead(_) => "dead_lettered",
    }
}

pub fn spawn(
    count: u32,
    jobs: Arc<JobContext>,
    queue: Arc<dyn JobQueue>,
    counts: Arc<Counts>,
    shutdown: &Shutdown,
) {
    spawn_gated(count, jobs, queue, counts, Arc::default(), shutdown);
}

/// [`spawn`] with the drain gate the control service flips: while it is
/// closed the loops take no job.
pub fn spawn_gated(
    count: u32,
    jobs: Arc<JobContext>,
    queue: Arc<dyn JobQueue>,
    counts: Arc<Counts>,
    gate: Arc<Gate>,
    shutdown: &Shutdown,
) {
    let loops = tokio_util::task::TaskTracker::new();
    let tally = Arc::new(CounterTally::default());
    for _ in 0..count.max(1) {
        let (jobs, queue, counts, tally, gate, stop) = (
            jobs.clone(),
            queue.clone(),
            counts.clone(),
            tally.clone(),
            gate.clone(),
            shutdown.clone(),
        );
        shutdown.spawn(
            "backfill_consumer",
            loops.track_future(async move {
                loop {
                    let delivery = tokio::select! {
                        d = gate.next(&*queue) => d,
                        () = stop.triggered() => return Ok::<(), String>(()),
                    };
                    let Some(delivery) = delivery else {
                        return Ok(());
                    };
                    let _busy = gate.enter();
                    handle(&jobs, &*queue, &counts, &tally, delivery).await;
                }
            }),
        );
    }
    // Counters go out every second; once every loop finished its job the
    // last ones are written and the queue may close its connection.
    let stop = shutdown.clone();
    shutdown.spawn("backfill_counters", async move {
        let mut cadence = Cadence::starting_now(COUNTER_FLUSH_INTERVAL);
        while cadence.next(&stop, None).await != Resumed::ShutDown {
            tally
                .flush(&*jobs.store, &jobs.writes, "backfill jobs")
                .await;
        }
        loops.close();
        loops.wait().await;
        tally
            .flush(&*jobs.store, &jobs.writes, "backfill jobs")
            .await;
        queue.close();
        Ok::<(), String>(())
    });
}

/// Processes one delivery and settles it.
pub async fn handle(
    jobs: &JobContext,
    queue: &dyn JobQueue,
    counts: &Counts,
    tally: &CounterTally,
    delivery: Delivery,
) {
    let verdict = jobs.process(&delivery.job, Utc::now()).await;
    let job = &delivery.job;
    tally.add(SeriesKey::new(
        Family::BackfillJobsProcessed,
        [job.org.as_str(), result_label(&verdict)],
    ));
    tracing::info!(job_id = %job.job_id, org = %job.org, repo = %job.repo, attempt = job.attempt, redelivered = delivery.redelivered, verdict = ?verdict, "backfill job");
    let settled = match verdict {
        Verdict::Done { .. } | Verdict::Duplicate => {
            Counts::bump(&counts.processed);
            queue.ack(delivery).await
        }
        Verdict::Expired => {
            Counts::bump(&counts.expired);
            queue.ack(delivery).await
        }
        Verdict::Defer(_) => {
            Counts::bump(&counts.deferred);
            queue.defer(delivery).await
        }
        Verdict::Retry(error) => {
            Counts::bump(&counts.failed);
            queue.retry(delivery, &error).await.map(|o| {
                if o == RetryOutcome::DeadLettered {
                    Counts::bump(&counts.dead_lettered);
                }
            })
        }
        Verdict::Dead(error) => {
            Counts::bump(&counts.dead_lettered);
            queue.dead_letter(delivery, &error).await
        }
    };
    if let Err(e) = settled {
        tracing::error!(error = %e, "queue refused an outcome; the broker delivers the job again");
    }
}
