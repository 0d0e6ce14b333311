//! Logs and traces. Logs are JSON lines on stderr (or text, by config) at
//! `server.log_level`, overridden by `RUST_LOG`. Traces go to an OTLP/gRPC
//! collector when `telemetry.otel_enabled`, shaped by `otel_trace_mode`:
//! `errors` exports only warn/error spans, `sampled` a ratio of traces at
//! info level, `detailed` every span down to debug. Repeated warnings are
//! sampled (`log_sampling`).

use ghstats_config::{Config, LogFormat, LogLevel, TraceMode};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::ServeError;
use crate::log_sampling::Sampled;

/// Flushes traces when the process ends.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "trace exporter did not flush");
        }
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

/// The log filter: `RUST_LOG` when set, else the configured level.
pub fn log_filter(config: &Config) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(level_name(config.server.log_level)))
}

/// Installs the global subscriber for `service`. Call once, inside a tokio
/// runtime (the OTLP exporter needs one).
pub fn init(service: &str, config: &Config) -> Result<TelemetryGuard, ServeError> {
    let fmt = Sampled::new(
        match config.server.log_format {
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_writer(std::io::stderr)
                .boxed(),
            LogFormat::Text => tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .boxed(),
        },
        crate::log_sampling::WINDOW,
    )
    .with_filter(log_filter(config));

    let t = &config.telemetry;
    let (otel, provider) = if t.traces_on() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(t.otlp_endpoint_url())
            .build()
            .map_err(|e| ServeError::Telemetry(e.to_string()))?;
        let (sampler, level) = match t.otel_trace_mode {
            TraceMode::Errors => (Sampler::AlwaysOn, LevelFilter::WARN),
            TraceMode::Sampled => (
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                    t.otel_trace_sample_ratio,
                ))),
                LevelFilter::INFO,
            ),
            TraceMode::Detailed | TraceMode::Off => (Sampler::AlwaysOn, LevelFilter::DEBUG),
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(sampler)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(format!("ghstats-{service}"))
                    .build(),
            )
            .build();
        let tracer = provider.tracer(format!("ghstats-{service}"));
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(level);
        (Some(layer), Some(provider))
    } else {
        (None, None)
    };

    tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| ServeError::Telemetry(e.to_string()))?;
    Ok(TelemetryGuard { provider })
}
