//! How a ghstats service is hosted, above the libs: the command line and
//! config loading (exit 64 on a bad config), telemetry (JSON logs, optional
//! OTLP traces), the HTTP and gRPC servers (`/livez`, `/readyz`, `/healthz`,
//! `grpc.health.v1` over the `ghstats-core` health registry), peer TLS and
//! dialling, and process metrics. No lib depends on it.

pub mod cli;
pub mod grpc;
pub mod host;
pub mod http;
pub mod listeners;
pub mod log_sampling;
pub mod peers;
pub mod process_metrics;
pub mod telemetry;
pub mod tls;

pub use host::ServiceHost;
pub use listeners::ServiceListeners;

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
    #[error("{task} failed: {source}")]
    Task {
        task: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ServeError {
    /// A failure of one part of the service (`store`, `github client`, ...),
    /// keeping its cause.
    pub fn task(
        task: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Task {
            task,
            source: source.into(),
        }
    }
}
