//! The webhook intake of the workers, against the simulator's signed
//! deliveries and real stores: signatures (good, absent, wrong, rotated),
//! bad input with its specific answers, duplicates and redeliveries that
//! change nothing, out-of-order deliveries, a dropped delivery recovered
//! by the leader's redelivery request and, with redelivery off, by the
//! reconciling scrape, a worker down while GitHub delivers, and RabbitMQ
//! down at delivery time. At the end of each, every value equals the
//! simulator's truth.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod leader;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_queue::{JobQueue, MemoryQueue};
use ghstats_runtime::ServiceListeners;
use ghstats_simulator::SimConfig;
use ghstats_simulator::hooks::HookKnobs;
use ghstats_store::{Family, FlowRules, MemoryStore, Store, StoreSettings, WriteCtx};
use ghstats_testkit::{
    Gauges, HOOK_SECRET, activity_gauges, eventually, flow_gauges, flow_truth, gauge_diff,
    hook_world, series_value, truth,
};

fn memory_store(w: &ghstats_testkit::World) -> Arc<dyn Store> {
    Arc::new(MemoryStore::new(StoreSettings::from_config(
        &w.config.store,
    )))
}

/// A worker on `store` with a memory queue (or `queue`); its webhook address.
async fn start_worker(
    w: &ghstats_testkit::World,
    store: &Arc<dyn Store>,
    queue: Option<Arc<dyn JobQueue>>,
    link: Option<ghstats_queue::RabbitQueue>,
    shutdown: &Shutdown,
) -> SocketAddr {
    let listeners = ServiceListeners::ephemeral()
        .await
        .unwrap()
        .with_ephemeral_webhook()
        .await
        .unwrap();
    let hook = listeners.webhook_addr().unwrap();
    let queue = queue.unwrap_or_else(|| {
        Arc::new(MemoryQueue::new(ghstats_testkit::unique_topology(
            &w.config, "hooks",
        )))
    });
    let deps = ghstats_worker::Deps {
        store: store.clone(),
        queue,
        link,
    };
    tokio::spawn(ghstats_worker::serve_with(
        (*w.config).clone(),
        deps,
        listeners,
        shutdown.clone(),
    ));
    let url = format!("http://{hook}/webhooks/github");
    assert!(
        eventually(Duration::from_secs(10), || {
            let url = url.clone();
            async move { reqwest::Client::new().get(&url).send().await.is_ok() }
        })
        .await,
        "the intake listens"
    );
    hook
}

fn knobs(hook: SocketAddr) -> HookKnobs {
    HookKnobs {
        urls: vec![format!("http://{hook}/webhooks/github")],
        secret: HOOK_SECRET.into(),
        ..HookKnobs::default()
    }
}

