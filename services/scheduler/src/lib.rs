//! The scheduler service: one replica leads and runs one controller per
//! org (its own interval, concurrency, credentials, rate-limit state and
//! GitHub cooldown) and the store GC; the others stand by. It serves health
//! and its process metrics over HTTP, and `grpc.health.v1` over gRPC.

pub mod control;
pub mod cooldown;
pub mod enqueue;
pub mod leader;
pub mod org_loop;
pub mod redeliver;
pub mod role;

use std::net::SocketAddr;
use std::sync::Arc;

use ghstats_core::Tenure;

use crate::enqueue::{EnqueueSettings, Enqueuer};
use ghstats_backfill::BackfillProducer;
use ghstats_config::Config;
use ghstats_core::Shutdown;
use ghstats_core::health::{ComponentStatus, Readiness};
use ghstats_election::ElectionMetrics;
use ghstats_proto::Role;
use ghstats_proto::v1::scheduler_control_server::SchedulerControlServer;
use ghstats_queue::{JobQueue, RabbitQueue};
use ghstats_runtime::{ServeError, ServiceHost, ServiceListeners};
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
    /// Where missed windows go.
    pub backfill: Arc<dyn BackfillProducer>,
    /// The queue the leader measures (depth, oldest age).
    pub queue: Option<Arc<dyn JobQueue>>,
    /// The lease to elect over; `None`: the one `leader_election` names.
    pub lease: Option<ghstats_election::LeaseSource>,
    /// The RabbitMQ link whose state the health follows, when the queue is RabbitMQ.
    pub link: Option<RabbitQueue>,
}

/// Health component of the backfill queue.
pub const QUEUE_COMPONENT: &str = "queue";

/// Serves until `shutdown`, with dependencies built from the config.
pub async fn serve(
    config: Config,
    listeners: ServiceListeners,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let store = ghstats_store::from_config(&config.store)
        .await
        .map_err(|e| ServeError::task("store", e))?;
    let rabbit = RabbitQueue::from_config(&config)?;
    let queue: Arc<dyn JobQueue> = Arc::new(rabbit.clone());
    let enqueuer = Arc::new(Enqueuer::new(
        queue.clone(),
        store.clone(),
        EnqueueSettings::from_config(&config),
    ));
    enqueuer.start_sweeping(&shutdown);
    let deps = Deps {
        store,
        backfill: enqueuer,
        queue: Some(queue),
        lease: None,
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
    let config = Arc::new(config);
    let mut host = ServiceHost::new(SERVICE, "/metrics");
    host.use_grpc_tls(&config.services.grpc_tls)?;
    let election_metrics = ElectionMetrics::default();
    election_metrics.register(host.metrics.registry_mut());
    let health = host.health.clone();
    if let Some(rabbit) = rabbit {
        // Missed windows wait in the pending list while RabbitMQ is away;
        // with `allow_memory_fallback` that is reported degraded (and the
        // replica stays ready), otherwise the replica is not ready.
        let (readiness, when_down) = if config.backfill.allow_memory_fallback {
            (Readiness::Informational, ComponentStatus::Degraded)
        } else {
            (Readiness::Required, ComponentStatus::Unhealthy)
        };
        health.register(QUEUE_COMPONENT, readiness);
        rabbit.keep_connected(&health, QUEUE_COMPONENT, when_down, &shutdown);
    }
    match deps.store.ping().await {
        Ok(()) => health.set_healthy(ghstats_store::STORE_COMPONENT),
        Err(e) => health.set(
            ghstats_store::STORE_COMPONENT,
            ComponentStatus::Unhealthy,
            format!("store unreachable: {e}"),
        ),
    }
    ghstats_store::watch_store_health(deps.store.clone(), &health, &shutdown);
    let startup = role::settle(&config, &health)?;
    // Elected leaders act only within their lease tenure; a static one always.
    let tenure = match startup {
        role::Startup::Static(_) => Tenure::default(),
        role::Startup::RedisLease | role::Startup::KubeLease => Tenure::elected(),
    };
    let controllers =
        leader::controllers(&config, &deps.store, &deps.backfill, &tenure, &shutdown)?;
    let work = leader::LeaderWork {
        controllers: controllers.clone(),
        store: deps.store.clone(),
        aging_interval: config.store.metric_refresh_interval.get(),
        queue: deps.queue.clone(),
        copilot_components: leader::copilot_components(&config),
        probe_interval: config.health.github_probe_interval.get(),
        redelivery: (config.webhooks.enabled && config.webhooks.redelivery_enabled).then(|| {
            (
                config.webhooks.redelivery_interval.get(),
                config.webhooks.redelivery_lookback.get(),
            )
        }),
    };
    let leadership = Arc::new(control::Leadership::default());
    if startup != role::Startup::Static(Role::Follower) {
        health.register("scheduler", Readiness::Required);
        match startup {
            role::Startup::Static(_) => {
                let (store, leadership, health, metrics, stop) = (
                    deps.store.clone(),
                    leadership.clone(),
                    health.clone(),
                    election_metrics.clone(),
                    shutdown.clone(),
                );
                let retry = ghstats_core::retry::RetryPolicy::from(&config.retry);
                let orgs = controllers.len();
                shutdown.spawn("static_leader", async move {
                    // The store's term, not a guess: a static leader that
                    // wrote as term 0 would be fenced once the term rose.
                    let term = read_term(&*store, &retry, &stop).await?;
                    leadership.set(true, term);
                    work.start(term, &health, &stop.child());
                    metrics.is_leader.set(1);
                    tracing::info!(orgs, term, "leading: org controllers started");
                    Ok::<(), &'static str>(())
                });
            }
            role::Startup::RedisLease | role::Startup::KubeLease => {
                role::spawn_election(
                    &config,
                    deps.lease.clone().unwrap_or_else(|| {
                        ghstats_election::LeaseSource::from_config(&config, &deps.store)
                    }),
                    role::Candidate {
                        work,
                        health: health.clone(),
                        leadership: leadership.clone(),
                        metrics: election_metrics.clone(),
                        tenure,
                    },
                    &shutdown,
                );
            }
        }
        health.set_healthy("scheduler");
    }
    let admin_token = config.services.admin_token_value()?;
    let control = control::ControlService {
        identity: role::identity(&config),
        leadership,
        controllers,
        admin_token,
        backfill: deps.backfill.clone(),
        health: health.clone(),
    };
    host.grpc.add_service(SchedulerControlServer::new(control));
    host.serve(listeners, shutdown).await
}

/// The store's current lease term, asked until the store answers (or the
/// process shuts down).
async fn read_term(
    store: &dyn Store,
    retry: &ghstats_core::retry::RetryPolicy,
    shutdown: &Shutdown,
) -> Result<u64, &'static str> {
    let mut attempt = 0;
    loop {
        match store.current_term().await {
            Ok(term) => return Ok(term),
            Err(e) => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "cannot read the lease term; not leading yet");
            }
        }
        if !shutdown.sleep(retry.backoff(attempt)).await {
            return Err("shut down before the store answered");
        }
    }
}
