//! `store`: the shared Redis (or, in the standalone binary, memory) store.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::net::HostPort;
use crate::Duration;
use crate::check::Check;
use crate::secret::{Secret, SecretSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    Redis,
    /// Process-local; only for the standalone binary and tests.
    Memory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisMode {
    Standalone,
    Sentinel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportCacheMode {
    /// Gateways apply the store's change log.
    Incremental,
    /// Gateways reload every series on each refresh (small installations).
    Full,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    pub redis_mode: RedisMode,
    pub redis_addr: HostPort,
    pub redis_master_set: String,
    pub redis_sentinel_addrs: Vec<HostPort>,
    /// Inline password (prefer `redis_password_env` or `redis_password_file`).
    pub redis_password: Secret,
    pub redis_password_env: Option<String>,
    pub redis_password_file: Option<PathBuf>,
    pub redis_db: u32,
    pub redis_tls: bool,
    /// Prefix of every key, so several installations (or tests) share a Redis.
    pub key_prefix: String,
    pub retention: Duration,
    pub metric_refresh_interval: Duration,
    pub index_shards: u32,
    pub export_cache_mode: ExportCacheMode,
    pub max_series_budget: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Redis,
            redis_mode: RedisMode::Standalone,
            redis_addr: "redis:6379".parse().unwrap_or_default(),
            redis_master_set: "mymaster".into(),
            redis_sentinel_addrs: Vec::new(),
            redis_password: Secret::default(),
            redis_password_env: None,
            redis_password_file: None,
            redis_db: 0,
            redis_tls: false,
            key_prefix: "ghm:".into(),
            retention: Duration::from_secs(30 * 24 * 3600),
            metric_refresh_interval: Duration::from_secs(30),
            index_shards: 128,
            export_cache_mode: ExportCacheMode::Incremental,
            max_series_budget: 10_000_000,
        }
    }
}

impl StoreConfig {
    fn password(&self) -> Result<SecretSource, crate::secret::SecretConflict> {
        SecretSource::choose(
            "redis_password",
            Some(&self.redis_password),
            self.redis_password_env.as_deref(),
            self.redis_password_file.as_ref(),
        )
    }

    /// Where the Redis password comes from.
    pub fn redis_password_source(&self) -> SecretSource {
        self.password().unwrap_or(SecretSource::Unset)
    }

    pub(crate) fn check(&self, c: &mut Check) {
        c.not_blank("store.key_prefix", &self.key_prefix);
        c.non_zero("store.retention", self.retention);
        c.non_zero(
            "store.metric_refresh_interval",
            self.metric_refresh_interval,
        );
        c.positive("store.index_shards", self.index_shards.into());
        c.positive("store.max_series_budget", self.max_series_budget);
        if let Err(e) = self.password() {
            c.fail("store.redis_password", e.to_string());
        }
        if self.backend == StoreBackend::Memory {
            return;
        }
        match self.redis_mode {
            RedisMode::Standalone if self.redis_addr.is_empty() => {
                c.fail(
                    "store.redis_addr",
                    "is required with redis_mode: standalone",
                );
            }
            RedisMode::Sentinel => {
                if self.redis_sentinel_addrs.is_empty() {
                    c.fail(
                        "store.redis_sentinel_addrs",
                        "redis_mode: sentinel needs at least one sentinel address",
                    );
                }
                c.not_blank("store.redis_master_set", &self.redis_master_set);
            }
            RedisMode::Standalone => {}
        }
    }
}
