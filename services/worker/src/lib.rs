//! The worker service: stateless consumers of backfill jobs that re-run the
//! missed windows. It serves health and its process metrics over HTTP, and
//! `grpc.health.v1` over gRPC.

use std::net::SocketAddr;

use ghstats_config::Config;
use ghstats_runtime::{ServeError, ServiceHost, ServiceListeners, Shutdown};

pub const SERVICE: &str = "worker";

/// HTTP and gRPC addresses from `services.worker`.
pub fn listen_addrs(config: &Config) -> (SocketAddr, SocketAddr) {
    let s = &config.services.worker;
    (
        s.http_listen_addr.socket_addr(),
        s.grpc_listen_addr.socket_addr(),
    )
}

/// What the worker needs beyond a valid config.
pub fn check_config(config: &Config) -> Result<(), ghstats_config::ConfigError> {
    config.require_orgs(SERVICE)
}

/// Serves until `shutdown`.
pub async fn serve(
    _config: Config,
    listeners: ServiceListeners,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    ServiceHost::new(SERVICE, "/metrics")
        .serve(listeners, shutdown)
        .await
}
