//! `backfill` and `amqp`: how missed windows come back.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::net::AmqpUrl;
use crate::check::Check;
use crate::secret::SecretSource;
use crate::{ConfigError, Duration};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackfillConfig {
    pub enabled: bool,
    /// Jobs older than this are acknowledged and counted as expired.
    pub max_message_age: Duration,
    /// Concurrent jobs per worker (also the AMQP prefetch).
    pub consumer_count: u32,
    /// Delay queues a failing job passes through, shortest first.
    pub requeue_delays: Vec<Duration>,
    /// Missed windows of one repo are merged into buckets of this size.
    pub coalesce_window: Duration,
    pub dedup_ttl: Duration,
    pub max_enqueues_per_org_per_minute: u32,
    /// Use a process-local queue (reported `degraded`) when RabbitMQ is down
    /// at start, instead of waiting for it.
    pub allow_memory_fallback: bool,
}

impl Default for BackfillConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_message_age: Duration::from_secs(24 * 3600),
            consumer_count: 6,
            requeue_delays: [60, 300, 1800, 7200].map(Duration::from_secs).to_vec(),
            coalesce_window: Duration::from_secs(900),
            dedup_ttl: Duration::from_secs(12 * 3600),
            max_enqueues_per_org_per_minute: 200,
            allow_memory_fallback: false,
        }
    }
}

impl BackfillConfig {
    pub(crate) fn check(&self, c: &mut Check) {
        c.non_zero("backfill.max_message_age", self.max_message_age);
        c.positive("backfill.consumer_count", self.consumer_count.into());
        c.non_zero("backfill.coalesce_window", self.coalesce_window);
        c.non_zero("backfill.dedup_ttl", self.dedup_ttl);
        c.positive(
            "backfill.max_enqueues_per_org_per_minute",
            self.max_enqueues_per_org_per_minute.into(),
        );
        if self.requeue_delays.is_empty() {
            c.fail("backfill.requeue_delays", "must list at least one delay");
        }
        for (i, pair) in self.requeue_delays.windows(2).enumerate() {
            if pair[1] <= pair[0] {
                c.fail(
                    format!("backfill.requeue_delays[{}]", i + 1),
                    format!("delays must increase ({} after {})", pair[1], pair[0]),
                );
            }
        }
        for (i, d) in self.requeue_delays.iter().enumerate() {
            c.non_zero(&format!("backfill.requeue_delays[{i}]"), *d);
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpConfig {
    pub url: AmqpUrl,
    /// Replaces the URL's password, read from this environment variable.
    pub password_env: Option<String>,
    /// Replaces the URL's password, read from this file.
    pub password_file: Option<PathBuf>,
    /// Names the deployment on the broker: the queues below derive from it
    /// unless set, so two deployments with different exchanges share
    /// nothing on one RabbitMQ.
    pub exchange: String,
    /// Main queue; default `<exchange>.jobs`.
    pub queue: Option<String>,
    /// Dead-letter queue; default `<exchange>.dlq`.
    pub dlq: Option<String>,
    /// Delay queues are named `<retry_queue_prefix>.<delay>`; default
    /// `<exchange>.retry`, e.g. `gh.backfill.retry.5m`.
    pub retry_queue_prefix: Option<String>,
}

impl Default for AmqpConfig {
    #[allow(clippy::expect_used)]
    fn default() -> Self {
        Self {
            url: "amqp://githubstats:githubstats@rabbitmq:5672/%2f"
                .parse()
                .expect("default AMQP URL is valid"),
            password_env: None,
            password_file: None,
            exchange: "gh.backfill".into(),
            queue: None,
            dlq: None,
            retry_queue_prefix: None,
        }
    }
}

impl AmqpConfig {
    /// `amqp.queue`, or `<exchange>.jobs`.
    pub fn queue_name(&self) -> String {
        self.derived(self.queue.as_deref(), "jobs")
    }

    /// `amqp.dlq`, or `<exchange>.dlq`.
    pub fn dlq_name(&self) -> String {
        self.derived(self.dlq.as_deref(), "dlq")
    }

    /// `amqp.retry_queue_prefix`, or `<exchange>.retry`.
    pub fn retry_prefix(&self) -> String {
        self.derived(self.retry_queue_prefix.as_deref(), "retry")
    }

    fn derived(&self, set: Option<&str>, suffix: &str) -> String {
        set.map_or_else(|| format!("{}.{suffix}", self.exchange), str::to_owned)
    }

    fn password(&self) -> Result<SecretSource, crate::secret::SecretConflict> {
        SecretSource::choose(
            "password",
            None,
            self.password_env.as_deref(),
            self.password_file.as_ref(),
        )
    }

    /// The URL to connect to, with the password from its secret source.
    pub fn resolved_url(&self) -> Result<AmqpUrl, ConfigError> {
        let source = self.password().map_err(|reason| ConfigError::Secret {
            key: "amqp.password".into(),
            reason: reason.to_string(),
        })?;
        Ok(match source.resolve("amqp.password")? {
            Some(password) => self.url.with_password(password.expose()),
            None => self.url.clone(),
        })
    }

    pub(crate) fn check(&self, c: &mut Check) {
        c.not_blank("amqp.exchange", &self.exchange);
        for (key, value) in [
            ("amqp.queue", &self.queue),
            ("amqp.dlq", &self.dlq),
            ("amqp.retry_queue_prefix", &self.retry_queue_prefix),
        ] {
            if let Some(value) = value {
                c.not_blank(key, value);
            }
        }
        if !self.queue_name().is_empty() && self.queue_name() == self.dlq_name() {
            c.fail("amqp.dlq", "must differ from amqp.queue");
        }
        if let Err(e) = self.password() {
            c.fail("amqp.password_env", e.to_string());
        }
    }
}
