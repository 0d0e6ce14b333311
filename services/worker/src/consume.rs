//! The consumer loops: `backfill.consumer_count` named tasks that take
//! jobs, process them, and acknowledge, retry or dead-letter each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use ghstats_queue::{BackfillConsumer, RetryOutcome};
use ghstats_runtime::Shutdown;
use ghstats_store::{Family, SeriesKey, WriteCtx};

use crate::job::{JobContext, Verdict};

/// Counts of what the consumers did.
#[derive(Debug, Default)]
pub struct Counts {
    pub processed: AtomicU64,
    pub failed: AtomicU64,
    pub expired: AtomicU64,
    pub dead_lettered: AtomicU64,
}

pub fn spawn(
    count: u32,
    jobs: Arc<JobContext>,
    queue: Arc<dyn BackfillConsumer>,
    counts: Arc<Counts>,
    shutdown: &Shutdown,
) {
    for _ in 0..count.max(1) {
        let (jobs, queue, counts, stop) = (
            jobs.clone(),
            queue.clone(),
            counts.clone(),
            shutdown.clone(),
        );
        shutdown.spawn("backfill_consumer", async move {
            loop {
                let job = tokio::select! {
                    j = queue.next() => j,
                    () = stop.triggered() => return Ok::<(), String>(()),
                };
                let Some(job) = job else { return Ok(()) };
                let now = Utc::now();
                let verdict = jobs.process(&job, now).await;
                let result = match &verdict {
                    Verdict::Done { .. } => "processed",
                    Verdict::Duplicate => "duplicate",
                    Verdict::Expired => "expired",
                    Verdict::Retry(_) => "failed",
                    Verdict::Dead(_) => "dead_lettered",
                };
                let counter = SeriesKey::new(Family::BackfillJobsProcessed, [job.org.as_str(), result]);
                if let Err(e) = jobs.store.add_counters(WriteCtx::worker(), &[(counter, 1)], now).await {
                    tracing::warn!(error = %e, "cannot count a backfill job");
                }
                tracing::info!(job_id = %job.job_id, org = %job.org, repo = %job.repo, attempt = job.attempt, verdict = ?verdict, "backfill job");
                let done = match verdict {
                    Verdict::Done { .. } | Verdict::Duplicate => {
                        counts.processed.fetch_add(1, Ordering::Relaxed);
                        queue.ack(&job).await
                    }
                    Verdict::Expired => {
                        counts.expired.fetch_add(1, Ordering::Relaxed);
                        queue.ack(&job).await
                    }
                    Verdict::Retry(error) => {
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                        queue.retry(job, &error).await.map(|o| {
                            if o == RetryOutcome::DeadLettered {
                                counts.dead_lettered.fetch_add(1, Ordering::Relaxed);
                            }
                        })
                    }
                    Verdict::Dead(error) => {
                        counts.dead_lettered.fetch_add(1, Ordering::Relaxed);
                        queue.dead_letter(job, &error).await
                    }
                };
                if let Err(e) = done {
                    tracing::error!(error = %e, "queue refused an outcome");
                }
            }
        });
    }
}
