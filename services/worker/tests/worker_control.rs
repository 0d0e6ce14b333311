//! `WorkerControl` over gRPC: status is open; drain and resume need the
//! admin token; a drained worker takes no job until it is resumed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ghstats_backfill::BackfillRequest;
use ghstats_core::Shutdown;
use ghstats_proto::v1::worker_control_client::WorkerControlClient;
use ghstats_proto::v1::{DrainRequest, GetWorkerStatusRequest, ResumeRequest};
use ghstats_proto::{BackfillReason, TimeWindow};
use ghstats_queue::{JobQueue, MemoryQueue};
use ghstats_runtime::ServiceListeners;
use ghstats_store::{MemoryStore, Store, StoreSettings};
use ghstats_testkit::{eventually, world};
use tonic::{Code, Request};

const ADMIN: &str = "worker-admin-token";

fn with_token<T>(msg: T) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {ADMIN}").parse().unwrap());
    req
}

#[tokio::test]
async fn a_drained_worker_takes_no_job_until_resumed() {
    let shutdown = Shutdown::new();
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("admin");
    std::fs::write(&admin, ADMIN).unwrap();
    let w = world(
        &shutdown,
        &format!(
            "services:\n  admin_token_file: {}\nbackfill:\n  consumer_count: 2\n",
            admin.display()
        ),
    );
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &w.config.store,
    )));
    let queue = Arc::new(MemoryQueue::new(ghstats_testkit::unique_topology(
        &w.config, "wc",
    )));
    let listeners = ServiceListeners::ephemeral().await.unwrap();
    let grpc = listeners.grpc_addr();
    let deps = ghstats_worker::Deps {
        link: None,
        store,
        queue: queue.clone(),
    };
    tokio::spawn(ghstats_worker::serve_with(
        (*w.config).clone(),
        deps,
        listeners,
        shutdown.clone(),
    ));
    let mut client = None;
    for _ in 0..200 {
        if let Ok(c) = WorkerControlClient::connect(format!("http://{grpc}")).await {
            client = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut client = client.expect("worker gRPC came up");

    let status = client
        .get_status(GetWorkerStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((status.consumers, status.draining), (2, false));
    assert_eq!(
        client.drain(DrainRequest {}).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let drained = client
        .drain(with_token(DrainRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(drained.draining);

    let now = w.sim.now();
    let job = BackfillRequest {
        org: "org-a".into(),
        repo: "repo-000".into(),
        window: TimeWindow::ordered(now - chrono::Duration::hours(1), now),
        reason: BackfillReason::ScrapeError,
    }
    .into_job("while-drained".into(), 3, Utc::now());
    queue.publish(&job).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = client
        .get_status(GetWorkerStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.processed, 0, "no job taken while drained");
    assert_eq!(queue.depth(), 1);

    let resumed = client
        .resume(with_token(ResumeRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(!resumed.draining);
    let processed = eventually(Duration::from_secs(10), || {
        let mut c = client.clone();
        async move {
            c.get_status(GetWorkerStatusRequest {})
                .await
                .is_ok_and(|s| s.into_inner().processed == 1)
        }
    })
    .await;
    assert!(processed, "the job ran after the resume");
    shutdown.trigger();
}

#[tokio::test]
async fn with_backfill_disabled_a_worker_takes_no_job_and_says_why() {
    let shutdown = Shutdown::new();
    let w = world(&shutdown, "backfill:\n  enabled: false\n");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &w.config.store,
    )));
    let queue = Arc::new(MemoryQueue::new(ghstats_testkit::unique_topology(
        &w.config, "wd",
    )));
    let listeners = ServiceListeners::ephemeral().await.unwrap();
    let (grpc, http) = (listeners.grpc_addr(), listeners.http_addr());
    let deps = ghstats_worker::Deps {
        link: None,
        store,
        queue: queue.clone(),
    };
    tokio::spawn(ghstats_worker::serve_with(
        (*w.config).clone(),
        deps,
        listeners,
        shutdown.clone(),
    ));
    let now = w.sim.now();
    let job = BackfillRequest {
        org: "org-a".into(),
        repo: "repo-000".into(),
        window: TimeWindow::ordered(now - chrono::Duration::hours(1), now),
        reason: BackfillReason::ScrapeError,
    }
    .into_job("while-disabled".into(), 3, Utc::now());
    queue.publish(&job).await.unwrap();
    let up = eventually(Duration::from_secs(10), || async move {
        WorkerControlClient::connect(format!("http://{grpc}"))
            .await
            .is_ok()
    })
    .await;
    assert!(up, "worker gRPC came up");
    let mut client = WorkerControlClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = client
        .get_status(GetWorkerStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((status.consumers, status.processed), (0, 0));
    assert_eq!(queue.depth(), 1, "the job stays queued");
    let health = reqwest::get(format!("http://{http}/healthz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(health.contains("\"backfill\":\"disabled"), "{health}");
    assert!(health.contains("\"ready\":true"), "{health}");
    shutdown.trigger();
}
