//! Which role this replica takes. The static backend reads
//! `GITHUB_STATS_INITIAL_ROLE`; the Redis lease backend elects a leader
//! among the replicas; a backend this build cannot run leaves the replica
//! a follower and says why (never "everyone leads").

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ghstats_config::{BackendFailure, Config, ElectionBackend};
use ghstats_proto::Role;
use ghstats_runtime::election::{ElectionMetrics, RoleHooks, Timings, run_election_with};
use ghstats_runtime::health::{ComponentStatus, HealthRegistry, Readiness};
use ghstats_runtime::role::{INITIAL_ROLE_ENV, static_role};
use ghstats_runtime::{ServeError, Shutdown};
use ghstats_store::RedisStore;
use ghstats_store::lease::RedisLease;

use crate::control::Leadership;
use crate::leader::LeaderWork;

pub const COMPONENT: &str = "leader_election";

/// How the replica's role is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    Static(Role),
    /// Follower until the Redis lease says otherwise.
    RedisLease,
}

pub fn settle(config: &Config, health: &HealthRegistry) -> Result<Startup, ServeError> {
    health.register(COMPONENT, Readiness::Informational);
    let election = &config.leader_election;
    match election.effective_backend() {
        ElectionBackend::Static => {
            let env = std::env::var(INITIAL_ROLE_ENV).ok();
            let role = static_role(env.as_deref()).map_err(|reason| ServeError::Task {
                task: "role selection",
                reason,
            })?;
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
            let reason =
                "the kubernetes election backend is not supported by this build; staying follower"
                    .to_owned();
            if election.on_backend_failure == BackendFailure::Exit {
                return Err(ServeError::Task {
                    task: "leader election",
                    reason,
                });
            }
            tracing::warn!(reason = %reason, "leader election unavailable");
            health.set_role(Role::Follower.as_str());
            health.set(COMPONENT, ComponentStatus::Unhealthy, reason);
            Ok(Startup::Static(Role::Follower))
        }
    }
}

/// This replica's lease identity: `leader_election.identity`, `$HOSTNAME`,
/// or a name with the process id.
pub fn identity(config: &Config) -> String {
    let configured = config.leader_election.identity.trim();
    if !configured.is_empty() {
        return configured.to_owned();
    }
    ghstats_runtime::role::instance_identity(crate::SERVICE)
}

struct Hooks {
    work: LeaderWork,
    health: HealthRegistry,
    leadership: Arc<Leadership>,
}

#[async_trait]
impl RoleHooks for Hooks {
    async fn elected(&self, term: u64, scope: Shutdown) {
        self.leadership.set(true, term);
        self.health.set_role(Role::Leader.as_str());
        self.work.start(term, &self.health, &scope);
    }

    async fn demoted(&self) {
        self.leadership.set(false, 0);
        self.health.set_role(Role::Follower.as_str());
    }
}

/// Runs the Redis-lease election (a tracked task): connects (retrying,
/// and saying why while it cannot), then drives the lease until shutdown.
pub fn spawn_redis_election(
    config: &Config,
    work: LeaderWork,
    health: HealthRegistry,
    leadership: Arc<Leadership>,
    metrics: ElectionMetrics,
    shutdown: &Shutdown,
) {
    let e = &config.leader_election;
    let timings = Timings {
        retry_period: e.retry_period.get(),
        renew_deadline: e.renew_deadline.get(),
    };
    let (lease_name, duration, identity) = (
        e.lease_name.clone(),
        e.lease_duration.get(),
        identity(config),
    );
    let store_config = config.store.clone();
    let stop = shutdown.clone();
    shutdown.spawn("leader_election", async move {
        let redis = loop {
            match RedisStore::from_config(&store_config).await {
                Ok(s) => break Arc::new(s),
                Err(err) => {
                    health.set(COMPONENT, ComponentStatus::Unhealthy, format!("cannot reach the Redis lease: {err}; staying follower"));
                    tokio::select! {
                        () = tokio::time::sleep(timings.retry_period.max(Duration::from_secs(1))) => {}
                        () = stop.triggered() => return Ok::<(), String>(()),
                    }
                }
            }
        };
        health.set_healthy(COMPONENT);
        tracing::info!(identity = %identity, lease = %lease_name, "electing over the Redis lease");
        let lease = Arc::new(RedisLease::new(redis, &lease_name, &identity, duration));
        leadership.set_lease(lease.clone());
        let hooks = Hooks { work, health, leadership };
        run_election_with(&*lease, timings, &hooks, &metrics, stop).await;
        Ok(())
    });
}
