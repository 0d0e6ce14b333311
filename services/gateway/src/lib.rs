//! The gateway service: the one thing Prometheus scrapes. It keeps every
//! series of the store in an in-memory cache following the store's change
//! log and serves `/metrics` (OpenMetrics or Prometheus text, gzip when
//! asked) from pre-rendered bytes, plus health over HTTP on
//! `server.listen_addr` and `grpc.health.v1`. Its own process metrics
//! (including cache refresh timing, which differs between replicas) are at
//! `/metrics/process`, so `/metrics` is byte-identical on every replica for
//! the same store state.

pub mod cache;
pub mod control;
pub mod fleet;
pub mod http;
pub mod refresh;
pub mod render;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use ghstats_config::{Config, ExportCacheMode};
use ghstats_core::Shutdown;
use ghstats_core::health::Readiness;
use ghstats_runtime::{ServeError, ServiceHost, ServiceListeners};
use ghstats_store::Store;

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

/// Serves until `shutdown`, reading the store the config names.
pub async fn serve(
    config: Config,
    listeners: ServiceListeners,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let store = ghstats_store::from_config(&config.store)
        .await
        .map_err(|e| ServeError::task("store", e))?;
    serve_with(config, store, listeners, shutdown).await
}

/// Serves until `shutdown` from `store`.
pub async fn serve_with(
    config: Config,
    store: Arc<dyn Store>,
    listeners: ServiceListeners,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let mut host = ServiceHost::new(SERVICE, "/metrics/process");
    let published = cache::Published::default();
    let metrics = refresh::RefreshMetrics::default();
    metrics.register(host.metrics.registry_mut());
    host.health
        .register(refresh::COMPONENT, Readiness::Required);
    host.health
        .set_info("scrape_service_dns", &config.metrics.scrape_service_dns);
    let cache_control = std::sync::Arc::new(refresh::CacheControl::default());
    let cache_control_for_page = cache_control.clone();
    let replica = cache::ReplicaBlock::default();
    let refresher = refresh::Refresher {
        replica: replica.clone(),
        control: cache_control.clone(),
        store,
        published: published.clone(),
        health: host.health.clone(),
        metrics,
        full_every: (config.store.export_cache_mode == ExportCacheMode::Full)
            .then(|| config.store.metric_refresh_interval.get()),
    };
    let s = shutdown.clone();
    shutdown.spawn("metrics_cache_refresh", refresher.run(s));
    let fleet = fleet::Fleet::from_config(&config)?;
    host.health.set_fleet(std::sync::Arc::new(fleet.clone()));
    host.use_grpc_tls(&config.services.grpc_tls)?;
    let control = control::ControlService {
        identity: ghstats_core::identity::instance_identity(SERVICE),
        health: host.health.clone(),
        published: published.clone(),
        control: cache_control,
        admin_token: config.services.admin_token_value()?,
    };
    host.grpc
        .add_service(ghstats_proto::v1::gateway_control_server::GatewayControlServer::new(control));
    let status_page = std::sync::Arc::new(status::StatusPage::new(
        &config,
        ghstats_core::identity::instance_identity(SERVICE),
        fleet,
        published.clone(),
        cache_control_for_page,
    ));
    status_page.start_sampling(&shutdown);
    host.http = host
        .http
        .merge(http::routes(http::MetricsState { published, replica }))
        .merge(
            axum::Router::new()
                .route("/", axum::routing::get(status::page))
                .with_state(status_page),
        );
    host.serve(listeners, shutdown).await
}
