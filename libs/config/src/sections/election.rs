//! `leader_election`: which scheduler replica scrapes.

use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::check::Check;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElectionBackend {
    /// A `coordination.k8s.io/v1` Lease.
    Kubernetes,
    /// A Redis key with a fencing term (compose, bare metal).
    Redis,
    /// No election: the role comes from `GITHUB_STATS_INITIAL_ROLE`.
    Static,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendFailure {
    /// Log why, stay follower, report not ready for the leader role, retry.
    StayFollower,
    /// Exit with an error so the orchestrator restarts the process.
    Exit,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaderElectionConfig {
    /// When false the role comes from `GITHUB_STATS_INITIAL_ROLE`
    /// (`leader`, the default, or `follower`), as with `backend: static`.
    pub enabled: bool,
    pub backend: ElectionBackend,
    pub namespace: String,
    pub lease_name: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
    /// Holder identity; empty means `$HOSTNAME` (the pod name), then the host name.
    pub identity: String,
    pub on_backend_failure: BackendFailure,
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            backend: ElectionBackend::Kubernetes,
            namespace: "github-stats".into(),
            lease_name: "github-stats-leader".into(),
            lease_duration: Duration::from_secs(30),
            renew_deadline: Duration::from_secs(20),
            retry_period: Duration::from_secs(5),
            identity: String::new(),
            on_backend_failure: BackendFailure::StayFollower,
        }
    }
}

impl LeaderElectionConfig {
    /// The backend in force: `static` when election is disabled.
    pub fn effective_backend(&self) -> ElectionBackend {
        if self.enabled {
            self.backend
        } else {
            ElectionBackend::Static
        }
    }

    pub(crate) fn check(&self, c: &mut Check) {
        if self.effective_backend() == ElectionBackend::Static {
            return;
        }
        c.not_blank("leader_election.lease_name", &self.lease_name);
        if self.backend == ElectionBackend::Kubernetes {
            c.not_blank("leader_election.namespace", &self.namespace);
        }
        c.non_zero("leader_election.lease_duration", self.lease_duration);
        c.non_zero("leader_election.retry_period", self.retry_period);
        if self.renew_deadline >= self.lease_duration {
            c.fail(
                "leader_election.renew_deadline",
                format!(
                    "must be shorter than lease_duration ({} >= {})",
                    self.renew_deadline, self.lease_duration
                ),
            );
        }
        if self.retry_period >= self.renew_deadline {
            c.fail(
                "leader_election.retry_period",
                format!(
                    "must be shorter than renew_deadline ({} >= {})",
                    self.retry_period, self.renew_deadline
                ),
            );
        }
    }
}
