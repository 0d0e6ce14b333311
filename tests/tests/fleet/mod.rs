//! A fleet in one test process, for the cross-service tests: a static
//! leader and workers on memory queues, served through their real
//! `serve_with`, and the config that makes a gateway see them.

use std::net::SocketAddr;
use std::sync::Arc;

use ghstats_backfill::MemoryProducer;
use ghstats_config::Config;
use ghstats_core::Shutdown;
use ghstats_queue::{JobQueue, MemoryQueue};
use ghstats_runtime::{ServeError, ServiceListeners};
use ghstats_store::Store;
use ghstats_testkit::{World, world};

/// The simulated world, with `sched-1` as the static leader and the
/// gateway's fleet view pointed at `schedulers` and `workers` (gRPC).
pub fn fleet_world(
    shutdown: &Shutdown,
    schedulers: &[SocketAddr],
    workers: &[SocketAddr],
) -> World {
    let urls = |addrs: &[SocketAddr]| {
        addrs
            .iter()
            .map(|a| format!("\"http://{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    world(
        shutdown,
        &format!(
            "leader_election:\n  enabled: false\n  identity: sched-1\n\
             services:\n  peer_timeout: 500ms\n  scheduler:\n    endpoints: [{}]\n  worker:\n    endpoints: [{}]\n",
            urls(schedulers),
            urls(workers)
        ),
    )
}

/// A scheduler on `store`, with a memory backfill.
pub fn spawn_scheduler(
    config: &Config,
    store: &Arc<dyn Store>,
    listeners: ServiceListeners,
    shutdown: &Shutdown,
) {
    let deps = ghstats_scheduler::Deps {
        link: None,
        store: store.clone(),
        backfill: Arc::new(MemoryProducer::default()),
        queue: None,
        lease: None,
    };
    tokio::spawn(ghstats_scheduler::serve_with(
        config.clone(),
        deps,
        listeners,
        shutdown.clone(),
    ));
}

/// A worker on `store`, consuming a memory queue of its own names.
pub fn spawn_worker(
    config: &Config,
    store: &Arc<dyn Store>,
    listeners: ServiceListeners,
    shutdown: &Shutdown,
) -> tokio::task::JoinHandle<Result<(), ServeError>> {
    let queue: Arc<dyn JobQueue> = Arc::new(MemoryQueue::new(ghstats_testkit::unique_topology(
        config, "fleet",
    )));
    let deps = ghstats_worker::Deps {
        link: None,
        store: store.clone(),
        queue,
    };
    tokio::spawn(ghstats_worker::serve_with(
        config.clone(),
        deps,
        listeners,
        shutdown.clone(),
    ))
}
