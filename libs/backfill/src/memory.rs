//! The producer that only remembers: requests kept in memory, consumed by
//! no one.

use std::sync::Mutex;

use async_trait::async_trait;
use ghstats_store::WriteCtx;

use crate::{BackfillError, BackfillProducer, BackfillRequest};

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
    async fn request(&self, _ctx: WriteCtx, request: BackfillRequest) -> Result<(), BackfillError> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(request);
        Ok(())
    }
}
