//! The backfill contract: a [`BackfillRequest`] is a window to scrape
//! again, and a [`BackfillProducer`] is where scrapes that miss a window
//! hand it. The scheduler's enqueuer implements it over the queue
//! transport (`ghstats-queue`); [`MemoryProducer`] keeps requests for
//! tests and tools that only look at what was asked. Scrapes depend on
//! this crate alone, never on the transport.

mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ghstats_proto::{BackfillJob, BackfillReason, TimeWindow};
use ghstats_store::WriteCtx;

pub use memory::MemoryProducer;

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

/// Why a backfill request was not taken.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BackfillError {
    /// The pending list is full (a long broker outage): the window is dropped.
    #[error("{cap} windows are already pending")]
    PendingFull { cap: usize },
    /// The window is pending but was not published now (the org's cap, or
    /// the queue unreachable); a later sweep publishes it.
    #[error("the window is pending: the queue did not take it now (capped or unreachable)")]
    NotTaken,
    /// `backfill.enabled` is false: nothing is enqueued.
    #[error("backfill is disabled (backfill.enabled: false)")]
    Disabled,
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// The jobs published (and confirmed).
    pub published: Vec<BackfillJob>,
    pub enqueued: usize,
    pub deduped: usize,
    /// Held back by the per-org cap, still pending.
    pub capped: usize,
    /// Still pending after the sweep (capped or not reached).
    pub pending: usize,
}

/// Where missed windows go.
#[async_trait]
pub trait BackfillProducer: Send + Sync + std::fmt::Debug {
    /// Asks for `request`; `ctx` is the writer the outcome counters are
    /// written as.
    async fn request(&self, ctx: WriteCtx, request: BackfillRequest) -> Result<(), BackfillError>;

    /// Asks for `request` and publishes what is pending now, returning what
    /// that did (operator requests answer with it).
    async fn request_now(
        &self,
        ctx: WriteCtx,
        request: BackfillRequest,
    ) -> Result<SweepReport, BackfillError> {
        self.request(ctx, request).await?;
        Ok(SweepReport::default())
    }
}
