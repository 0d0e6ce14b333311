//! Leader election: which scheduler replica scrapes. A [`LeaseBackend`]
//! tries to take or keep the lease; [`run_election`] drives it every
//! `retry_period`, calls the role hooks, and steps down at once when the
//! lease is lost or could not be renewed within `renew_deadline` (before
//! another replica can have taken it). Lease errors are retried, never
//! fatal. Backends: static (this module), Redis (the store crate, which
//! owns every key), Kubernetes.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

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

/// The election's own metrics, served with the process metrics:
/// `gh_exporter_leader_election_is_leader`, `..._term`,
/// `..._transitions_total`, `..._renew_failures_total`.
#[derive(Debug, Clone, Default)]
pub struct ElectionMetrics {
    pub is_leader: Gauge,
    pub term: Gauge,
    pub transitions: Counter,
    pub renew_failures: Counter,
}

impl ElectionMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "gh_exporter_leader_election_is_leader",
            "1 while this replica holds the lease",
            self.is_leader.clone(),
        );
        registry.register(
            "gh_exporter_leader_election_term",
            "Lease term (fencing token) this replica leads under, 0 when following",
            self.term.clone(),
        );
        registry.register(
            "gh_exporter_leader_election_transitions",
            "Times this replica gained or lost leadership",
            self.transitions.clone(),
        );
        registry.register(
            "gh_exporter_leader_election_renew_failures",
            "Lease attempts that failed (errors or timeouts)",
            self.renew_failures.clone(),
        );
    }

    fn leading(&self, term: Option<u64>) {
        self.is_leader.set(i64::from(term.is_some()));
        self.term
            .set(term.map_or(0, |t| i64::try_from(t).unwrap_or(i64::MAX)));
        self.transitions.inc();
    }
}

/// Runs the election until `shutdown`, then releases the lease.
pub async fn run_election(
    backend: &dyn LeaseBackend,
    timings: Timings,
    hooks: &dyn RoleHooks,
    shutdown: Shutdown,
) {
    run_election_with(
        backend,
        timings,
        hooks,
        &ElectionMetrics::default(),
        shutdown,
    )
    .await;
}

/// [`run_election`], keeping `metrics` up to date.
pub async fn run_election_with(
    backend: &dyn LeaseBackend,
    timings: Timings,
    hooks: &dyn RoleHooks,
    metrics: &ElectionMetrics,
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
                    metrics.leading(Some(term));
                    let scope = shutdown.child();
                    hooks.elected(term, scope.clone()).await;
                    leading = Some((term, scope));
                }
            }
            Ok(LeaseState::Other) => {
                step_down(
                    &mut leading,
                    hooks,
                    metrics,
                    "another replica holds the lease",
                )
                .await
            }
            Err(e) => {
                tracing::warn!(error = %e, "lease attempt failed");
                metrics.renew_failures.inc();
                if leading.is_some() && last_renewed.elapsed() >= timings.renew_deadline {
                    step_down(
                        &mut leading,
                        hooks,
                        metrics,
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
        step_down(&mut leading, hooks, metrics, "shutting down").await;
        if let Err(e) = backend.release().await {
            tracing::warn!(error = %e, "could not release the lease");
        }
    }
}

async fn step_down(
    leading: &mut Option<(u64, Shutdown)>,
    hooks: &dyn RoleHooks,
    metrics: &ElectionMetrics,
    why: &str,
) {
    if let Some((term, scope)) = leading.take() {
        tracing::warn!(term, reason = why, "leadership lost");
        metrics.leading(None);
        scope.trigger();
        hooks.demoted().await;
    }
}
