//! `SchedulerControl` over gRPC: status is open; admin calls need the
//! token (UNAUTHENTICATED without it) and the leader role (a follower
//! answers FAILED_PRECONDITION); pause, resume and trigger act on the org.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_proto::timestamp_to_proto;
use ghstats_proto::v1::scheduler_control_client::SchedulerControlClient;
use ghstats_proto::v1::{
    GetSchedulerStatusRequest, OrgRequest, RequestBackfillRequest, Role, TriggerScrapeRequest,
};
use ghstats_queue::{JobQueue, MemoryQueue, Topology};
use ghstats_runtime::ServiceListeners;
use ghstats_scheduler::enqueue::{EnqueueSettings, Enqueuer};
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator};
use ghstats_store::{MemoryStore, Store, StoreSettings};
use tonic::transport::Channel;
use tonic::{Code, Request};

const ADMIN: &str = "admin-s3cret";

async fn scheduler(
    sim: &Simulator,
    dir: &std::path::Path,
    extra: &str,
    shutdown: &Shutdown,
) -> (SchedulerControlClient<Channel>, std::net::SocketAddr) {
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
    let store: Arc<dyn Store> =
        Arc::new(MemoryStore::new(StoreSettings::from_config(&config.store)));
    let queue: Arc<dyn JobQueue> = Arc::new(MemoryQueue::new(Topology::from_config(
        &config.amqp,
        &config.backfill,
    )));
    let backfill = Arc::new(Enqueuer::new(
        queue.clone(),
        store.clone(),
        EnqueueSettings::from_config(&config),
    ));
    let deps = ghstats_scheduler::Deps {
        link: None,
        store,
        backfill,
        queue: Some(queue),
        lease: None,
    };
    let listeners = ServiceListeners::ephemeral().await.unwrap();
    let grpc = listeners.grpc_addr();
    let http = listeners.http_addr();
    tokio::spawn(ghstats_scheduler::serve_with(
        config,
        deps,
        listeners,
        shutdown.clone(),
    ));
    for _ in 0..200 {
        if let Ok(c) = SchedulerControlClient::connect(format!("http://{grpc}")).await {
            return (c, http);
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
    let (mut leader, _) = scheduler(
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

    // Operators ask for backfills of exact windows; a repeat is deduped.
    let end = chrono::Utc::now();
    let backfill = |org: &str, start: chrono::DateTime<chrono::Utc>| RequestBackfillRequest {
        org: org.into(),
        repo: "repo-001".into(),
        window_start: Some(timestamp_to_proto(start)),
        window_end: Some(timestamp_to_proto(end)),
    };
    let hour_ago = end - chrono::Duration::hours(1);
    assert_eq!(
        leader
            .request_backfill(backfill("org-a", hour_ago))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let first = leader
        .request_backfill(with_token(backfill("org-a", hour_ago), ADMIN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.jobs.len(), first.deduplicated), (1, 0));
    assert_eq!(first.jobs[0].repo, "repo-001");
    let again = leader
        .request_backfill(with_token(backfill("org-a", hour_ago), ADMIN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.jobs.len(), again.deduplicated), (0, 1));
    let inverted = leader
        .request_backfill(with_token(
            backfill("org-a", end + chrono::Duration::hours(1)),
            ADMIN,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        inverted.code(),
        Code::InvalidArgument,
        "{}",
        inverted.message()
    );
    assert_eq!(
        leader
            .request_backfill(with_token(backfill("org-zz", hour_ago), ADMIN))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // A follower refuses leader-only calls and names itself.
    let dir = tempfile::tempdir().unwrap();
    let (mut follower, _) = scheduler(
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
        refused
            .message()
            .contains("sched-b is not the leader; no replica holds the lease now"),
        "{}",
        refused.message()
    );
    shutdown.trigger();
}

#[tokio::test]
async fn a_follower_names_the_lease_holder() {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(SimConfig::default(), listener, &shutdown).unwrap();
    let prefix = format!(
        "test:control:{}:{}:",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let election = |id: &str| {
        format!(
            "leader_election:\n  backend: redis\n  identity: {id}\n  lease_duration: 3s\n  renew_deadline: 2s\n  retry_period: 200ms\n\
             store:\n  redis_addr: 127.0.0.1:6379\n  key_prefix: \"{prefix}\"\n"
        )
    };
    let dir_a = tempfile::tempdir().unwrap();
    let (mut a, a_http) = scheduler(&sim, dir_a.path(), &election("sched-r1"), &shutdown).await;
    let mut leads = false;
    for _ in 0..200 {
        let s = a
            .get_status(GetSchedulerStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if s.role == Role::Leader as i32 {
            leads = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(leads, "the first scheduler takes the free lease");
    let dir_b = tempfile::tempdir().unwrap();
    let (mut b, b_http) = scheduler(&sim, dir_b.path(), &election("sched-r2"), &shutdown).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = b
        .get_status(GetSchedulerStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.role, Role::Follower as i32);
    assert_eq!(status.leader_identity, "sched-r1");
    let refused = b
        .pause_org(with_token(
            OrgRequest {
                org: "org-a".into(),
            },
            ADMIN,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused
            .message()
            .contains("sched-r2 is not the leader; the leader is sched-r1"),
        "{}",
        refused.message()
    );
    // The election's metrics say the same, on each process's /metrics.
    let metrics = |addr: std::net::SocketAddr| async move {
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let (ma, mb) = (metrics(a_http).await, metrics(b_http).await);
    assert!(
        ma.contains("gh_exporter_leader_election_is_leader 1"),
        "{ma}"
    );
    assert!(
        ma.contains("gh_exporter_leader_election_transitions_total 1"),
        "{ma}"
    );
    assert!(!ma.contains("gh_exporter_leader_election_term 0\n"), "{ma}");
    assert!(
        mb.contains("gh_exporter_leader_election_is_leader 0"),
        "{mb}"
    );
    assert!(
        mb.contains("gh_exporter_leader_election_transitions_total 0"),
        "{mb}"
    );
    shutdown.trigger();
    let target = ghstats_store::RedisTarget::Standalone {
        addr: "127.0.0.1:6379".into(),
        tls: false,
    };
    let settings = StoreSettings {
        prefix,
        ..StoreSettings::from_config(&ghstats_config::StoreConfig::default())
    };
    ghstats_store::RedisStore::connect(&target, &ghstats_store::RedisAuth::default(), settings)
        .await
        .unwrap()
        .delete_all_keys()
        .await
        .unwrap();
}
