//! The ghstats configuration: one YAML file read by every service (each uses
//! the sections it needs), `GHSTATS__SECTION__KEY` environment overrides,
//! the specification's defaults, validation that names the key and its line,
//! and a redacted dump.
//!
//! ```no_run
//! let config = ghstats_config::load_file(std::path::Path::new("config.yaml"))?;
//! println!("{}", config.summary());
//! # Ok::<(), ghstats_config::ConfigError>(())
//! ```

mod check;
mod duration;
mod env;
mod error;
mod load;
mod locate;
mod secret;
mod sections;

use serde::{Deserialize, Serialize};

pub use duration::{Duration, DurationError};
pub use env::ENV_PREFIX;
pub use error::{ConfigError, Problem};
pub use load::{load_file, load_str};
pub use secret::{Secret, SecretSource};
pub use sections::copilot::{CopilotConfig, CopilotEnterpriseConfig};
pub use sections::election::{BackendFailure, ElectionBackend, LeaderElectionConfig};
pub use sections::github::{
    DEFAULT_SCRAPE_INTERVAL, GithubConfig, OrgAuth, OrgConfig, UnattributedCommits, UserLabelMode,
    WEBHOOK_SCRAPE_INTERVAL,
};
pub use sections::limits::{LocConfig, LocSource, RateLimitConfig, RetryConfig};
pub use sections::net::{AmqpUrl, HostPort, HttpUrl, ListenAddr};
pub use sections::observability::{HealthConfig, TelemetryConfig, TraceMode};
pub use sections::pulls::PullRequestsConfig;
pub use sections::queue::{AmqpConfig, BackfillConfig};
pub use sections::server::{
    GatewayService, GrpcTlsConfig, LogFormat, LogLevel, MetricsConfig, PeerService, ServerConfig,
    ServicesConfig, Topology,
};
pub use sections::store::{ExportCacheMode, RedisMode, StoreBackend, StoreConfig};
pub use sections::webhooks::WebhooksConfig;

/// The whole configuration, with defaults filled in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub metrics: MetricsConfig,
    pub services: ServicesConfig,
    pub leader_election: LeaderElectionConfig,
    pub github: GithubConfig,
    pub rate_limit: RateLimitConfig,
    pub retry: RetryConfig,
    pub loc: LocConfig,
    pub backfill: BackfillConfig,
    pub amqp: AmqpConfig,
    pub store: StoreConfig,
    pub health: HealthConfig,
    pub telemetry: TelemetryConfig,
    pub copilot: CopilotConfig,
    pub pull_requests: PullRequestsConfig,
    pub webhooks: WebhooksConfig,
}

impl Config {
    /// Semantic checks serde cannot express; `(key, message)` per problem.
    pub(crate) fn check(&self) -> Vec<(String, String)> {
        let mut c = check::Check::default();
        self.server.check(&mut c);
        self.services.check(&mut c);
        self.leader_election.check(&mut c);
        self.github.check(&mut c);
        self.retry.check(&mut c);
        self.loc.check(&mut c);
        self.backfill.check(&mut c);
        self.amqp.check(&mut c);
        self.store.check(&mut c);
        self.health.check(&mut c);
        self.telemetry.check(&mut c);
        self.copilot.check(&mut c);
        self.pull_requests.check(&mut c);
        self.webhooks.check(&mut c);
        c.problems
    }

    /// The effective config as YAML; secrets print as `<redacted>`.
    pub fn to_redacted_yaml(&self) -> String {
        serde_yaml_ng::to_string(self)
            .unwrap_or_else(|e| format!("# cannot render the config: {e}\n"))
    }

    /// A one-line description for `--check-config` and start-up logs.
    pub fn summary(&self) -> String {
        let orgs: Vec<&str> = self.github.orgs.iter().map(|o| o.org.as_str()).collect();
        let store = match self.store.backend {
            StoreBackend::Memory => "memory".to_owned(),
            StoreBackend::Redis => match self.store.redis_mode {
                RedisMode::Standalone => format!("redis {}", self.store.redis_addr),
                RedisMode::Sentinel => format!("redis sentinel {}", self.store.redis_master_set),
            },
        };
        format!(
            "{} org(s) [{}], store {store}, queue {}, election {:?}, copilot {}",
            orgs.len(),
            orgs.join(", "),
            self.amqp.queue_name(),
            self.leader_election.effective_backend(),
            if self.copilot.enabled { "on" } else { "off" },
        )
    }

    /// The scheduler and the worker need something to scrape.
    pub fn require_orgs(&self, service: &str) -> Result<(), ConfigError> {
        if self.github.orgs.is_empty() {
            return Err(ConfigError::Invalid {
                source_name: "config".into(),
                problems: vec![Problem {
                    key: "github.orgs".into(),
                    line: None,
                    env_var: None,
                    message: format!("the {service} needs at least one org"),
                }],
            });
        }
        Ok(())
    }
}
