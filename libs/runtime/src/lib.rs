//! What every ghstats service shares: the command line and config loading
//! (exit 64 on a bad config), telemetry (JSON logs, optional OTLP traces),
//! graceful shutdown with tracked, named tasks, the health registry behind
//! `/livez`, `/readyz`, `/healthz` and `grpc.health.v1`, and process metrics.

pub mod cli;
pub mod election;
pub mod grpc;
pub mod health;
pub mod host;
pub mod http;
pub mod listeners;
pub mod peers;
pub mod process_metrics;
pub mod retry;
pub mod role;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

/// The `async_trait` the runtime's traits (`FleetView`, `LeaseBackend`) are written with.
pub use async_trait::async_trait;
pub use health::{ComponentStatus, HealthRegistry, Mode, Readiness};
pub use host::ServiceHost;
pub use listeners::ServiceListeners;
pub use shutdown::Shutdown;

/// Why a service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error(transparent)]
    Config(#[from] ghstats_config::ConfigError),
    #[error("telemetry: {0}")]
    Telemetry(String),
    #[error("{task} failed: {reason}")]
    Task { task: &'static str, reason: String },
}

impl ServeError {
    /// A failure of one part of the service (`store`, `github client`, ...).
    pub fn task(task: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Task {
            task,
            reason: reason.to_string(),
        }
    }
}
