//! `ghstats`, all in one process: the gateway, the scheduler and the worker
//! started through their own `serve` functions, on memory backends and with
//! a static leader, so a newcomer sees the product with one command and no
//! accounts or servers. Without configured orgs it also serves the bundled
//! GitHub simulator and scrapes that.

pub mod ctl;
pub mod demo;

use std::sync::Arc;

use ghstats_config::{Config, StoreBackend};
use ghstats_core::Shutdown;
use ghstats_queue::{JobQueue, MemoryQueue, Topology};
use ghstats_runtime::{ServeError, ServiceListeners};
use ghstats_scheduler::enqueue::{EnqueueSettings, Enqueuer};
use ghstats_store::{MemoryStore, Store, StoreSettings};

pub const SERVICE: &str = "standalone";

/// One pair of listeners per service.
#[derive(Debug)]
pub struct Listeners {
    pub gateway: ServiceListeners,
    pub scheduler: ServiceListeners,
    pub worker: ServiceListeners,
}

impl Listeners {
    /// Binds the addresses of `config`.
    pub async fn bind(config: &Config) -> Result<Self, ServeError> {
        let pair = |(http, grpc)| ServiceListeners::bind(http, grpc);
        Ok(Self {
            gateway: pair(ghstats_gateway::listen_addrs(config)).await?,
            scheduler: pair(ghstats_scheduler::listen_addrs(config)).await?,
            worker: pair(ghstats_worker::listen_addrs(config)).await?,
        })
    }

    /// Every listener on `127.0.0.1` with a system-chosen port (tests).
    pub async fn ephemeral() -> Result<Self, ServeError> {
        Ok(Self {
            gateway: ServiceListeners::ephemeral().await?,
            scheduler: ServiceListeners::ephemeral().await?,
            worker: ServiceListeners::ephemeral()
                .await?
                .with_ephemeral_webhook()
                .await?,
        })
    }
}

/// The config the all-in-one process runs with: the given one with a
/// memory store and a static role (no election backend to talk to).
pub fn standalone_config(mut config: Config) -> Config {
    config.store.backend = StoreBackend::Memory;
    config.leader_election.enabled = false;
    config
}

/// Serves the three services until `shutdown`; one failing stops all.
pub async fn serve(
    config: Config,
    listeners: Listeners,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let mut config = standalone_config(config);
    let mut listeners = listeners;
    let demo = if config.github.orgs.is_empty() {
        Some(demo::start(&mut config, &shutdown).await?)
    } else {
        None
    };
    if config.webhooks.enabled && listeners.worker.webhook.is_none() {
        listeners.worker.webhook = Some(
            ghstats_runtime::listeners::bind(config.webhooks.listen_addr.socket_addr()).await?,
        );
    }
    if let (Some(demo), Some(addr)) = (&demo, listeners.worker.webhook_addr()) {
        demo.deliver_to(addr);
    }
    let store: Arc<dyn Store> =
        Arc::new(MemoryStore::new(StoreSettings::from_config(&config.store)));
    // Backfill jobs stay in this process: the scheduler asks, the worker
    // re-runs the windows.
    let queue: Arc<dyn JobQueue> = Arc::new(MemoryQueue::new(Topology::from_config(
        &config.amqp,
        &config.backfill,
    )));
    let enqueuer = Arc::new(Enqueuer::new(
        queue.clone(),
        store.clone(),
        EnqueueSettings::from_config(&config),
    ));
    enqueuer.start_sweeping(&shutdown);
    let scheduler_deps = ghstats_scheduler::Deps {
        link: None,
        store: store.clone(),
        backfill: enqueuer,
        queue: Some(queue.clone()),
        lease: None,
    };
    let worker_deps = ghstats_worker::Deps {
        link: None,
        store: store.clone(),
        queue,
    };
    tracing::info!(
        metrics = %format!("http://{}/metrics", listeners.gateway.http_addr()),
        health = %format!("http://{}/healthz", listeners.gateway.http_addr()),
        "ghstats standalone is up"
    );
    let result = tokio::try_join!(
        ghstats_gateway::serve_with(
            config.clone(),
            store.clone(),
            listeners.gateway,
            shutdown.clone()
        ),
        ghstats_scheduler::serve_with(
            config.clone(),
            scheduler_deps,
            listeners.scheduler,
            shutdown.clone()
        ),
        ghstats_worker::serve_with(config, worker_deps, listeners.worker, shutdown.clone()),
    );
    if result.is_err() {
        shutdown.trigger();
    }
    result.map(|_| ())
}
