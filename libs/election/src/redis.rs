//! The leader lease on Redis (compose and bare metal), through the store's
//! three lease calls; the term it returns is the store's fencing term.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ghstats_store::RedisStore;

use crate::{LeaseBackend, LeaseError, LeaseState};

#[derive(Debug)]
pub struct RedisLease {
    store: Arc<RedisStore>,
    name: String,
    identity: String,
    duration: Duration,
}

impl RedisLease {
    pub fn new(store: Arc<RedisStore>, name: &str, identity: &str, duration: Duration) -> Self {
        Self {
            store,
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
        }
    }
}

#[async_trait]
impl LeaseBackend for RedisLease {
    async fn acquire_or_renew(&self) -> Result<LeaseState, LeaseError> {
        let held = self
            .store
            .lease_acquire(&self.name, &self.identity, self.duration)
            .await?;
        Ok(held.map_or(LeaseState::Other, |term| LeaseState::Held { term }))
    }

    async fn release(&self) -> Result<(), LeaseError> {
        Ok(self.store.lease_release(&self.name, &self.identity).await?)
    }

    async fn holder(&self) -> Result<Option<String>, LeaseError> {
        Ok(self.store.lease_holder(&self.name).await?)
    }
}
