//! RabbitMQ restarts in the middle of a run: this test starts its own
//! `rabbitmq-server` node on spare ports (so stopping it disturbs nobody),
//! publishes and consumes backfill jobs, stops the broker, asks for more
//! windows while it is down, starts it again, and shows that producer and
//! consumer reconnect by themselves and that no job is lost (publisher
//! confirms, durable queues, persistent messages, windows kept pending).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use ghstats_backfill::{BackfillProducer, BackfillRequest};
use ghstats_core::Shutdown;
use ghstats_proto::{BackfillReason, TimeWindow};
use ghstats_queue::{JobQueue, LinkState};
use ghstats_scheduler::enqueue::{EnqueueSettings, Enqueuer};
use ghstats_store::{MemoryStore, Store, StoreSettings, WriteCtx};
use ghstats_testkit::spare_port;

/// A RabbitMQ node of this test's own: its ports, data directory and name.
struct OwnBroker {
    node: String,
    port: u16,
    dist_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnBroker {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = spare_port();
        let mut dist_port = spare_port();
        while dist_port == port {
            dist_port = spare_port();
        }
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(
            dir.path().join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n"),
        )
        .unwrap();
        // The server drops to the rabbitmq user when started as root.
        let _ = Command::new("chown")
            .args(["-R", "rabbitmq"])
            .arg(dir.path())
            .status();
        Self {
            node: format!("ghstats-test-{}-{port}@localhost", std::process::id()),
            port,
            dist_port,
            dir,
            child: None,
        }
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn start(&mut self) {
        let d = self.dir.path();
        let child = Command::new("rabbitmq-server")
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rabbitmq-server is installed (scripts/test installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "own RabbitMQ node did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-n", &self.node, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

fn request(repo: usize) -> BackfillRequest {
    let end = chrono::DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    BackfillRequest {
        org: "org-a".into(),
        repo: format!("repo-{repo:03}"),
        window: TimeWindow::ordered(end - chrono::Duration::hours(1), end),
        reason: BackfillReason::ScrapeError,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_and_consumer_survive_a_broker_restart_without_losing_a_job() {
    let mut broker = OwnBroker::new();
    broker.start();
    let shutdown = Shutdown::new();
    let config = ghstats_config::load_str(
        "backfill:\n  requeue_delays: [1s, 2s]\n",
        "t.yaml",
        Vec::new(),
    )
    .unwrap();
    let rabbit = ghstats_testkit::rabbit_queue(&config, &broker.url(), "restart");
    rabbit.connect().await.unwrap();
    let queue: Arc<dyn JobQueue> = Arc::new(rabbit.clone());
    let store: Arc<dyn Store> =
        Arc::new(MemoryStore::new(StoreSettings::from_config(&config.store)));
    let enqueuer = Enqueuer::new(queue.clone(), store, EnqueueSettings::from_config(&config));
    let ctx = WriteCtx::leader(0);

    // A slow consumer that remembers every repository it saw.
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    rabbit.start_consuming(2, &shutdown);
    let (q, s) = (queue.clone(), seen.clone());
    let consumer = tokio::spawn(async move {
        while let Some(d) = q.next().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let repo = d.job.repo.clone();
            if q.ack(d).await.is_ok() {
                s.lock().unwrap().insert(repo);
            }
        }
    });

    for repo in 0..10 {
        enqueuer.request(ctx, request(repo)).await.unwrap();
    }
    assert!(enqueuer.pending().is_empty(), "all ten confirmed");
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The broker goes away with jobs still queued and some in flight.
    broker.stop();
    let mut state = rabbit.state();
    let noticed = tokio::time::timeout(
        Duration::from_secs(30),
        state.wait_for(|s| *s != LinkState::Connected),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    assert!(noticed, "the queue noticed the broker is gone");
    for repo in 10..20 {
        enqueuer.request(ctx, request(repo)).await.unwrap();
    }
    assert_eq!(
        enqueuer.pending().len(),
        10,
        "windows asked for during the outage are kept"
    );

    broker.start();
    let restarted = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !enqueuer.pending().is_empty() {
        assert!(Instant::now() < deadline, "producer never reconnected");
        enqueuer.sweep(Some(ctx), Utc::now()).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let producer_back = restarted.elapsed();
    let want: BTreeSet<String> = (0..20).map(|r| format!("repo-{r:03}")).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while *seen.lock().unwrap() != want {
        assert!(
            Instant::now() < deadline,
            "lost jobs: {:?}",
            want.difference(&seen.lock().unwrap()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "broker restart: producer published again {producer_back:?} after the restart; all 20 jobs consumed {:?} after it",
        restarted.elapsed()
    );
    rabbit.close();
    consumer.await.unwrap();
    shutdown.trigger();
    shutdown.drain(Duration::from_secs(5)).await;
    broker.stop();
}