async fn post(
    hook: SocketAddr,
    event: &str,
    id: &str,
    sig: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(format!("http://{hook}/webhooks/github"))
        .header("x-github-event", event)
        .header("x-github-delivery", id)
        .body(body.to_vec());
    if let Some(s) = sig {
        req = req.header("x-hub-signature-256", s);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn sign(secret: &str, body: &[u8]) -> String {
    ghstats_simulator::hooks::sign(secret, body)
}

/// A comment delivery as GitHub sends it (the fields ghstats reads).
fn comment_payload(
    org: &str,
    repo: &str,
    id: u64,
    login: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    let t = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    serde_json::to_vec(&serde_json::json!({
        "action": "created",
        "comment": { "id": id, "user": { "login": login, "id": 77, "type": "User" }, "created_at": t, "updated_at": t },
        "issue": { "number": 1 },
        "repository": { "name": repo, "owner": { "login": org, "id": 1, "type": "Organization" }, "default_branch": "main" },
        "organization": { "login": org },
    }))
    .unwrap()
}

/// The pull-request families deliveries keep: the histograms and the open
/// counts (the oldest open one's age grows with the clock between reads,
/// so it is compared where the clock stands still).
fn delivered_flow(family: &str) -> bool {
    family.starts_with("gh_pr_lead") || family.starts_with("gh_pr_time") || family == "gh_pr_open"
}

/// The 24h activity and the pull-request flow that deliveries keep.
async fn webhook_families(store: &dyn Store) -> Gauges {
    let mut got = activity_gauges(store).await;
    got.extend(
        flow_gauges(store)
            .await
            .into_iter()
            .filter(|(k, _)| delivered_flow(&k.0)),
    );
    got
}

fn webhook_truth(w: &ghstats_testkit::World, start: chrono::DateTime<chrono::Utc>) -> Gauges {
    let now = w.sim.now();
    let mut want = truth(&w.sim, now);
    let options = ghstats_simulator::TruthOptions {
        org: Some("org-a".into()),
        include_forks: true,
        observed_since: Some(start - chrono::Duration::hours(24)),
        ..ghstats_simulator::TruthOptions::default()
    };
    let rules = FlowRules::from_config(&w.config.pull_requests);
    want.extend(
        flow_truth(
            &w.sim,
            now + chrono::Duration::seconds(1),
            now,
            &options,
            &rules,
        )
        .into_iter()
        .filter(|(k, _)| delivered_flow(&k.0)),
    );
    want
}

/// One scheduled cycle of the leader (the baseline, or the reconciliation).
async fn scrape(w: &ghstats_testkit::World, store: &Arc<dyn Store>, shutdown: &Shutdown) {
    let leader = leader::controller(w, store, None, shutdown);
    leader.tick(WriteCtx::leader(0), w.sim.now()).await;
}

/// A world with webhooks on, a memory store, a worker's intake, and one
/// scrape as the baseline: (world, store, intake address, its start).
async fn hooked(
    shutdown: &Shutdown,
    extra: &str,
) -> (
    ghstats_testkit::World,
    Arc<dyn Store>,
    SocketAddr,
    chrono::DateTime<chrono::Utc>,
) {
    let w = hook_world(shutdown, SimConfig::default(), "", extra);
    let store = memory_store(&w);
    let hook = start_worker(&w, &store, None, None, shutdown).await;
    let start = w.sim.now();
    scrape(&w, &store, shutdown).await;
    (w, store, hook, start)
}

async fn equals_truth_soon(
    w: &ghstats_testkit::World,
    store: &dyn Store,
    start: chrono::DateTime<chrono::Utc>,
) {
    let mut same = false;
    let (mut got, mut want) = (Gauges::new(), Gauges::new());
    for _ in 0..200 {
        got = webhook_families(store).await;
        want = webhook_truth(w, start);
        same = got == want;
        if same {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let diff = gauge_diff(&got, &want);
    assert!(same, "(series, exporter, truth) differ: {diff:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_and_bad_deliveries_get_specific_answers_and_lose_nothing() {
    let shutdown = Shutdown::new();
    let w = hook_world(
        &shutdown,
        SimConfig::default(),
        "      webhook_previous_secret: the-old-secret\n",
        "",
    );
    let store = memory_store(&w);
    let hook = start_worker(&w, &store, None, None, &shutdown).await;
    let now = chrono::Utc::now();
    let body = comment_payload("org-a", "repo-000", 9_000_001, "alice", now);
    let good = sign(HOOK_SECRET, &body);
    assert_eq!(
        post(hook, "issue_comment", "d-1", None, &body).await.0,
        401,
        "absent"
    );
    assert_eq!(
        post(
            hook,
            "issue_comment",
            "d-1",
            Some(&sign("wrong", &body)),
            &body
        )
        .await
        .0,
        401,
        "wrong"
    );
    let comments = |store: Arc<dyn Store>| async move {
        series_value(
            &*store,
            Family::IssueComments24h,
            &["org-a", "repo-000", "alice"],
        )
        .await
    };
    assert_eq!(
        comments(store.clone()).await,
        0.0,
        "nothing recorded on a bad signature"
    );
    let (status, text) = post(hook, "issue_comment", "d-1", Some(&good), &body).await;
    assert_eq!((status, text.as_str()), (200, "recorded\n"));
    assert_eq!(comments(store.clone()).await, 1.0);
    let (status, text) = post(hook, "issue_comment", "d-1", Some(&good), &body).await;
    assert_eq!(
        (status, text.trim()),
        (200, "duplicate delivery: already recorded")
    );
    // The same comment under another delivery id (GitHub never does that,
    // but a replay might): still one event.
    assert_eq!(
        post(hook, "issue_comment", "d-2", Some(&good), &body)
            .await
            .0,
        200
    );
    assert_eq!(
        comments(store.clone()).await,
        1.0,
        "one event however delivered"
    );
    // Rotation: the previous secret is still accepted.
    let other = comment_payload("org-a", "repo-000", 9_000_002, "alice", now);
    let rotated = sign("the-old-secret", &other);
    assert_eq!(
        post(hook, "issue_comment", "d-3", Some(&rotated), &other)
            .await
            .0,
        200
    );
    assert_eq!(comments(store.clone()).await, 2.0);
    // Bad input, each with its own answer.
    let junk = b"{not json";
    let (status, text) = post(
        hook,
        "issue_comment",
        "d-4",
        Some(&sign(HOOK_SECRET, junk)),
        junk,
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("not a issue_comment payload"), "{text}");
    let elsewhere = comment_payload("org-zzz", "r", 1, "alice", now);
    let (status, text) = post(
        hook,
        "issue_comment",
        "d-5",
        Some(&sign(HOOK_SECRET, &elsewhere)),
        &elsewhere,
    )
    .await;
    assert_eq!(
        (status, text.trim()),
        (422, "org \"org-zzz\" is not configured")
    );
    let (status, _) = post(hook, "star", "d-6", Some(&good), &body).await;
    assert_eq!(status, 202, "an event ghstats does not use");
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    assert_eq!(
        post(hook, "ping", "d-7", Some(&sign(HOOK_SECRET, ping)), ping)
            .await
            .0,
        200
    );
    let (status, text) = post(hook, "issue_comment", "", Some(&good), &body).await;
    assert_eq!((status, text.trim()), (400, "no X-GitHub-Delivery header"));
    let huge = vec![b' '; ghstats_github::webhook::MAX_PAYLOAD_BYTES + 1];
    let (status, _) = post(hook, "push", "d-8", Some(&sign(HOOK_SECRET, &huge)), &huge).await;
    assert_eq!(status, 413, "over GitHub's 25 MB");
    // Every delivery is counted by result.
    let counted = |result: &'static str, event: &'static str, org: &'static str| {
        let store = store.clone();
        async move { series_value(&*store, Family::WebhookDeliveries, &[org, event, result]).await }
    };
    assert!(
        eventually(Duration::from_secs(5), || async {
            counted("accepted", "issue_comment", "org-a").await == 3.0
        })
        .await
    );
    assert_eq!(counted("bad_signature", "issue_comment", "").await, 2.0);
    assert_eq!(counted("duplicate", "issue_comment", "org-a").await, 1.0);
    assert_eq!(counted("rejected", "issue_comment", "").await, 3.0);
    assert_eq!(counted("ignored", "other", "").await, 1.0);
    assert_eq!(counted("ignored", "ping", "").await, 1.0);
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_deliveries_equal_the_truth_without_a_scrape() {
    let shutdown = Shutdown::new();
    let (w, store, hook, start) = hooked(&shutdown, "").await;
    w.sim.set_hooks(HookKnobs {
        duplicate_every: 2,
        reorder: 3,
        ..knobs(hook)
    });
    let kinds = [
        "pull",
        "open_pull",
        "review",
        "merge_pull",
        "comment",
        "commit",
        "squash",
        "review",
        "close_pull",
        "reopen_pull",
        "merge",
        "late_commit",
        "dismiss_review",
    ];
    for (i, kind) in kinds.iter().cycle().take(39).enumerate() {
        let repo = format!("repo-{:03}", i % 4);
        w.sim.add_activity("org-a", &repo, kind).unwrap();
    }
    equals_truth_soon(&w, &*store, start).await;
    let deliveries = w.sim.hook_deliveries();
    assert!(deliveries.len() >= 39, "{} deliveries", deliveries.len());
    assert!(
        deliveries
            .iter()
            .any(|d| d["event"] == "pull_request_review" && d["action"] == "dismissed"),
        "a review was dismissed by delivery too"
    );
    shutdown.trigger();
}

/// The leader's recovery pass (as its `webhook_redelivery` task runs it).
async fn recover(w: &ghstats_testkit::World, store: &Arc<dyn Store>, shutdown: &Shutdown) -> usize {
    let controllers = [leader::controller(w, store, None, shutdown)];
    ghstats_scheduler::redeliver::redeliver_failed(
        &controllers,
        &**store,
        WriteCtx::leader(0),
        Duration::from_secs(3600),
        Duration::from_secs(300),
        chrono::Utc::now(),
    )
    .await
    .requested
}

/// Waits until every delivery attempt the simulator made has settled.
async fn settled(w: &ghstats_testkit::World, attempts: usize) {
    assert!(
        eventually(Duration::from_secs(20), || async {
            w.sim.hook_deliveries().len() >= attempts
        })
        .await,
        "the simulator sent {attempts} attempts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_and_mis_signed_deliveries_come_back_by_redelivery() {
    let shutdown = Shutdown::new();
    let (w, store, hook, start) = hooked(&shutdown, "").await;
    // Every second delivery is lost, every third signed wrong.
    w.sim.set_hooks(HookKnobs {
        drop_every: 2,
        missign_every: 3,
        ..knobs(hook)
    });
    for (i, kind) in [
        "open_pull",
        "comment",
        "review",
        "merge_pull",
        "comment",
        "pull",
    ]
    .iter()
    .enumerate()
    {
        w.sim
            .add_activity("org-a", &format!("repo-00{}", i % 3), kind)
            .unwrap();
    }
    settled(&w, 6).await;
    let failed = w
        .sim
        .hook_deliveries()
        .iter()
        .filter(|d| d["status_code"].as_u64() != Some(200))
        .count();
    assert!(failed >= 3, "{failed} deliveries failed");
    assert_ne!(webhook_families(&*store).await, webhook_truth(&w, start));
    // GitHub now delivers well; the leader asks for what failed.
    w.sim.set_hooks(knobs(hook));
    let requested = recover(&w, &store, &shutdown).await;
    assert_eq!(requested, failed, "each failed event asked again once");
    equals_truth_soon(&w, &*store, start).await;
    assert_eq!(
        recover(&w, &store, &shutdown).await,
        0,
        "nothing asked twice (claimed), and nothing left"
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            series_value(&*store, Family::WebhookRedeliveries, &["org-a"]).await == failed as f64
        })
        .await
    );
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redelivery_off_the_scheduled_scrape_reconciles_a_lost_delivery() {
    let shutdown = Shutdown::new();
    let (w, store, hook, start) = hooked(&shutdown, "  redelivery_enabled: false\n").await;
    w.sim.set_hooks(HookKnobs {
        drop_every: 1,
        ..knobs(hook)
    });
    w.sim.add_activity("org-a", "repo-001", "pull").unwrap();
    w.sim.add_activity("org-a", "repo-002", "comment").unwrap();
    settled(&w, 2).await;
    assert_ne!(webhook_families(&*store).await, webhook_truth(&w, start));
    scrape(&w, &store, &shutdown).await;
    equals_truth_soon(&w, &*store, start).await;
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_down_and_redis_down_at_delivery_time_lose_nothing() {
    let shutdown = Shutdown::new();
    let w = hook_world(&shutdown, SimConfig::default(), "", "");
    let dir = tempfile::tempdir().unwrap();
    let port = ghstats_testkit::spare_port();
    let redis = ghstats_testkit::OwnRedis::start(port, dir.path());
    let target = ghstats_store::RedisTarget::Standalone {
        addr: format!("127.0.0.1:{port}"),
        tls: false,
    };
    let store: Arc<dyn Store> = Arc::new(
        ghstats_store::RedisStore::connect(
            &target,
            &ghstats_store::RedisAuth::default(),
            StoreSettings::from_config(&w.config.store),
        )
        .await
        .unwrap(),
    );
    let start = w.sim.now();
    scrape(&w, &store, &shutdown).await;
    // A worker stopped: GitHub cannot connect.
    let worker = shutdown.child();
    let hook = start_worker(&w, &store, None, None, &worker).await;
    worker.trigger();
    assert!(
        eventually(Duration::from_secs(10), || async {
            reqwest::Client::new()
                .get(format!("http://{hook}/webhooks/github"))
                .send()
                .await
                .is_err()
        })
        .await
    );
    w.sim.set_hooks(knobs(hook));
    w.sim.add_activity("org-a", "repo-000", "comment").unwrap();
    settled(&w, 1).await;
    // A new worker; now Redis goes away while GitHub delivers.
    let hook = start_worker(&w, &store, None, None, &shutdown).await;
    w.sim.set_hooks(knobs(hook));
    redis.kill();
    w.sim.add_activity("org-a", "repo-001", "pull").unwrap();
    settled(&w, 2).await;
    let codes: Vec<u64> = w
        .sim
        .hook_deliveries()
        .iter()
        .filter_map(|d| d["status_code"].as_u64())
        .collect();
    assert_eq!(
        codes,
        [503, 0],
        "newest first: 503 while Redis is down, none while the worker was"
    );
    // Redis is back (its append-only file); the leader asks again.
    let _redis = ghstats_testkit::OwnRedis::start(port, dir.path());
    assert!(
        eventually(Duration::from_secs(10), || async {
            store.ping().await.is_ok()
        })
        .await
    );
    assert_eq!(recover(&w, &store, &shutdown).await, 2);
    equals_truth_soon(&w, &*store, start).await;
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_taken_while_rabbitmq_is_unreachable() {
    let shutdown = Shutdown::new();
    let w = hook_world(&shutdown, SimConfig::default(), "", "");
    let store = memory_store(&w);
    // A broker that is not there: the consumer is unhealthy, the intake is not.
    let rabbit = ghstats_testkit::rabbit_queue(
        &w.config,
        &format!(
            "amqp://guest:guest@127.0.0.1:{}/%2f",
            ghstats_testkit::spare_port()
        ),
        "hooks-down",
    );
    let queue: Arc<dyn JobQueue> = Arc::new(rabbit.clone());
    let hook = start_worker(&w, &store, Some(queue), Some(rabbit), &shutdown).await;
    let start = w.sim.now();
    scrape(&w, &store, &shutdown).await;
    w.sim.set_hooks(knobs(hook));
    w.sim.add_activity("org-a", "repo-002", "pull").unwrap();
    w.sim.add_activity("org-a", "repo-002", "review").unwrap();
    equals_truth_soon(&w, &*store, start).await;
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_archived_or_renamed_leaves_the_selection_at_once() {
    let shutdown = Shutdown::new();
    let w = hook_world(&shutdown, SimConfig::default(), "", "");
    let store = memory_store(&w);
    let hook = start_worker(&w, &store, None, None, &shutdown).await;
    scrape(&w, &store, &shutdown).await;
    w.sim.set_hooks(knobs(hook));
    let open = |repo: String| {
        let store = store.clone();
        async move { series_value(&*store, Family::PrOpen, &["org-a", &repo, "false"]).await }
    };
    // Two repositories with open pull requests (opened now if need be).
    let mut with_open = Vec::new();
    for r in w.sim.repo_names("org-a") {
        if open(r.clone()).await > 0.0 {
            with_open.push(r);
        }
    }
    assert!(with_open.len() >= 2, "{with_open:?}");
    let (archived, renamed) = (with_open[0].clone(), with_open[1].clone());
    w.sim
        .depart(
            "org-a",
            &archived,
            ghstats_simulator::Departure::Archived,
            None,
        )
        .unwrap();
    w.sim
        .depart(
            "org-a",
            &renamed,
            ghstats_simulator::Departure::Renamed,
            Some("brand-new-name"),
        )
        .unwrap();
    // No scrape: the deliveries alone take them out of the selection.
    assert!(
        eventually(Duration::from_secs(10), || async {
            open(archived.clone()).await == 0.0 && open(renamed.clone()).await == 0.0
        })
        .await,
        "the open pull requests of {archived} and {renamed} fell to 0"
    );
    let events: Vec<String> = w
        .sim
        .hook_deliveries()
        .iter()
        .map(|d| format!("{} {}", d["event"], d["action"]))
        .collect();
    assert!(
        events.iter().any(|e| e.contains("archived"))
            && events.iter().any(|e| e.contains("renamed")),
        "{events:?}"
    );
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_while_a_delivery_is_in_flight_loses_nothing() {
    let shutdown = Shutdown::new();
    let w = hook_world(&shutdown, SimConfig::default(), "", "");
    let store = memory_store(&w);
    let start = w.sim.now();
    scrape(&w, &store, &shutdown).await;
    let worker = shutdown.child();
    let hook = start_worker(&w, &store, None, None, &worker).await;
    w.sim.set_hooks(knobs(hook));
    // A push delivery has the branch's commits read: GitHub answers slowly,
    // and the worker is stopped meanwhile.
    w.sim.set_fault(ghstats_simulator::FaultRule {
        endpoint: "list_commits".into(),
        delay_ms: 3_000,
        ..ghstats_simulator::FaultRule::default()
    });
    w.sim.add_activity("org-a", "repo-002", "commit").unwrap();
    let in_flight = eventually(Duration::from_secs(10), || async {
        w.sim
            .requests()
            .iter()
            .any(|r| r.endpoint == "list_commits" && r.path.contains("/repo-002/"))
    })
    .await;
    assert!(in_flight, "the intake is reading the pushed branch");
    worker.trigger();
    settled(&w, 1).await;
    let first = w.sim.hook_deliveries();
    assert_ne!(
        first[0]["status_code"].as_u64(),
        Some(200),
        "the stopped worker did not take it: {first:?}"
    );
    w.sim.clear_faults();
    // Another worker; the leader asks GitHub again.
    let hook = start_worker(&w, &store, None, None, &shutdown).await;
    w.sim.set_hooks(knobs(hook));
    assert_eq!(recover(&w, &store, &shutdown).await, 1);
    equals_truth_soon(&w, &*store, start).await;
    shutdown.trigger();
}
