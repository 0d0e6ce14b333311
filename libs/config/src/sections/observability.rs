//! `health` and `telemetry`: GitHub health probing and OTLP traces.

use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::check::Check;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// How often a cooling-down org probes GitHub.
    pub github_probe_interval: Duration,
    /// Consecutive successful cycles before GitHub counts as healthy again.
    pub github_recover_success_threshold: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            github_probe_interval: Duration::from_secs(30),
            github_recover_success_threshold: 3,
        }
    }
}

impl HealthConfig {
    pub(crate) fn check(&self, c: &mut Check) {
        c.non_zero("health.github_probe_interval", self.github_probe_interval);
        c.positive(
            "health.github_recover_success_threshold",
            self.github_recover_success_threshold.into(),
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceMode {
    /// No spans are exported.
    Off,
    /// Only spans that end in an error.
    Errors,
    /// A `otel_trace_sample_ratio` share of traces.
    Sampled,
    /// Every span, including store and queue calls.
    Detailed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    pub otel_enabled: bool,
    /// OTLP/gRPC collector, e.g. `http://otel-collector:4317` (a bare
    /// `host:port` means `http://host:port`).
    pub otel_exporter_otlp_endpoint: String,
    pub otel_trace_mode: TraceMode,
    pub otel_trace_sample_ratio: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otel_enabled: false,
            otel_exporter_otlp_endpoint: String::new(),
            otel_trace_mode: TraceMode::Sampled,
            otel_trace_sample_ratio: 0.05,
        }
    }
}

impl TelemetryConfig {
    /// The collector URL with a scheme.
    pub fn otlp_endpoint_url(&self) -> String {
        let e = self.otel_exporter_otlp_endpoint.trim();
        if e.contains("://") {
            e.to_owned()
        } else {
            format!("http://{e}")
        }
    }

    /// Whether spans are exported at all.
    pub fn traces_on(&self) -> bool {
        self.otel_enabled && self.otel_trace_mode != TraceMode::Off
    }

    pub(crate) fn check(&self, c: &mut Check) {
        if !(0.0..=1.0).contains(&self.otel_trace_sample_ratio) {
            c.fail(
                "telemetry.otel_trace_sample_ratio",
                format!(
                    "must be between 0 and 1, got {}",
                    self.otel_trace_sample_ratio
                ),
            );
        }
        if self.traces_on() {
            if self.otel_exporter_otlp_endpoint.trim().is_empty() {
                c.fail(
                    "telemetry.otel_exporter_otlp_endpoint",
                    "is required when otel_enabled is true",
                );
            } else if url::Url::parse(&self.otlp_endpoint_url())
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .is_none()
            {
                c.fail(
                    "telemetry.otel_exporter_otlp_endpoint",
                    format!(
                        "invalid endpoint {:?}: write host:port or http://host:port",
                        self.otel_exporter_otlp_endpoint
                    ),
                );
            }
        }
    }
}
