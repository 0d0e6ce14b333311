//! The Kubernetes Lease backend against a small fake API server that keeps
//! one Lease with real `resourceVersion` semantics (a replace carrying a
//! stale version gets 409 Conflict): acquire, renew, conflict, takeover
//! after expiry, release on shutdown, and a re-created Lease starting above
//! the store's term.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ghstats_core::Shutdown;
use ghstats_election::KubeLease;
use ghstats_election::{LeaseBackend, LeaseState, RoleHooks, Timings, run_election};
use ghstats_store::{MemoryStore, Store, StoreSettings};
use serde_json::{Value, json};

#[derive(Default)]
struct Fake {
    lease: Option<Value>,
    version: u64,
    /// The next replace meets a write made by someone else first.
    interfere_next_put: bool,
    /// `renewTime` of every write.
    renew_times: Vec<String>,
}

type St = State<Arc<Mutex<Fake>>>;

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (StatusCode::from_u16(code).unwrap(), Json(body)).into_response()
}

fn stamp(fake: &mut Fake, mut lease: Value, namespace: &str) -> Value {
    fake.version += 1;
    lease["metadata"]["resourceVersion"] = json!(fake.version.to_string());
    lease["metadata"]["namespace"] = json!(namespace);
    if let Some(t) = lease["spec"]["renewTime"].as_str() {
        fake.renew_times.push(t.to_owned());
    }
    fake.lease = Some(lease.clone());
    lease
}

async fn read(State(s): St, Path((_ns, name)): Path<(String, String)>) -> Response {
    let fake = s.lock().unwrap();
    match &fake.lease {
        Some(l) if l["metadata"]["name"] == name.as_str() => Json(l.clone()).into_response(),
        _ => status(404, "NotFound", &format!("leases \"{name}\" not found")),
    }
}

async fn create(State(s): St, Path(ns): Path<String>, Json(lease): Json<Value>) -> Response {
    let mut fake = s.lock().unwrap();
    if fake.lease.is_some() {
        return status(409, "AlreadyExists", "leases already exists");
    }
    let stored = stamp(&mut fake, lease, &ns);
    (StatusCode::CREATED, Json(stored)).into_response()
}

async fn replace(
    State(s): St,
    Path((ns, _name)): Path<(String, String)>,
    Json(lease): Json<Value>,
) -> Response {
    let mut fake = s.lock().unwrap();
    if std::mem::take(&mut fake.interfere_next_put) {
        fake.version += 1;
        let v = fake.version.to_string();
        if let Some(l) = fake.lease.as_mut() {
            l["metadata"]["resourceVersion"] = json!(v);
        }
    }
    let current = fake
        .lease
        .as_ref()
        .and_then(|l| l["metadata"]["resourceVersion"].as_str().map(str::to_owned));
    let sent = lease["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_owned);
    if current.is_none() {
        return status(404, "NotFound", "not found");
    }
    if sent != current {
        return status(
            409,
            "Conflict",
            "Operation cannot be fulfilled on leases: the object has been modified",
        );
    }
    Json(stamp(&mut fake, lease, &ns)).into_response()
}

/// The fake API server and a client config pointing at it.
async fn fake_api(shutdown: &Shutdown) -> (Arc<Mutex<Fake>>, kube::Config) {
    let state = Arc::new(Mutex::new(Fake::default()));
    let base = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases";
    let app = Router::new()
        .route(base, post(create))
        .route(&format!("{base}/{{name}}"), get(read).put(replace))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.triggered().await })
            .await
    });
    (
        state,
        kube::Config::new(format!("http://{addr}").parse().unwrap()),
    )
}

fn lease(client: &kube::Client, who: &str, store: &Arc<dyn Store>) -> KubeLease {
    KubeLease::new(
        client.clone(),
        "github-stats",
        "github-stats-leader",
        who,
        Duration::from_secs(1),
        store.clone(),
    )
}

fn holder(fake: &Arc<Mutex<Fake>>) -> Value {
    fake.lock().unwrap().lease.as_ref().unwrap()["spec"].clone()
}

