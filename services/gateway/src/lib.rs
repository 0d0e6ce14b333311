//! The gateway service: the one thing Prometheus scrapes. It serves health
//! over HTTP on `server.listen_addr`, its own process metrics at
//! `/metrics/process` (so `/metrics` carries only the shared exposition, the
//! same on every replica), and `grpc.health.v1` over gRPC.

use std::net::SocketAddr;

use ghstats_config::Config;
use ghstats_runtime::{ServeError, ServiceHost, ServiceListeners, Shutdown};

pub const SERVICE: &str = "gateway";

/// HTTP (`server.listen_addr`) and gRPC (`services.gateway`) addresses.
pub fn listen_addrs(config: &Config) -> (SocketAddr, SocketAddr) {
    (
        config.server.listen_addr.socket_addr(),
        config.services.gateway.grpc_listen_addr.socket_addr(),
    )
}

/// The gateway needs nothing beyond a valid config.
pub fn check_config(_config: &Config) -> Result<(), ghstats_config::ConfigError> {
    Ok(())
}

/// Serves until `shutdown`.
pub async fn serve(
    _config: Config,
    listeners: ServiceListeners,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    ServiceHost::new(SERVICE, "/metrics/process")
        .serve(listeners, shutdown)
        .await
}
