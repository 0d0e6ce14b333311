//! Health that tells the truth while the store is away: a scheduler and a
//! worker on a Redis of their own; when it is killed both say so in
//! `/healthz` (the `store` component, with the reason), stop being ready
//! (the store is required for either role) and show it in the gateway's
//! fleet view within seconds; once Redis is back (from its append-only
//! file) they are healthy and ready again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_runtime::ServiceListeners;
use ghstats_store::{MemoryStore, RedisAuth, RedisStore, RedisTarget, Store, StoreSettings};
use ghstats_testkit::{OwnRedis, eventually, spare_port};
use serde_json::Value;

async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    match reqwest::get(format!("http://{addr}{path}")).await {
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        Err(_) => (0, Value::Null),
    }
}

/// Whether `/healthz` of `addr` has the store `status`, and `/readyz` says `ready`.
async fn store_is(addr: SocketAddr, status: &str, ready: u16) -> bool {
    let (_, health) = get(addr, "/healthz").await;
    health["components"]["store"]["status"] == status && get(addr, "/readyz").await.0 == ready
}

mod fleet;

use fleet::{fleet_world, spawn_scheduler, spawn_worker};

#[tokio::test]
async fn services_say_the_store_is_away_and_recover_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let port = spare_port();
    let redis = OwnRedis::start(port, dir.path());
    let shutdown = Shutdown::new();
    let (scheduler_l, worker_l, gateway_l) = (
        ServiceListeners::ephemeral().await.unwrap(),
        ServiceListeners::ephemeral().await.unwrap(),
        ServiceListeners::ephemeral().await.unwrap(),
    );
    let (s_http, w_http, g_http) = (
        scheduler_l.http_addr(),
        worker_l.http_addr(),
        gateway_l.http_addr(),
    );
    let (s_grpc, w_grpc) = (scheduler_l.grpc_addr(), worker_l.grpc_addr());
    let w = fleet_world(&shutdown, &[s_grpc], &[w_grpc]);
    let config = (*w.config).clone();
    let settings = StoreSettings {
        prefix: format!("{}:", ghstats_testkit::unique("outage")),
        ..StoreSettings::from_config(&config.store)
    };
    let target = RedisTarget::Standalone {
        addr: format!("127.0.0.1:{port}"),
        tls: false,
    };
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::connect(&target, &RedisAuth::default(), settings.clone())
            .await
            .unwrap(),
    );
    spawn_scheduler(&config, &store, scheduler_l, &shutdown);
    spawn_worker(&config, &store, worker_l, &shutdown);
    // The gateway reads a store of its own, so only the fleet view moves.
    tokio::spawn(ghstats_gateway::serve_with(
        config,
        Arc::new(MemoryStore::new(settings)),
        gateway_l,
        shutdown.clone(),
    ));
    for addr in [s_http, w_http] {
        assert!(
            eventually(Duration::from_secs(15), || store_is(addr, "healthy", 200)).await,
            "{:#}",
            get(addr, "/healthz").await.1
        );
    }

    redis.kill();
    for addr in [s_http, w_http] {
        assert!(
            eventually(Duration::from_secs(10), || store_is(addr, "unhealthy", 503)).await,
            "{:#}",
            get(addr, "/healthz").await.1
        );
        let (_, health) = get(addr, "/healthz").await;
        let reason = health["components"]["store"]["reason"].as_str().unwrap();
        assert!(reason.starts_with("store unreachable"), "{reason}");
        assert_eq!(health["mode"], "unhealthy");
    }
    let fleet_says = eventually(Duration::from_secs(10), || async {
        let (_, full) = get(g_http, "/healthz?full=1").await;
        full["fleet"]["peers"].as_array().is_some_and(|peers| {
            peers.len() == 2
                && peers.iter().all(|p| {
                    p["status"] != "healthy"
                        && p["reason"]
                            .as_str()
                            .is_some_and(|r| r.contains("store unreachable"))
                })
        })
    })
    .await;
    assert!(fleet_says, "{:#}", get(g_http, "/healthz?full=1").await.1);

    let _redis = OwnRedis::start(port, dir.path());
    for addr in [s_http, w_http] {
        assert!(
            eventually(Duration::from_secs(15), || store_is(addr, "healthy", 200)).await,
            "{:#}",
            get(addr, "/healthz").await.1
        );
    }
    shutdown.trigger();
}
