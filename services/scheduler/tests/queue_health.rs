//! The scheduler and RabbitMQ: with the broker unreachable the scheduler
//! is not ready (missed windows wait in memory) unless
//! `backfill.allow_memory_fallback` is set, in which case it is ready but
//! `degraded` and says why; with the broker there, the queue is healthy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_runtime::ServiceListeners;
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator};

struct Running {
    http: std::net::SocketAddr,
    config: ghstats_config::Config,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

async fn scheduler(sim: &Simulator, amqp_url: &str, fallback: bool) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, DEMO_TOKEN).unwrap();
    let unique = format!(
        "t.sched.{}.{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let yaml = format!(
        "github:\n  orgs:\n    - org: org-a\n      token_file: {}\n      api_base_url: {}\n\
         store:\n  backend: memory\nleader_election:\n  enabled: false\n\
         amqp:\n  url: {amqp_url}\n  exchange: {unique}.x\n  queue: {unique}.jobs\n  dlq: {unique}.dlq\n  retry_queue_prefix: {unique}.retry\n\
         retry:\n  initial_backoff: 10ms\n  max_backoff: 100ms\n\
         backfill:\n  allow_memory_fallback: {fallback}\n",
        token.display(),
        sim.api_base()
    );
    let config = ghstats_config::load_str(&yaml, "t.yaml", Vec::new()).unwrap();
    let listeners = ServiceListeners::ephemeral().await.unwrap();
    let http = listeners.http_addr();
    let shutdown = Shutdown::new();
    tokio::spawn(ghstats_scheduler::serve(
        config.clone(),
        listeners,
        shutdown.clone(),
    ));
    Running {
        http,
        config,
        shutdown,
        _dir: dir,
    }
}

async fn health(http: std::net::SocketAddr) -> (u16, serde_json::Value) {
    let client = reqwest::Client::new();
    let ready = client
        .get(format!("http://{http}/readyz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let body = match client.get(format!("http://{http}/healthz")).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    };
    (ready, body)
}

/// Waits until the queue component reports `status` with a reason that
/// contains `reason`; returns that view.
async fn until_queue(
    http: std::net::SocketAddr,
    status: &str,
    reason: &str,
) -> (u16, serde_json::Value) {
    for _ in 0..200 {
        let (ready, body) = health(http).await;
        let queue = &body["components"]["queue"];
        if queue["status"] == status && queue["reason"].as_str().unwrap_or("").contains(reason) {
            return (ready, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("queue never became {status}: {:?}", health(http).await);
}

fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
}

async fn simulator(shutdown: &Shutdown) -> Simulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(SimConfig::default(), listener, shutdown).unwrap()
}

#[tokio::test]
async fn unreachable_broker_makes_the_scheduler_not_ready() {
    let shutdown = Shutdown::new();
    let sim = simulator(&shutdown).await;
    let s = scheduler(&sim, &dead_url(), false).await;
    let (ready, body) = until_queue(s.http, "unhealthy", "cannot connect to RabbitMQ").await;
    assert_eq!(ready, 503, "{body}");
    s.shutdown.trigger();
    shutdown.trigger();
}

#[tokio::test]
async fn memory_fallback_keeps_the_scheduler_ready_but_degraded() {
    let shutdown = Shutdown::new();
    let sim = simulator(&shutdown).await;
    let s = scheduler(&sim, &dead_url(), true).await;
    let (ready, body) = until_queue(s.http, "degraded", "cannot connect to RabbitMQ").await;
    assert_eq!(ready, 200, "{body}");
    assert_eq!(body["mode"], "degraded", "{body}");
    s.shutdown.trigger();
    shutdown.trigger();
}

#[tokio::test]
async fn reachable_broker_is_healthy() {
    let shutdown = Shutdown::new();
    let sim = simulator(&shutdown).await;
    let url = std::env::var("GHSTATS_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let s = scheduler(&sim, &url, false).await;
    let (ready, body) = until_queue(s.http, "healthy", "").await;
    assert_eq!(ready, 200, "{body}");
    s.shutdown.trigger();
    let declared = ghstats_queue::RabbitQueue::from_config(&s.config).unwrap();
    declared.delete_topology().await.unwrap();
    shutdown.trigger();
}
