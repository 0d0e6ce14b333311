//! The backfill queue of ghstats. Scrapes that miss a window ask for a
//! backfill through [`BackfillProducer`]; workers re-run the window.
//!
//! This crate holds the producer contract and the process-local
//! [`MemoryProducer`]; the RabbitMQ topology, consumer, dedup and
//! coalescing are to come (see the backfill issue).

use std::sync::Mutex;

use async_trait::async_trait;
use ghstats_proto::{BackfillReason, TimeWindow};

/// A window to scrape again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillRequest {
    pub org: String,
    /// A repository, or `*` for the whole org.
    pub repo: String,
    pub window: TimeWindow,
    pub reason: BackfillReason,
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

/// Keeps requests in memory (the all-in-one binary and tests). Not
/// durable: they die with the process.
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
