//! The worker service: stateless consumers of backfill jobs that re-run
//! the missed windows with the scheduler's scrape code and write them as
//! `worker_backfill`. It serves health and its process metrics over HTTP,
//! and `grpc.health.v1` over gRPC.

pub mod consume;
pub mod control;
pub mod gate;
pub mod job;
pub mod tally;
pub mod webhook;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use ghstats_config::Config;
use ghstats_core::Shutdown;
use ghstats_core::health::{ComponentStatus, Readiness};
use ghstats_proto::v1::worker_control_server::WorkerControlServer;
use ghstats_queue::{JobQueue, RabbitQueue};
use ghstats_runtime::{ServeError, ServiceHost, ServiceListeners};
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
    pub queue: Arc<dyn JobQueue>,
    /// The RabbitMQ link whose state the health follows, when the queue is RabbitMQ.
    pub link: Option<RabbitQueue>,
}

/// Health component of the consumer.
pub const CONSUMER_COMPONENT: &str = "consumer";

/// Serves until `shutdown`, with dependencies from the config.
pub async fn serve(
    config: Config,
    listeners: ServiceListeners,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let store = ghstats_store::from_config(&config.store)
        .await
        .map_err(|e| ServeError::task("store", e))?;
    let rabbit = RabbitQueue::from_config(&config)?;
    let prefetch = u16::try_from(config.backfill.consumer_count).unwrap_or(u16::MAX);
    if config.backfill.enabled {
        rabbit.start_consuming(prefetch, &shutdown);
    }
    let deps = Deps {
        store,
        queue: Arc::new(rabbit.clone()),
        link: Some(rabbit),
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
    let rabbit = deps.link.clone();
    let mut host = ServiceHost::new(SERVICE, "/metrics");
    host.use_grpc_tls(&config.services.grpc_tls)?;
    host.health
        .register(CONSUMER_COMPONENT, Readiness::Required);
    ghstats_store::watch_store_health(deps.store.clone(), &host.health, &shutdown);
    match &rabbit {
        Some(rabbit) => rabbit.keep_connected(
            &host.health,
            CONSUMER_COMPONENT,
            ComponentStatus::Unhealthy,
            &shutdown,
        ),
        None => host.health.set_healthy(CONSUMER_COMPONENT),
    }
    let orgs: HashMap<_, _> =
        ghstats_scrape::clients::org_clients(&config, &deps.store, shutdown.token())
            .map_err(|e| ServeError::task("github client", e))?
            .into_iter()
            .map(|(org, client)| (org.org.to_ascii_lowercase(), (org, client)))
            .collect();
    let mut listeners = listeners;
    let intake = if config.webhooks.enabled {
        let webhook = listeners.webhook.take();
        Some(start_intake(&config, &deps.store, &orgs, &mut host, webhook, &shutdown).await?)
    } else {
        None
    };
    let shared_config = Arc::new(config.clone());
    let copilot = ghstats_scrape::clients::copilot_scraper(
        &shared_config,
        &deps.store,
        None,
        shutdown.token(),
    )
    .map_err(|e| ServeError::task("copilot enterprise client", e))?;
    let jobs = Arc::new(
        job::JobContext::new(
            deps.store,
            orgs,
            Attribution::from_config(&config.github),
            config.backfill.max_message_age.get(),
            config.rate_limit.min_remaining_threshold.into(),
        )
        .with_copilot(copilot)
        .with_pull_flow(
            config
                .pull_requests
                .enabled
                .then(|| ghstats_store::FlowRules::from_config(&config.pull_requests)),
        ),
    );
    let counts = Arc::new(consume::Counts::default());
    let gate = Arc::new(gate::Gate::default());
    // With `backfill.enabled: false` the worker takes no job (the
    // scheduler enqueues none) and says so.
    let consumers = if config.backfill.enabled {
        consume::spawn_gated(
            config.backfill.consumer_count,
            jobs,
            deps.queue.clone(),
            counts.clone(),
            gate.clone(),
            &shutdown,
        );
        config.backfill.consumer_count
    } else {
        host.health.set_info(
            "backfill",
            "disabled (backfill.enabled: false): no job is taken",
        );
        0
    };
    let admin_token = config.services.admin_token_value()?;
    let control = control::ControlService {
        identity: ghstats_core::identity::instance_identity(SERVICE),
        consumers,
        counts,
        gate,
        queue: deps.queue,
        admin_token,
        health: host.health.clone(),
        intake,
    };
    host.grpc.add_service(WorkerControlServer::new(control));
    host.serve(listeners, shutdown).await
}

/// Starts the webhook intake on `listener` (else `webhooks.listen_addr`)
/// as the named task `webhook_intake`, with its counter flush.
async fn start_intake(
    config: &Config,
    store: &Arc<dyn Store>,
    orgs: &HashMap<String, (ghstats_config::OrgConfig, ghstats_github::GithubClient)>,
    host: &mut ServiceHost,
    listener: Option<tokio::net::TcpListener>,
    shutdown: &Shutdown,
) -> Result<(Arc<webhook::Intake>, String), ServeError> {
    let intake = Arc::new(
        webhook::Intake::new(config, store.clone(), orgs)
            .map_err(|e| ServeError::task("webhook intake", e))?,
    );
    let listener = match listener {
        Some(l) => l,
        None => ghstats_runtime::listeners::bind(config.webhooks.listen_addr.socket_addr()).await?,
    };
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::task("webhook listener", e))?;
    host.metrics.registry_mut().register_with_unit(
        "gh_exporter_webhook_event_lag",
        "Time from what a webhook delivery reports to its store write",
        prometheus_client::registry::Unit::Seconds,
        intake.lag.clone(),
    );
    host.health
        .register(webhook::INTAKE_COMPONENT, Readiness::Required);
    host.health
        .set_info("webhooks", format!("intake on {addr}{}", webhook::PATH));
    let router = intake.clone().router();
    shutdown.spawn(
        "webhook_intake",
        ghstats_runtime::http::serve(listener, router, shutdown.clone()),
    );
    host.health.set_healthy(webhook::INTAKE_COMPONENT);
    tracing::info!(%addr, path = webhook::PATH, "webhook intake listening");
    let flushing = intake.clone();
    shutdown.spawn_every(
        "webhook_counter_flush",
        webhook::COUNTER_FLUSH_INTERVAL,
        move || {
            let intake = flushing.clone();
            async move { intake.flush().await }
        },
    );
    // What was counted since the last flush is written on the way out.
    let stop = shutdown.clone();
    let last = intake.clone();
    shutdown.spawn("webhook_final_flush", async move {
        stop.triggered().await;
        last.flush().await;
        Ok::<(), std::convert::Infallible>(())
    });
    Ok((intake, format!("{addr}{}", webhook::PATH)))
}
