//! A worker process killed (SIGKILL) while a webhook delivery is in
//! flight (its read of the pushed branch held up by GitHub): GitHub's
//! attempt fails, nothing was recorded half-way, the leader asks GitHub to
//! deliver it again, another worker process takes it, and the values
//! equal the simulator's truth. RabbitMQ is out of reach all along: the
//! intake does not need it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_simulator::hooks::HookKnobs;
use ghstats_simulator::{FaultRule, SimConfig};
use ghstats_store::{RedisAuth, RedisStore, RedisTarget, Store, StoreSettings, WriteCtx};
use ghstats_testkit::{
    HOOK_SECRET, activity_gauges, eventually, hook_world, spare_port, truth, unique,
};

/// A worker process with its webhook port; killed when dropped.
struct Worker {
    child: Child,
    webhook: u16,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn worker(config: &Path, logs: &Path, name: &str) -> Worker {
    let webhook = spare_port();
    let child = Command::new(env!("CARGO_BIN_EXE_ghstats"))
        .args(["worker", "--config", config.to_str().unwrap()])
        .env(
            "GHSTATS__WEBHOOKS__LISTEN_ADDR",
            format!("127.0.0.1:{webhook}"),
        )
        .env(
            "GHSTATS__SERVICES__WORKER__HTTP_LISTEN_ADDR",
            format!("127.0.0.1:{}", spare_port()),
        )
        .env(
            "GHSTATS__SERVICES__WORKER__GRPC_LISTEN_ADDR",
            format!("127.0.0.1:{}", spare_port()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(logs.join(format!("{name}.log"))).unwrap())
        .spawn()
        .unwrap();
    Worker { child, webhook }
}

async fn listening(port: u16) -> bool {
    eventually(Duration::from_secs(30), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await
}

fn knobs(port: u16) -> HookKnobs {
    HookKnobs {
        urls: vec![format!("http://127.0.0.1:{port}/webhooks/github")],
        secret: HOOK_SECRET.into(),
        ..HookKnobs::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_with_a_delivery_in_flight_loses_nothing() {
    let shutdown = Shutdown::new();
    let w = hook_world(&shutdown, SimConfig::default(), "", "");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(&key, ghstats_simulator::DEMO_APP_PRIVATE_KEY).unwrap();
    let secret = dir.path().join("hook-secret");
    std::fs::write(&secret, HOOK_SECRET).unwrap();
    let prefix = format!("{}:", unique("webhook-kill"));
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  log_format: text\ngithub:\n  orgs:\n    - org: org-a\n      app_id: {app}\n      installation_id: {inst}\n      private_key_path: {key}\n      api_base_url: {api}\n      webhook_secret_file: {secret}\nwebhooks:\n  enabled: true\nstore:\n  backend: redis\n  redis_addr: \"127.0.0.1:6379\"\n  key_prefix: \"{prefix}\"\namqp:\n  url: \"amqp://guest:guest@127.0.0.1:{amqp}/%2f\"\n",
            app = ghstats_simulator::DEMO_APP_ID,
            inst = ghstats_simulator::FIRST_INSTALLATION_ID,
            key = key.display(),
            api = w.sim.api_base(),
            secret = secret.display(),
            amqp = spare_port(),
        ),
    )
    .unwrap();
    let redis = Arc::new(
        RedisStore::connect(
            &RedisTarget::Standalone {
                addr: "127.0.0.1:6379".into(),
                tls: false,
            },
            &RedisAuth::default(),
            StoreSettings {
                prefix: prefix.clone(),
                ..StoreSettings::from_config(&w.config.store)
            },
        )
        .await
        .unwrap(),
    );
    let store: Arc<dyn Store> = redis.clone();
    let backfill: Arc<dyn ghstats_backfill::BackfillProducer> =
        Arc::new(ghstats_backfill::MemoryProducer::default());
    let controllers = ghstats_scheduler::leader::controllers(
        &w.config,
        &store,
        &backfill,
        &ghstats_core::Tenure::default(),
        &shutdown,
    )
    .unwrap();
    controllers[0].tick(WriteCtx::leader(0), w.sim.now()).await;

    let first = worker(&config, dir.path(), "worker-1");
    assert!(listening(first.webhook).await, "worker-1's intake listens");
    w.sim.set_hooks(knobs(first.webhook));
    w.sim.set_fault(FaultRule {
        endpoint: "list_commits".into(),
        delay_ms: 5_000,
        ..FaultRule::default()
    });
    w.sim.add_activity("org-a", "repo-003", "commit").unwrap();
    assert!(
        eventually(Duration::from_secs(15), || async {
            w.sim
                .requests()
                .iter()
                .any(|r| r.endpoint == "list_commits" && r.path.contains("/repo-003/"))
        })
        .await,
        "worker-1 is reading the pushed branch"
    );
    drop(first); // SIGKILL, mid-delivery
    assert!(
        eventually(Duration::from_secs(15), || async {
            !w.sim.hook_deliveries().is_empty()
        })
        .await
    );
    let attempt = &w.sim.hook_deliveries()[0];
    assert_ne!(attempt["status_code"].as_u64(), Some(200), "{attempt}");
    assert_ne!(
        activity_gauges(&*store).await,
        truth(&w.sim, w.sim.now()),
        "the killed worker recorded nothing"
    );
    w.sim.clear_faults();

    let second = worker(&config, dir.path(), "worker-2");
    assert!(listening(second.webhook).await, "worker-2's intake listens");
    w.sim.set_hooks(knobs(second.webhook));
    let report = ghstats_scheduler::redeliver::redeliver_failed(
        &controllers,
        &*store,
        WriteCtx::leader(0),
        Duration::from_secs(3600),
        Duration::from_secs(300),
        chrono::Utc::now(),
    )
    .await;
    assert_eq!(report.requested, 1);
    assert!(
        eventually(Duration::from_secs(20), || async {
            activity_gauges(&*store).await == truth(&w.sim, w.sim.now())
        })
        .await,
        "the redelivered push is counted: {:?} != {:?}",
        activity_gauges(&*store).await,
        truth(&w.sim, w.sim.now())
    );
    drop(second);
    redis.delete_all_keys().await.unwrap();
    shutdown.trigger();
}
