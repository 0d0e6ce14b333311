//! `webhooks`: the workers' intake of GitHub webhook deliveries, and the
//! leader's recovery of failed ones.

use serde::{Deserialize, Serialize};

use super::net::ListenAddr;
use crate::Duration;
use crate::check::Check;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Workers serve `POST /webhooks/github` on `listen_addr`, and the
    /// leader asks GitHub to redeliver failed deliveries.
    pub enabled: bool,
    /// The workers' webhook listener, apart from their health and metrics
    /// port (the webhook Ingress reaches only this one).
    pub listen_addr: ListenAddr,
    /// How long a delivery id is remembered, so a redelivery changes
    /// nothing (GitHub redelivers deliveries of the last 3 days).
    pub delivery_ttl: Duration,
    /// A delivery not durable within this time is answered 503 (GitHub
    /// waits 10 s) and recovered by redelivery or the scheduled scrape.
    pub processing_timeout: Duration,
    /// The leader lists each GitHub App's failed deliveries and asks for
    /// them again (`GET /app/hook/deliveries`, `POST .../attempts`).
    pub redelivery_enabled: bool,
    pub redelivery_interval: Duration,
    /// How far back failed deliveries are looked for.
    pub redelivery_lookback: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen_addr: ListenAddr::from_static(":8086"),
            delivery_ttl: Duration::from_secs(4 * 24 * 3600),
            processing_timeout: Duration::from_secs(8),
            redelivery_enabled: true,
            redelivery_interval: Duration::from_secs(300),
            redelivery_lookback: Duration::from_secs(24 * 3600),
        }
    }
}

impl WebhooksConfig {
    pub(crate) fn check(&self, c: &mut Check) {
        c.non_zero("webhooks.delivery_ttl", self.delivery_ttl);
        c.non_zero("webhooks.processing_timeout", self.processing_timeout);
        if self.processing_timeout > Duration::from_secs(10) {
            c.fail(
                "webhooks.processing_timeout",
                "must be at most 10s: GitHub gives up on a delivery after 10 seconds",
            );
        }
        c.non_zero("webhooks.redelivery_interval", self.redelivery_interval);
        c.non_zero("webhooks.redelivery_lookback", self.redelivery_lookback);
    }
}
