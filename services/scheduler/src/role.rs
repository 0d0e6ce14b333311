//! Which role this replica takes at start. The static backend reads
//! `GITHUB_STATS_INITIAL_ROLE`; a backend this build cannot run leaves the
//! replica a follower and says why (never "everyone leads").

use ghstats_config::{BackendFailure, Config, ElectionBackend};
use ghstats_proto::Role;
use ghstats_runtime::ServeError;
use ghstats_runtime::health::{ComponentStatus, HealthRegistry, Readiness};
use ghstats_runtime::role::{INITIAL_ROLE_ENV, static_role};

const COMPONENT: &str = "leader_election";

/// The role this replica takes; it is also shown in `/healthz`.
pub fn settle(config: &Config, health: &HealthRegistry) -> Result<Role, ServeError> {
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
            Ok(role)
        }
        backend => {
            let reason = format!(
                "the {backend:?} election backend is not supported by this build; staying follower"
            )
            .to_lowercase();
            if election.on_backend_failure == BackendFailure::Exit {
                return Err(ServeError::Task {
                    task: "leader election",
                    reason,
                });
            }
            tracing::warn!(reason = %reason, "leader election unavailable");
            health.set_role("follower");
            health.set(COMPONENT, ComponentStatus::Unhealthy, reason);
            Ok(Role::Follower)
        }
    }
}