#[tokio::test]
async fn acquire_renew_conflict_takeover_and_release() {
    let shutdown = Shutdown::new();
    let (fake, api) = fake_api(&shutdown).await;
    let client = kube::Client::try_from(api).unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &ghstats_config::StoreConfig::default(),
    )));
    let (a, b) = (
        lease(&client, "pod-a", &store),
        lease(&client, "pod-b", &store),
    );

    // Acquire: A creates the Lease; B sees it held.
    assert_eq!(
        a.acquire_or_renew().await.unwrap(),
        LeaseState::Held { term: 1 }
    );
    assert_eq!(b.acquire_or_renew().await.unwrap(), LeaseState::Other);
    let spec = holder(&fake);
    assert_eq!(spec["holderIdentity"], "pod-a");
    assert_eq!(spec["leaseDurationSeconds"], 1);
    assert_eq!(b.holder().await.unwrap().as_deref(), Some("pod-a"));

    // Renew: same term, a new renewTime, microsecond precision.
    assert_eq!(
        a.acquire_or_renew().await.unwrap(),
        LeaseState::Held { term: 1 }
    );
    let times = fake.lock().unwrap().renew_times.clone();
    assert_eq!(times.len(), 2);
    for t in &times {
        let frac = t.split('.').nth(1).unwrap();
        assert_eq!(frac.len(), 7, "six digits and Z: {t}");
        assert!(frac.ends_with('Z'));
    }
    assert!(times[1] > times[0], "{times:?}");

    // Conflict: someone wrote the Lease between A's read and write.
    fake.lock().unwrap().interfere_next_put = true;
    assert_eq!(a.acquire_or_renew().await.unwrap(), LeaseState::Other);

    // Takeover after expiry: B sees the record unchanged for a lease
    // duration (A stopped renewing), then takes it under the next term.
    assert_eq!(b.acquire_or_renew().await.unwrap(), LeaseState::Other);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        b.acquire_or_renew().await.unwrap(),
        LeaseState::Held { term: 2 }
    );
    let spec = holder(&fake);
    assert_eq!(spec["holderIdentity"], "pod-b");
    assert_eq!(spec["leaseTransitions"], 2);
    assert_eq!(a.acquire_or_renew().await.unwrap(), LeaseState::Other);

    // Release on shutdown: B's election gives the Lease up, A takes it at once.
    struct Quiet;
    #[async_trait]
    impl RoleHooks for Quiet {
        async fn elected(&self, _term: u64, _scope: Shutdown) {}
        async fn demoted(&self) {}
    }
    let election = Shutdown::new();
    let b = Arc::new(b);
    let task = {
        let (b, stop) = (b.clone(), election.clone());
        tokio::spawn(async move {
            let timings = Timings {
                retry_period: Duration::from_millis(100),
                renew_deadline: Duration::from_millis(500),
            };
            run_election(&*b, timings, &Quiet, stop).await;
        })
    };
    tokio::time::sleep(Duration::from_millis(250)).await;
    election.trigger();
    task.await.unwrap();
    assert!(
        holder(&fake)
            .get("holderIdentity")
            .is_none_or(Value::is_null)
    );
    assert_eq!(b.holder().await.unwrap(), None);
    assert_eq!(
        a.acquire_or_renew().await.unwrap(),
        LeaseState::Held { term: 3 }
    );
    shutdown.trigger();
}

#[tokio::test]
async fn a_recreated_lease_starts_above_the_store_term() {
    let shutdown = Shutdown::new();
    let (fake, api) = fake_api(&shutdown).await;
    let client = kube::Client::try_from(api).unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &ghstats_config::StoreConfig::default(),
    )));
    store.raise_term(7).await.unwrap();
    let a = lease(&client, "pod-a", &store);
    assert_eq!(
        a.acquire_or_renew().await.unwrap(),
        LeaseState::Held { term: 8 }
    );
    // Someone deletes the Lease by hand; the next one still outranks 8.
    store.raise_term(8).await.unwrap();
    fake.lock().unwrap().lease = None;
    assert_eq!(
        a.acquire_or_renew().await.unwrap(),
        LeaseState::Held { term: 9 }
    );
    shutdown.trigger();
}

