//! `SchedulerControl` over gRPC: status is open; admin calls need the
//! token (UNAUTHENTICATED without it) and the leader role (a follower
//! answers FAILED_PRECONDITION); pause, resume and trigger act on the org.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ghstats_proto::v1::scheduler_control_client::SchedulerControlClient;
use ghstats_proto::v1::{GetSchedulerStatusRequest, OrgRequest, Role, TriggerScrapeRequest};
use ghstats_queue::MemoryProducer;
use ghstats_runtime::{ServiceListeners, Shutdown};
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator};
use ghstats_store::{MemoryStore, StoreSettings};
use tonic::transport::Channel;
use tonic::{Code, Request};

const ADMIN: &str = "admin-s3cret";

async fn scheduler(
    sim: &Simulator,
    dir: &std::path::Path,
    extra: &str,
    shutdown: &Shutdown,
) -> SchedulerControlClient<Channel> {
    let token = dir.join("token");
    std::fs::write(&token, DEMO_TOKEN).unwrap();
    let admin = dir.join("admin");
    std::fs::write(&admin, ADMIN).unwrap();
    let yaml = format!(
        "services:\n  admin_token_file: {}\ngithub:\n  orgs:\n    - org: org-a\n      token_file: {}\n      api_base_url: {}\n{extra}",
        admin.display(),
        token.display(),
        sim.api_base()
    );
    let config = ghstats_config::load_str(&yaml, "t.yaml", Vec::new()).unwrap();
    let store = Arc::new(MemoryStore::new(StoreSettings::from_config(&config.store)));
    let deps = ghstats_scheduler::Deps {
        store,
        backfill: Arc::new(MemoryProducer::default()),
        queue: None,
    };
    let listeners = ServiceListeners::ephemeral().await.unwrap();
    let grpc = listeners.grpc_addr();
    tokio::spawn(ghstats_scheduler::serve_with(
        config,
        deps,
        listeners,
        shutdown.clone(),
    ));
    for _ in 0..200 {
        if let Ok(c) = SchedulerControlClient::connect(format!("http://{grpc}")).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("scheduler gRPC never came up");
}

fn with_token<T>(msg: T, token: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

#[tokio::test]
async fn status_is_open_and_admin_calls_need_token_and_leadership() {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(SimConfig::default(), listener, &shutdown).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut leader = scheduler(
        &sim,
        dir.path(),
        "leader_election:\n  enabled: false\n  identity: sched-a\n",
        &shutdown,
    )
    .await;

    let status = leader
        .get_status(GetSchedulerStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.role, Role::Leader as i32);
    assert_eq!(status.identity, "sched-a");
    assert_eq!(status.orgs.len(), 1);

    let org = || OrgRequest {
        org: "org-a".into(),
    };
    assert_eq!(
        leader.pause_org(org()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        leader
            .pause_org(with_token(org(), "wrong"))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert!(
        leader
            .pause_org(with_token(org(), ADMIN))
            .await
            .unwrap()
            .into_inner()
            .paused
    );
    let status = leader
        .get_status(GetSchedulerStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(status.orgs[0].paused);
    assert!(
        !leader
            .resume_org(with_token(org(), ADMIN))
            .await
            .unwrap()
            .into_inner()
            .paused
    );
    let unknown = leader
        .pause_org(with_token(OrgRequest { org: "nope".into() }, ADMIN))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    let started = leader
        .trigger_scrape(with_token(
            TriggerScrapeRequest {
                org: "org-a".into(),
            },
            ADMIN,
        ))
        .await
        .unwrap();
    assert!(started.into_inner().started);
    let mut ran = false;
    for _ in 0..300 {
        let status = leader
            .get_status(GetSchedulerStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if !status.orgs[0].last_result.is_empty() {
            ran = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ran, "a cycle ran");

    // A follower refuses leader-only calls and names itself.
    let dir = tempfile::tempdir().unwrap();
    let mut follower = scheduler(
        &sim,
        dir.path(),
        "leader_election:\n  backend: kubernetes\n  identity: sched-b\n",
        &shutdown,
    )
    .await;
    let status = follower
        .get_status(GetSchedulerStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.role, Role::Follower as i32);
    let refused = follower
        .pause_org(with_token(org(), ADMIN))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("sched-b is not the leader"),
        "{}",
        refused.message()
    );
    shutdown.trigger();
}
