//! The all-in-one process serves health on every service, over HTTP and
//! `grpc.health.v1`, and stops cleanly on shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_standalone::Listeners;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

struct Running {
    gateway: (SocketAddr, SocketAddr),
    scheduler: (SocketAddr, SocketAddr),
    worker: (SocketAddr, SocketAddr),
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), ghstats_runtime::ServeError>>,
}

async fn start() -> Running {
    let listeners = Listeners::ephemeral().await.unwrap();
    let pair = |l: &ghstats_runtime::ServiceListeners| (l.http_addr(), l.grpc_addr());
    let (gateway, scheduler, worker) = (
        pair(&listeners.gateway),
        pair(&listeners.scheduler),
        pair(&listeners.worker),
    );
    let config = ghstats_config::load_str("", "test", Vec::new()).unwrap();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(ghstats_standalone::serve(
        config,
        listeners,
        shutdown.clone(),
    ));
    Running {
        gateway,
        scheduler,
        worker,
        shutdown,
        task,
    }
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let resp = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The HTTP server answers as soon as the socket is bound; wait for it to
/// report ready rather than sleeping a fixed time.
async fn wait_ready(addr: SocketAddr) {
    for _ in 0..200 {
        if get(addr, "/readyz").await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{addr} never became ready");
}

#[tokio::test]
async fn every_service_serves_health_over_http() {
    let run = start().await;
    for (name, (http, _)) in [
        ("gateway", run.gateway),
        ("scheduler", run.scheduler),
        ("worker", run.worker),
    ] {
        wait_ready(http).await;
        assert_eq!(get(http, "/livez").await, (200, "ok\n".into()));
        let (status, body) = get(http, "/healthz").await;
        assert_eq!(status, 200);
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["service"], name, "{doc}");
        assert_eq!(doc["mode"], "healthy", "{doc}");
        assert_eq!(doc["ready"], true, "{doc}");
        assert_eq!(
            doc["components"]["http_server"]["status"], "healthy",
            "{doc}"
        );
        assert_eq!(
            get(http, "/no/such/page").await,
            (404, "not found\n".into())
        );
    }
    // The standalone scheduler is a static leader.
    let (_, body) = get(run.scheduler.0, "/healthz").await;
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["role"], "leader");
    run.shutdown.trigger();
    run.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn process_metrics_are_served_where_documented() {
    let run = start().await;
    wait_ready(run.worker.0).await;
    let (status, body) = get(run.worker.0, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("ghstats_build_info{service=\"worker\""),
        "{body}"
    );
    assert!(body.contains("process_resident_memory_bytes"), "{body}");
    // The gateway keeps /metrics for the shared exposition.
    let (status, body) = get(run.gateway.0, "/metrics/process").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("ghstats_build_info{service=\"gateway\""),
        "{body}"
    );
    run.shutdown.trigger();
    run.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn grpc_health_reports_each_service_and_component() {
    let run = start().await;
    for (name, (http, grpc)) in [
        ("gateway", run.gateway),
        ("scheduler", run.scheduler),
        ("worker", run.worker),
    ] {
        wait_ready(http).await;
        let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = HealthClient::new(channel);
        for service in ["", &format!("ghstats.{name}"), "ghstats.http_server"] {
            let status = client
                .check(HealthCheckRequest {
                    service: service.to_owned(),
                })
                .await
                .unwrap()
                .into_inner()
                .status;
            assert_eq!(status, ServingStatus::Serving as i32, "{name} {service:?}");
        }
        let unknown = client
            .check(HealthCheckRequest {
                service: "ghstats.nothing".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), tonic::Code::NotFound);
    }
    run.shutdown.trigger();
    run.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_closes_every_listener() {
    let run = start().await;
    wait_ready(run.gateway.0).await;
    run.shutdown.trigger();
    run.task.await.unwrap().unwrap();
    for addr in [run.gateway.0, run.scheduler.0, run.worker.0, run.gateway.1] {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} still accepts connections"
        );
    }
}

#[tokio::test]
async fn the_leader_publishes_dependency_health_on_the_gateway() {
    let run = start().await;
    wait_ready(run.gateway.0).await;
    let mut last = String::new();
    let mut seen = false;
    for _ in 0..200 {
        last = get(run.gateway.0, "/metrics").await.1;
        if ["scheduler", "redis", "github"].iter().all(|d| {
            last.contains(&format!(
                "gh_exporter_dependency_health{{dependency=\"{d}\"}} 1"
            ))
        }) {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "{last}");
    run.shutdown.trigger();
    run.task.await.unwrap().unwrap();
}