#[tokio::test]
async fn an_unreachable_api_is_an_error_never_a_lease() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &ghstats_config::StoreConfig::default(),
    )));
    let err = lease(&client, "pod-a", &store)
        .acquire_or_renew()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("reading Lease github-stats-leader"),
        "{err}"
    );
}

/// The scheduler service electing over the Kubernetes Lease: a follower
/// saying why while the API server is unreachable, the leader once it is
/// there, and the Lease released when it shuts down.
mod service {
    use super::*;
    use ghstats_election::LeaseSource;
    use ghstats_runtime::ServiceListeners;
    use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator};

    async fn healthz(http: std::net::SocketAddr) -> Value {
        match reqwest::get(format!("http://{http}/healthz")).await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        }
    }

    async fn scheduler(
        sim: &Simulator,
        dir: &std::path::Path,
        api: kube::Config,
        shutdown: &Shutdown,
    ) -> std::net::SocketAddr {
        let token = dir.join("token");
        std::fs::write(&token, DEMO_TOKEN).unwrap();
        let yaml = format!(
            "leader_election:\n  backend: kubernetes\n  identity: pod-7\n  lease_duration: 2s\n  renew_deadline: 1s\n  retry_period: 200ms\n\
             github:\n  orgs:\n    - org: org-a\n      token_file: {}\n      api_base_url: {}\n",
            token.display(),
            sim.api_base()
        );
        let config = ghstats_config::load_str(&yaml, "t.yaml", Vec::new()).unwrap();
        let store: Arc<dyn Store> =
            Arc::new(MemoryStore::new(StoreSettings::from_config(&config.store)));
        let deps = ghstats_scheduler::Deps {
            link: None,
            store: store.clone(),
            backfill: Arc::new(ghstats_backfill::MemoryProducer::default()),
            queue: None,
            lease: Some(LeaseSource::KubernetesAt(Box::new(api), store)),
        };
        let listeners = ServiceListeners::ephemeral().await.unwrap();
        let http = listeners.http_addr();
        tokio::spawn(ghstats_scheduler::serve_with(
            config,
            deps,
            listeners,
            shutdown.clone(),
        ));
        http
    }

    async fn wait_for(http: std::net::SocketAddr, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            let h = healthz(http).await;
            if done(&h) {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        healthz(http).await
    }

    #[tokio::test]
    async fn unreachable_api_leaves_a_follower_that_says_why() {
        let shutdown = Shutdown::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = Simulator::start(SimConfig::default(), listener, &shutdown).unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let dir = tempfile::tempdir().unwrap();
        let api = kube::Config::new(format!("http://{addr}").parse().unwrap());
        let http = scheduler(&sim, dir.path(), api, &shutdown).await;
        let h = wait_for(http, |h| {
            h["components"]["leader_election"]["status"] == "unhealthy"
        })
        .await;
        assert_eq!(h["role"], "follower", "{h:#}");
        let reason = h["components"]["leader_election"]["reason"]
            .as_str()
            .unwrap();
        assert!(
            reason.contains("cannot reach the Kubernetes API"),
            "{reason}"
        );
        assert!(reason.contains("staying follower"), "{reason}");
        shutdown.trigger();
    }

    #[tokio::test]
    async fn the_scheduler_leads_over_the_lease_and_releases_it() {
        let shutdown = Shutdown::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = Simulator::start(SimConfig::default(), listener, &shutdown).unwrap();
        let (fake, api) = fake_api(&shutdown).await;
        let dir = tempfile::tempdir().unwrap();
        let service = shutdown.child();
        let http = scheduler(&sim, dir.path(), api, &service).await;
        let h = wait_for(http, |h| h["role"] == "leader").await;
        assert_eq!(h["role"], "leader", "{h:#}");
        assert_eq!(holder(&fake)["holderIdentity"], "pod-7");
        service.trigger();
        let mut released = false;
        for _ in 0..200 {
            if holder(&fake)
                .get("holderIdentity")
                .is_none_or(Value::is_null)
            {
                released = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(
            released,
            "the Lease was released on shutdown: {}",
            holder(&fake)
        );
        shutdown.trigger();
    }
}
