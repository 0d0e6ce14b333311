//! The store as a health component of the services that write to it: a
//! ping every [`STORE_PING_INTERVAL`] (within [`STORE_PING_TIMEOUT`]), so a
//! scheduler or worker that cannot reach Redis says so, with the reason,
//! within seconds instead of only when a write fails.

use std::sync::Arc;
use std::time::Duration;

use ghstats_core::{ComponentStatus, HealthRegistry, Readiness, Shutdown};

use crate::Store;

/// The health component's name.
pub const STORE_COMPONENT: &str = "store";
pub const STORE_PING_INTERVAL: Duration = Duration::from_secs(2);
pub const STORE_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Registers the store as required for readiness (the spec's role rules:
/// leader and follower alike need it) and keeps it up to date until the
/// shutdown (task `store_health`).
pub fn watch_store_health(store: Arc<dyn Store>, health: &HealthRegistry, shutdown: &Shutdown) {
    health.register(STORE_COMPONENT, Readiness::Required);
    let health = health.clone();
    shutdown.spawn_every("store_health", STORE_PING_INTERVAL, move || {
        let (store, health) = (store.clone(), health.clone());
        async move {
            let reason = match tokio::time::timeout(STORE_PING_TIMEOUT, store.ping()).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("store unreachable: {e}")),
                Err(_) => Some(format!(
                    "store unreachable: no answer within {}s",
                    STORE_PING_TIMEOUT.as_secs()
                )),
            };
            match reason {
                None => health.set_healthy(STORE_COMPONENT),
                Some(reason) => {
                    health.set(STORE_COMPONENT, ComponentStatus::Unhealthy, reason);
                }
            }
        }
    });
}
