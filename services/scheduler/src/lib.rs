//! The scheduler service: one replica leads (see `leader_election`) and runs
//! the per-org scrapes and the store GC; the others stand by. It serves
//! health and its process metrics over HTTP, and `grpc.health.v1` over gRPC.

mod role;

use std::net::SocketAddr;

use ghstats_config::Config;
use ghstats_runtime::{ServeError, ServiceHost, ServiceListeners, Shutdown};

pub const SERVICE: &str = "scheduler";

/// HTTP and gRPC addresses from `services.scheduler`.
pub fn listen_addrs(config: &Config) -> (SocketAddr, SocketAddr) {
    let s = &config.services.scheduler;
    (
        s.http_listen_addr.socket_addr(),
        s.grpc_listen_addr.socket_addr(),
    )
}

/// What the scheduler needs beyond a valid config.
pub fn check_config(config: &Config) -> Result<(), ghstats_config::ConfigError> {
    config.require_orgs(SERVICE)
}

/// Serves until `shutdown`.
pub async fn serve(
    config: Config,
    listeners: ServiceListeners,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let host = ServiceHost::new(SERVICE, "/metrics");
    role::settle(&config, &host.health)?;
    host.serve(listeners, shutdown).await
}
