//! `GatewayControl` over gRPC: the cache status is open and tracks the
//! store; a resync needs the admin token and reloads without ever
//! serving an empty body.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ghstats_core::Shutdown;
use ghstats_proto::v1::gateway_control_client::GatewayControlClient;
use ghstats_proto::v1::{GetCacheStatusRequest, ResyncRequest};
use ghstats_runtime::ServiceListeners;
use ghstats_store::{Family, MemoryStore, SeriesKey, Store, StoreSettings, WriteCtx};
use tonic::{Code, Request};

const ADMIN: &str = "gateway-admin";

#[tokio::test]
async fn cache_status_is_open_and_resync_needs_the_token() {
    let shutdown = Shutdown::new();
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("admin");
    std::fs::write(&admin, ADMIN).unwrap();
    let yaml = format!("services:\n  admin_token_file: {}\n", admin.display());
    let config = ghstats_config::load_str(&yaml, "t.yaml", Vec::new()).unwrap();
    let store: Arc<dyn Store> =
        Arc::new(MemoryStore::new(StoreSettings::from_config(&config.store)));
    let gauges = [(SeriesKey::new(Family::ScrapeDuration, ["org-a"]), 1.5)];
    store
        .set_gauges(WriteCtx::leader(0), &gauges, Utc::now())
        .await
        .unwrap();
    let listeners = ServiceListeners::ephemeral().await.unwrap();
    let grpc = listeners.grpc_addr();
    let http = listeners.http_addr();
    let full_loads = || async move {
        let body = reqwest::get(format!("http://{http}/metrics/process"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.lines()
            .find(|l| l.starts_with("gh_exporter_metrics_cache_full_loads_total"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    tokio::spawn(ghstats_gateway::serve_with(
        config,
        store,
        listeners,
        shutdown.clone(),
    ));
    let mut client = None;
    for _ in 0..200 {
        if let Ok(c) = GatewayControlClient::connect(format!("http://{grpc}")).await {
            client = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut client = client.expect("gateway gRPC came up");
    let mut status = None;
    for _ in 0..200 {
        let s = client
            .get_cache_status(GetCacheStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if s.ready {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = status.expect("the cache became ready");
    assert_eq!(status.series_loaded, 1);
    let first = status.last_refresh_at.expect("caught up once").seconds;
    assert_eq!(full_loads().await, 1.0);

    assert_eq!(
        client.resync(ResyncRequest {}).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut req = Request::new(ResyncRequest {});
    req.metadata_mut()
        .insert("authorization", format!("Bearer {ADMIN}").parse().unwrap());
    let during = client.resync(req).await.unwrap().into_inner();
    assert_eq!(
        during.series_loaded, 1,
        "the old body is served until the new one is built"
    );
    let after = client
        .get_cache_status(GetCacheStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(after.ready);
    assert!(after.last_refresh_at.unwrap().seconds >= first);
    let mut reloaded = false;
    for _ in 0..200 {
        if full_loads().await == 2.0 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reloaded, "the resync reloaded the cache fully");
    shutdown.trigger();
}
