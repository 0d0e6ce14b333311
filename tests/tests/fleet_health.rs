//! The gateway's `/healthz?full=1`: every scheduler and worker replica from
//! the config, the leader and its term, and `degraded` naming the replica
//! that stopped answering; plain `/healthz` stays local.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_runtime::ServiceListeners;
use ghstats_store::{MemoryStore, Store, StoreSettings};
use ghstats_testkit::{eventually, world};
use serde_json::Value;

/// The `/healthz` document (null while the gateway is not up yet).
async fn healthz(addr: std::net::SocketAddr, query: &str) -> Value {
    match reqwest::get(format!("http://{addr}/healthz{query}")).await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    }
}

mod fleet;

use fleet::{fleet_world, spawn_scheduler, spawn_worker};

#[tokio::test]
async fn full_health_reports_every_replica_and_degrades_on_a_stopped_worker() {
    let shutdown = Shutdown::new();
    let scheduler_l = ServiceListeners::ephemeral().await.unwrap();
    let worker_a = ServiceListeners::ephemeral().await.unwrap();
    let worker_b = ServiceListeners::ephemeral().await.unwrap();
    let gateway_l = ServiceListeners::ephemeral().await.unwrap();
    let (s_grpc, a_grpc, b_grpc) = (
        scheduler_l.grpc_addr(),
        worker_a.grpc_addr(),
        worker_b.grpc_addr(),
    );
    let gateway = gateway_l.http_addr();
    let w = fleet_world(&shutdown, &[s_grpc], &[a_grpc, b_grpc]);
    let config = (*w.config).clone();
    let store: Arc<dyn Store> =
        Arc::new(MemoryStore::new(StoreSettings::from_config(&config.store)));
    spawn_scheduler(&config, &store, scheduler_l, &shutdown);
    spawn_worker(&config, &store, worker_a, &shutdown);
    let worker_b_shutdown = shutdown.child();
    let stopped_b = spawn_worker(&config, &store, worker_b, &worker_b_shutdown);
    tokio::spawn(ghstats_gateway::serve_with(
        config,
        store,
        gateway_l,
        shutdown.clone(),
    ));

    let healthy = eventually(Duration::from_secs(15), || async {
        healthz(gateway, "?full=1").await["fleet"]["mode"] == "healthy"
    })
    .await;
    let full = healthz(gateway, "?full=1").await;
    assert!(healthy, "{full:#}");
    assert_eq!(full["fleet"]["leader"], "sched-1");
    let peers = full["fleet"]["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 3, "{full:#}");
    assert!(peers.iter().all(|p| p["status"] == "healthy"));
    assert!(
        healthz(gateway, "").await.get("fleet").is_none(),
        "plain /healthz stays local"
    );

    worker_b_shutdown.trigger();
    stopped_b.await.unwrap().unwrap();
    let full = healthz(gateway, "?full=1").await;
    assert_eq!(full["mode"], "degraded", "{full:#}");
    assert_eq!(full["fleet"]["mode"], "degraded");
    let down: Vec<&Value> = full["fleet"]["peers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "unreachable")
        .collect();
    assert_eq!(down.len(), 1, "{full:#}");
    assert_eq!(down[0]["service"], "worker");
    assert_eq!(
        down[0]["endpoint"],
        b_grpc.to_string(),
        "names the stopped worker"
    );
    shutdown.trigger();
}

/// A failing Copilot report download degrades the scheduler (never its
/// readiness), and the gateway's fleet view says so and why.
#[tokio::test]
async fn a_failing_copilot_download_shows_in_the_fleet_view() {
    let shutdown = Shutdown::new();
    let scheduler_l = ServiceListeners::ephemeral().await.unwrap();
    let gateway_l = ServiceListeners::ephemeral().await.unwrap();
    let (s_grpc, s_http, gateway) = (
        scheduler_l.grpc_addr(),
        scheduler_l.http_addr(),
        gateway_l.http_addr(),
    );
    let w = world(
        &shutdown,
        &format!(
            "leader_election:\n  enabled: false\n  identity: sched-1\n\
             services:\n  peer_timeout: 500ms\n  scheduler:\n    endpoints: [\"http://{s_grpc}\"]\n  worker:\n    endpoints: []\n\
             copilot:\n  enabled: true\n  download_host_allowlist: [localhost]\n"
        ),
    );
    w.sim.set_fault(ghstats_simulator::FaultRule {
        endpoint: "copilot_report_download".into(),
        status: 500,
        fail_every: 1,
        ..Default::default()
    });
    let config = (*w.config).clone();
    let store: Arc<dyn Store> =
        Arc::new(MemoryStore::new(StoreSettings::from_config(&config.store)));
    spawn_scheduler(&config, &store, scheduler_l, &shutdown);
    tokio::spawn(ghstats_gateway::serve_with(
        config,
        store,
        gateway_l,
        shutdown.clone(),
    ));
    let degraded = eventually(Duration::from_secs(15), || async {
        let full = healthz(gateway, "?full=1").await;
        full["fleet"]["peers"][0]["status"] == "degraded"
    })
    .await;
    let full = healthz(gateway, "?full=1").await;
    assert!(degraded, "{full:#}");
    let reason = full["fleet"]["peers"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("github_copilot_report_download"),
        "{reason}"
    );
    assert!(reason.contains("500"), "{reason}");
    assert_eq!(full["fleet"]["mode"], "degraded");
    let scheduler = healthz(s_http, "").await;
    assert_eq!(
        scheduler["ready"], true,
        "degraded, still ready: {scheduler:#}"
    );
    assert_eq!(
        scheduler["components"]["github_copilot_report_download"]["status"],
        "degraded"
    );
    shutdown.trigger();
}
