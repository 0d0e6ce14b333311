//! Leader election: which scheduler replica scrapes. A [`LeaseBackend`]
//! tries to take or keep the lease; [`run_election`] drives it every
//! `retry_period`, calls the role hooks, and steps down at once when the
//! lease is lost or could not be renewed within `renew_deadline` (before
//! another replica can have taken it). Lease errors are retried, never
//! fatal. Backends: static (this module), Redis (the store crate, which
//! owns every key), Kubernetes.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::Shutdown;

/// What one acquire-or-renew attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// This replica holds the lease, under this fencing term.
    Held { term: u64 },
    /// Another replica holds it.
    Other,
}

#[async_trait]
pub trait LeaseBackend: Send + Sync + std::fmt::Debug {
    /// Takes the lease if free, renews it if ours.
    async fn acquire_or_renew(&self) -> Result<LeaseState, String>;
    /// Gives the lease up (on shutdown), if ours.
    async fn release(&self) -> Result<(), String>;
    /// Who holds the lease, if anyone (for status).
    async fn holder(&self) -> Result<Option<String>, String>;
}

/// Timings from `leader_election.*`.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub retry_period: Duration,
    pub renew_deadline: Duration,
}

/// Called when this replica gains or loses the lease.
#[async_trait]
pub trait RoleHooks: Send + Sync {
    /// Start the leader's work; it must stop when `scope` is triggered.
    async fn elected(&self, term: u64, scope: Shutdown);
    /// Leadership ended (the scope was already triggered).
    async fn demoted(&self);
}

/// Runs the election until `shutdown`, then releases the lease.
pub async fn run_election(
    backend: &dyn LeaseBackend,
    timings: Timings,
    hooks: &dyn RoleHooks,
    shutdown: Shutdown,
) {
    let mut leading: Option<(u64, Shutdown)> = None;
    let mut last_renewed = Instant::now();
    loop {
        // A hung call counts as a failed attempt, so the deadline holds.
        let attempt = tokio::time::timeout(timings.retry_period, backend.acquire_or_renew())
            .await
            .unwrap_or_else(|_| Err("lease call timed out".into()));
        match attempt {
            Ok(LeaseState::Held { term }) => {
                last_renewed = Instant::now();
                let new_term = leading.as_ref().is_none_or(|(t, _)| *t != term);
                if new_term {
                    if let Some((_, scope)) = leading.take() {
                        scope.trigger();
                        hooks.demoted().await;
                    }
                    tracing::info!(term, "leadership acquired");
                    let scope = shutdown.child();
                    hooks.elected(term, scope.clone()).await;
                    leading = Some((term, scope));
                }
            }
            Ok(LeaseState::Other) => {
                step_down(&mut leading, hooks, "another replica holds the lease").await
            }
            Err(e) => {
                tracing::warn!(error = %e, "lease attempt failed");
                if leading.is_some() && last_renewed.elapsed() >= timings.renew_deadline {
                    step_down(
                        &mut leading,
                        hooks,
                        "lease not renewed within the renew deadline",
                    )
                    .await;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(timings.retry_period) => {}
            () = shutdown.triggered() => break,
        }
    }
    if leading.is_some() {
        step_down(&mut leading, hooks, "shutting down").await;
        if let Err(e) = backend.release().await {
            tracing::warn!(error = %e, "could not release the lease");
        }
    }
}

async fn step_down(leading: &mut Option<(u64, Shutdown)>, hooks: &dyn RoleHooks, why: &str) {
    if let Some((term, scope)) = leading.take() {
        tracing::warn!(term, reason = why, "leadership lost");
        scope.trigger();
        hooks.demoted().await;
    }
}
