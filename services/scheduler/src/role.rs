//! Which role this replica takes. The static backend reads
//! `GITHUB_STATS_INITIAL_ROLE`; the Redis and Kubernetes lease backends
//! elect a leader among the replicas; a backend that cannot start (Redis
//! down, no in-cluster config) leaves the replica a follower and says why,
//! retrying (never "everyone leads").

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ghstats_config::{BackendFailure, Config, ElectionBackend};
use ghstats_core::health::{ComponentStatus, HealthRegistry, Readiness};
use ghstats_core::{Shutdown, Tenure};
use ghstats_election::{
    ElectionMetrics, INITIAL_ROLE_ENV, LeaseSource, RoleHooks, Timings, lease_identity,
    run_election_with, static_role,
};
use ghstats_proto::Role;
use ghstats_runtime::ServeError;

use crate::control::Leadership;
use crate::leader::LeaderWork;

pub const COMPONENT: &str = "leader_election";

/// How the replica's role is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    Static(Role),
    /// Follower until the Redis lease says otherwise.
    RedisLease,
    /// Follower until the Kubernetes Lease says otherwise.
    KubeLease,
}

pub fn settle(config: &Config, health: &HealthRegistry) -> Result<Startup, ServeError> {
    health.register(COMPONENT, Readiness::Informational);
    let election = &config.leader_election;
    match election.effective_backend() {
        ElectionBackend::Static => {
            let env = std::env::var(INITIAL_ROLE_ENV).ok();
            let role =
                static_role(env.as_deref()).map_err(|e| ServeError::task("role selection", e))?;
            tracing::info!(role = %role, "static role");
            health.set_role(role.as_str());
            health.set_healthy(COMPONENT);
            Ok(Startup::Static(role))
        }
        ElectionBackend::Redis => {
            health.set_role(Role::Follower.as_str());
            health.set(
                COMPONENT,
                ComponentStatus::Starting,
                "connecting to the Redis lease",
            );
            Ok(Startup::RedisLease)
        }
        ElectionBackend::Kubernetes => {
            health.set_role(Role::Follower.as_str());
            health.set(
                COMPONENT,
                ComponentStatus::Starting,
                "connecting to the Kubernetes API",
            );
            Ok(Startup::KubeLease)
        }
    }
}

/// This replica's lease identity.
pub fn identity(config: &Config) -> String {
    lease_identity(config, crate::SERVICE)
}

struct Hooks {
    work: LeaderWork,
    health: HealthRegistry,
    leadership: Arc<Leadership>,
}

#[async_trait]
impl RoleHooks for Hooks {
    async fn elected(&self, term: u64, scope: Shutdown) {
        // The Kubernetes term lives in the Lease: the store learns it here
        // (the Redis lease raises it itself), so older terms are fenced.
        match self.work.store.raise_term(term).await {
            Ok(current) if current > term => {
                tracing::error!(
                    term,
                    current,
                    "the store's term is ahead of the lease's: this leader's writes will be refused"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(term, error = %e, "cannot raise the store's term"),
        }
        self.leadership.set(true, term);
        self.health.set_role(Role::Leader.as_str());
        self.work.start(term, &self.health, &scope);
    }

    async fn demoted(&self) {
        self.leadership.set(false, 0);
        self.health.set_role(Role::Follower.as_str());
    }
}

/// What an elected replica starts and reports through.
#[derive(Debug)]
pub struct Candidate {
    pub work: LeaderWork,
    pub health: HealthRegistry,
    pub leadership: Arc<Leadership>,
    pub metrics: ElectionMetrics,
    /// Bounds the leader's GitHub calls to its lease.
    pub tenure: Tenure,
}

/// Runs the election (a tracked task): connects to the lease (retrying,
/// and saying why while it cannot, as a follower), then drives it until
/// shutdown. With `on_backend_failure: exit` a failed connection ends the
/// process instead.
pub fn spawn_election(
    config: &Config,
    source: LeaseSource,
    candidate: Candidate,
    shutdown: &Shutdown,
) {
    let Candidate {
        work,
        health,
        leadership,
        metrics,
        tenure,
    } = candidate;
    let e = &config.leader_election;
    let timings = Timings {
        retry_period: e.retry_period.get(),
        renew_deadline: e.renew_deadline.get(),
    };
    let exit_on_failure = e.on_backend_failure == BackendFailure::Exit;
    let config = config.clone();
    let stop = shutdown.clone();
    shutdown.spawn("leader_election", async move {
        let lease = loop {
            match source.connect(&config, &identity(&config)).await {
                Ok(lease) => break lease,
                Err(err) => {
                    let reason = format!("cannot reach {}: {err}; staying follower", source.describe());
                    if exit_on_failure {
                        return Err(reason);
                    }
                    tracing::warn!(reason = %reason, "leader election unavailable");
                    health.set(COMPONENT, ComponentStatus::Unhealthy, reason);
                    if !stop.sleep(timings.retry_period.max(Duration::from_secs(1))).await {
                        return Ok::<(), String>(());
                    }
                }
            }
        };
        health.set_healthy(COMPONENT);
        tracing::info!(identity = %identity(&config), lease = %config.leader_election.lease_name, via = source.describe(), "electing");
        leadership.set_lease(lease.clone());
        let hooks = Hooks { work, health, leadership };
        run_election_with(&*lease, timings, &hooks, &metrics, &tenure, stop).await;
        Ok(())
    });
}
