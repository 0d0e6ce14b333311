//! The backfill queue of ghstats. Scrapes that miss a window ask for a
//! backfill through [`BackfillProducer`]; workers take jobs through
//! [`BackfillConsumer`], and acknowledge, retry (after the next delay of
//! `backfill.requeue_delays`) or dead-letter each.
//!
//! This crate holds the contracts and the process-local [`MemoryQueue`]
//! (the all-in-one binary); the RabbitMQ implementation, dedup and
//! coalescing are still to come.

mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ghstats_proto::{BackfillJob, BackfillReason, TimeWindow};

pub use memory::{MemoryProducer, MemoryQueue};

/// A window to scrape again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillRequest {
    pub org: String,
    /// A repository, or `*` for the whole org.
    pub repo: String,
    pub window: TimeWindow,
    pub reason: BackfillReason,
}

impl BackfillRequest {
    /// `org:repo:start:end`, the key duplicates share.
    pub fn dedup_key(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.org,
            self.repo,
            self.window.start().to_rfc3339(),
            self.window.end().to_rfc3339()
        )
    }

    /// The first delivery of this request as a job.
    pub fn into_job(self, job_id: String, max_attempts: u32, now: DateTime<Utc>) -> BackfillJob {
        BackfillJob {
            dedup_key: self.dedup_key(),
            job_id,
            org: self.org,
            repo: self.repo,
            window: self.window,
            reason: self.reason,
            attempt: 1,
            max_attempts: max_attempts.max(1),
            created_at: now,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum QueueError {
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
}

/// Where missed windows go.
#[async_trait]
pub trait BackfillProducer: Send + Sync + std::fmt::Debug {
    async fn request(&self, request: BackfillRequest) -> Result<(), QueueError>;
}

/// Where workers take jobs from.
#[async_trait]
pub trait BackfillConsumer: Send + Sync + std::fmt::Debug {
    /// The next job, waiting for one; `None` once the queue is closed.
    async fn next(&self) -> Option<BackfillJob>;
    /// The job is done.
    async fn ack(&self, job: &BackfillJob) -> Result<(), QueueError>;
    /// The job failed: deliver it again (attempt + 1) after the delay of
    /// its attempt, or dead-letter it after its last attempt.
    async fn retry(&self, job: BackfillJob, error: &str) -> Result<RetryOutcome, QueueError>;
    /// The job can never succeed (unknown org, malformed): dead-letter it now.
    async fn dead_letter(&self, job: BackfillJob, error: &str) -> Result<(), QueueError>;
}

/// What became of a failed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    Requeued { attempt: u32 },
    DeadLettered,
}
