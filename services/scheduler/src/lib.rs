//! The scheduler service: one replica leads and runs one controller per
//! org (its own interval, concurrency, credentials, rate-limit state and
//! GitHub cooldown) and the store GC; the others stand by. It serves health
//! and its process metrics over HTTP, and `grpc.health.v1` over gRPC.

pub mod control;
pub mod controller;
pub mod cooldown;
pub mod leader;
pub mod role;

use std::net::SocketAddr;
use std::sync::Arc;

use ghstats_config::Config;
use ghstats_proto::Role;
use ghstats_proto::v1::scheduler_control_server::SchedulerControlServer;
use ghstats_queue::{BackfillProducer, MemoryProducer};
use ghstats_runtime::health::{ComponentStatus, Readiness};
use ghstats_runtime::{ServeError, ServiceHost, ServiceListeners, Shutdown};
use ghstats_store::Store;

pub const SERVICE: &str = "scheduler";

/// HTTP and gRPC addresses from `services.scheduler`.
pub fn listen_addrs(config: &Config) -> (SocketAddr, SocketAddr) {
    config.services.scheduler.listen_addrs()
}

/// What the scheduler needs beyond a valid config.
pub fn check_config(config: &Config) -> Result<(), ghstats_config::ConfigError> {
    config.require_orgs(SERVICE)
}

/// The scheduler's shared dependencies; the all-in-one binary passes its
/// own (memory) ones.
#[derive(Debug, Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub backfill: Arc<dyn BackfillProducer>,
}

/// Serves until `shutdown`, with dependencies built from the config.
pub async fn serve(
    config: Config,
    listeners: ServiceListeners,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let store = ghstats_store::from_config(&config.store)
        .await
        .map_err(|e| ServeError::task("store", e))?;
    tracing::warn!(
        "backfill requests are kept in process memory until the RabbitMQ producer exists"
    );
    let deps = Deps {
        store,
        backfill: Arc::new(MemoryProducer::default()),
    };
    serve_with(config, deps, listeners, shutdown).await
}

/// Serves until `shutdown` with the given dependencies.
pub async fn serve_with(
    config: Config,
    deps: Deps,
    listeners: ServiceListeners,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let config = Arc::new(config);
    let host = ServiceHost::new(SERVICE, "/metrics");
    let health = host.health.clone();
    health.register("store", Readiness::Required);
    match deps.store.ping().await {
        Ok(()) => health.set_healthy("store"),
        Err(e) => health.set("store", ComponentStatus::Unhealthy, e.to_string()),
    }
    let startup = role::settle(&config, &health)?;
    let controllers = leader::controllers(&config, &deps.store, &deps.backfill, &shutdown)?;
    let leadership = Arc::new(control::Leadership::default());
    if startup != role::Startup::Static(Role::Follower) {
        health.register("scheduler", Readiness::Required);
        match startup {
            role::Startup::Static(_) => {
                let term = deps.store.current_term().await.unwrap_or(0);
                leadership.set(true, term);
                leader::start(
                    &controllers,
                    deps.store.clone(),
                    term,
                    &health,
                    &shutdown.child(),
                );
                tracing::info!(orgs = controllers.len(), "leading: org controllers started");
            }
            role::Startup::RedisLease => {
                role::spawn_redis_election(
                    &config,
                    controllers.clone(),
                    deps.store.clone(),
                    health.clone(),
                    leadership.clone(),
                    &shutdown,
                );
            }
        }
        health.set_healthy("scheduler");
    }
    let admin_token = config
        .services
        .admin_token()
        .resolve("services.admin_token")?
        .map(|s| s.expose().to_owned());
    let control = control::ControlService {
        identity: role::identity(&config),
        leadership,
        controllers,
        admin_token,
    };
    let mut host = host;
    host.grpc.add_service(SchedulerControlServer::new(control));
    host.serve(listeners, shutdown).await
}
