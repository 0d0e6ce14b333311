//! The process-local queue: jobs in memory, retries after the configured
//! delays, a dead-letter list. Not durable: jobs die with the process, and
//! whoever uses it must say so (the all-in-one binary does).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use ghstats_proto::BackfillJob;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::{BackfillConsumer, BackfillProducer, BackfillRequest, QueueError, RetryOutcome};

#[derive(Debug, Default)]
struct Inner {
    ready: VecDeque<BackfillJob>,
    /// Jobs waiting out a retry delay, with the time they are due.
    delayed: Vec<(Instant, BackfillJob)>,
    dead: Vec<(BackfillJob, String)>,
    closed: bool,
}

/// A queue in memory; cheap to clone (clones share the queue).
#[derive(Debug, Clone)]
pub struct MemoryQueue {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
    delays: Arc<Vec<Duration>>,
    max_attempts: u32,
    next_id: Arc<AtomicU64>,
}

impl MemoryQueue {
    pub fn new(delays: Vec<Duration>, max_attempts: u32) -> Self {
        Self {
            inner: Arc::default(),
            notify: Arc::new(Notify::new()),
            delays: Arc::new(delays),
            max_attempts,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, job: BackfillJob) {
        self.lock().ready.push_back(job);
        self.notify.notify_one();
    }

    /// Jobs ready to be taken (not those waiting out a delay).
    pub fn depth(&self) -> usize {
        self.lock().ready.len()
    }

    /// Jobs waiting out a retry delay.
    pub fn delayed(&self) -> usize {
        self.lock().delayed.len()
    }

    /// Dead-lettered jobs and their last error.
    pub fn dead_letters(&self) -> Vec<(BackfillJob, String)> {
        self.lock().dead.clone()
    }

    /// Wakes every waiting consumer with `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
    }
}

#[async_trait]
impl BackfillProducer for MemoryQueue {
    async fn request(&self, request: BackfillRequest) -> Result<(), QueueError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.push(request.into_job(format!("mem-{id}"), self.max_attempts, Utc::now()));
        Ok(())
    }
}

#[async_trait]
impl BackfillConsumer for MemoryQueue {
    async fn next(&self) -> Option<BackfillJob> {
        loop {
            let notified = self.notify.notified();
            let next_due = {
                let mut inner = self.lock();
                let now = Instant::now();
                let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.delayed)
                    .into_iter()
                    .partition(|(at, _)| *at <= now);
                inner.delayed = waiting;
                inner.ready.extend(due.into_iter().map(|(_, job)| job));
                if let Some(job) = inner.ready.pop_front() {
                    return Some(job);
                }
                if inner.closed {
                    return None;
                }
                inner.delayed.iter().map(|(at, _)| *at).min()
            };
            match next_due {
                Some(at) => tokio::select! {
                    () = notified => {}
                    () = tokio::time::sleep_until(at) => {}
                },
                None => notified.await,
            }
        }
    }

    async fn ack(&self, _job: &BackfillJob) -> Result<(), QueueError> {
        Ok(())
    }

    async fn dead_letter(&self, job: BackfillJob, error: &str) -> Result<(), QueueError> {
        self.lock().dead.push((job, error.to_owned()));
        Ok(())
    }

    async fn retry(&self, mut job: BackfillJob, error: &str) -> Result<RetryOutcome, QueueError> {
        if job.attempt >= job.max_attempts {
            self.dead_letter(job, error).await?;
            return Ok(RetryOutcome::DeadLettered);
        }
        let delay = self
            .delays
            .get(job.attempt as usize - 1)
            .or(self.delays.last())
            .copied()
            .unwrap_or_default();
        job.attempt += 1;
        let attempt = job.attempt;
        // Like a delay queue's TTL: the job waits, then is ready again.
        self.lock().delayed.push((Instant::now() + delay, job));
        self.notify.notify_one();
        Ok(RetryOutcome::Requeued { attempt })
    }
}

/// Keeps requests in memory without anyone consuming them (tests that only
/// look at what was asked).
#[derive(Debug, Default)]
pub struct MemoryProducer {
    requests: Mutex<Vec<BackfillRequest>>,
}

impl MemoryProducer {
    /// Every request so far.
    pub fn requests(&self) -> Vec<BackfillRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes the requests so far.
    pub fn drain(&self) -> Vec<BackfillRequest> {
        std::mem::take(&mut *self.requests.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl BackfillProducer for MemoryProducer {
    async fn request(&self, request: BackfillRequest) -> Result<(), QueueError> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(request);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ghstats_proto::{BackfillReason, TimeWindow};

    fn request() -> BackfillRequest {
        let now = Utc::now();
        BackfillRequest {
            org: "o".into(),
            repo: "r".into(),
            window: TimeWindow::ordered(now - chrono::Duration::hours(1), now),
            reason: BackfillReason::ScrapeError,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failing_jobs_walk_the_delays_then_dead_letter() {
        let q = MemoryQueue::new(vec![Duration::from_secs(60), Duration::from_secs(300)], 3);
        q.request(request()).await.unwrap();
        let job = q.next().await.unwrap();
        assert_eq!(job.attempt, 1);
        assert_eq!(
            q.retry(job, "boom").await.unwrap(),
            RetryOutcome::Requeued { attempt: 2 }
        );
        assert_eq!((q.depth(), q.delayed()), (0, 1), "not before its delay");
        tokio::time::sleep(Duration::from_secs(61)).await;
        let job = q.next().await.unwrap();
        assert_eq!(job.attempt, 2);
        assert_eq!(
            q.retry(job, "boom").await.unwrap(),
            RetryOutcome::Requeued { attempt: 3 }
        );
        tokio::time::sleep(Duration::from_secs(301)).await;
        let job = q.next().await.unwrap();
        assert_eq!(
            q.retry(job, "still broken").await.unwrap(),
            RetryOutcome::DeadLettered
        );
        let dead = q.dead_letters();
        assert_eq!((dead[0].0.attempt, dead[0].1.as_str()), (3, "still broken"));
        q.close();
        assert!(q.next().await.is_none());
    }
}
