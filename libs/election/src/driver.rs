//! The election driver: [`run_election`] asks the [`LeaseBackend`] every
//! `retry_period`, calls the role hooks, and steps down at once when the
//! lease is lost or could not be renewed within `renew_deadline` (before
//! another replica can have taken it). Lease errors are retried, never
//! fatal.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use ghstats_core::{Shutdown, Tenure};

use crate::LeaseError;

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
    async fn acquire_or_renew(&self) -> Result<LeaseState, LeaseError>;
    /// Gives the lease up (on shutdown), if ours.
    async fn release(&self) -> Result<(), LeaseError>;
    /// Who holds the lease, if anyone (for status).
    async fn holder(&self) -> Result<Option<String>, LeaseError>;
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
        &Tenure::elected(),
        shutdown,
    )
    .await;
}

/// [`run_election`], keeping `metrics` and `tenure` up to date.
pub async fn run_election_with(
    backend: &dyn LeaseBackend,
    timings: Timings,
    hooks: &dyn RoleHooks,
    metrics: &ElectionMetrics,
    tenure: &Tenure,
    shutdown: Shutdown,
) {
    let mut leading: Option<(u64, Shutdown)> = None;
    let mut last_renewed = Instant::now();
    loop {
        // A hung call counts as a failed attempt, so the deadline holds.
        let started = Instant::now();
        let attempt = tokio::time::timeout(timings.retry_period, backend.acquire_or_renew())
            .await
            .unwrap_or(Err(LeaseError::Timeout));
        match attempt {
            Ok(LeaseState::Held { term }) => {
                last_renewed = started;
                tenure.until(started + timings.renew_deadline);
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
                    tenure,
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
                        tenure,
                        "lease not renewed within the renew deadline",
                    )
                    .await;
                }
            }
        }
        if !shutdown.sleep(timings.retry_period).await {
            break;
        }
    }
    if leading.is_some() {
        step_down(&mut leading, hooks, metrics, tenure, "shutting down").await;
        if let Err(e) = backend.release().await {
            tracing::warn!(error = %e, "could not release the lease");
        }
    }
}

async fn step_down(
    leading: &mut Option<(u64, Shutdown)>,
    hooks: &dyn RoleHooks,
    metrics: &ElectionMetrics,
    tenure: &Tenure,
    why: &str,
) {
    tenure.end();
    if let Some((term, scope)) = leading.take() {
        tracing::warn!(term, reason = why, "leadership lost");
        metrics.leading(None);
        scope.trigger();
        hooks.demoted().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Grants the lease once, then fails every attempt.
    #[derive(Debug, Default)]
    struct OnceThenDown(AtomicU32);

    #[async_trait]
    impl LeaseBackend for OnceThenDown {
        async fn acquire_or_renew(&self) -> Result<LeaseState, LeaseError> {
            match self.0.fetch_add(1, Ordering::Relaxed) {
                0 => Ok(LeaseState::Held { term: 4 }),
                _ => Err(LeaseError::Timeout),
            }
        }
        async fn release(&self) -> Result<(), LeaseError> {
            Ok(())
        }
        async fn holder(&self) -> Result<Option<String>, LeaseError> {
            Ok(None)
        }
    }

    struct Quiet;

    #[async_trait]
    impl RoleHooks for Quiet {
        async fn elected(&self, _term: u64, _scope: Shutdown) {}
        async fn demoted(&self) {}
    }

    #[tokio::test]
    async fn tenure_runs_out_at_the_renew_deadline() {
        let tenure = Tenure::elected();
        assert!(!tenure.valid(), "no tenure before an election");
        assert!(Tenure::default().valid(), "unbounded outside elections");
        let timings = Timings {
            retry_period: Duration::from_millis(20),
            renew_deadline: Duration::from_millis(1500),
        };
        let metrics = ElectionMetrics::default();
        let shutdown = Shutdown::new();
        let (t, m, s) = (tenure.clone(), metrics.clone(), shutdown.clone());
        let task = tokio::spawn(async move {
            run_election_with(&OnceThenDown::default(), timings, &Quiet, &m, &t, s).await;
        });
        let mut held = false;
        for _ in 0..100 {
            if metrics.term.get() == 4 {
                held = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(held, "the lease was granted");
        assert!(tenure.valid(), "within the renew deadline");
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert!(!tenure.valid(), "past the renew deadline without a renewal");
        assert!(metrics.renew_failures.get() > 0);
        shutdown.trigger();
        task.await.unwrap();
    }
}
