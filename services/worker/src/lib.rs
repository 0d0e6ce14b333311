//! The worker service: stateless consumers of backfill jobs that re-run
//! the missed windows with the scheduler's scrape code and write them as
//! `worker_backfill`. It serves health and its process metrics over HTTP,
//! and `grpc.health.v1` over gRPC.

pub mod consume;
pub mod job;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use ghstats_config::Config;
use ghstats_queue::BackfillConsumer;
use ghstats_runtime::health::{ComponentStatus, Readiness};
use ghstats_runtime::{ServeError, ServiceHost, ServiceListeners, Shutdown};
use ghstats_scrape::Attribution;
use ghstats_store::Store;

pub const SERVICE: &str = "worker";

/// HTTP and gRPC addresses from `services.worker`.
pub fn listen_addrs(config: &Config) -> (SocketAddr, SocketAddr) {
    config.services.worker.listen_addrs()
}

/// What the worker needs beyond a valid config.
pub fn check_config(config: &Config) -> Result<(), ghstats_config::ConfigError> {
    config.require_orgs(SERVICE)
}

/// The worker's dependencies; the all-in-one binary passes its own.
#[derive(Debug, Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    /// `None` until a queue this process can consume is configured.
    pub queue: Option<Arc<dyn BackfillConsumer>>,
}

/// Serves until `shutdown`, with dependencies from the config.
pub async fn serve(
    config: Config,
    listeners: ServiceListeners,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let store = ghstats_store::from_config(&config.store)
        .await
        .map_err(|e| ServeError::task("store", e))?;
    serve_with(config, Deps { store, queue: None }, listeners, shutdown).await
}

/// Serves until `shutdown` with the given dependencies.
pub async fn serve_with(
    config: Config,
    deps: Deps,
    listeners: ServiceListeners,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let host = ServiceHost::new(SERVICE, "/metrics");
    host.health.register("consumer", Readiness::Required);
    match deps.queue {
        Some(queue) => {
            let orgs: HashMap<_, _> =
                ghstats_scrape::clients::org_clients(&config, &deps.store, shutdown.token())
                    .map_err(|e| ServeError::task("github client", e))?
                    .into_iter()
                    .map(|(org, client)| (org.org.to_ascii_lowercase(), (org, client)))
                    .collect();
            let jobs = Arc::new(job::JobContext {
                store: deps.store,
                orgs,
                attribution: Attribution::from_config(&config.github),
                max_message_age: config.backfill.max_message_age.get(),
            });
            let counts = Arc::new(consume::Counts::default());
            consume::spawn(
                config.backfill.consumer_count,
                jobs,
                queue,
                counts,
                &shutdown,
            );
            host.health.set_healthy("consumer");
        }
        None => {
            let reason = "no backfill queue to consume: the RabbitMQ consumer is not built yet";
            tracing::warn!(reason, "worker idle");
            host.health
                .set("consumer", ComponentStatus::Unhealthy, reason);
        }
    }
    host.serve(listeners, shutdown).await
}
