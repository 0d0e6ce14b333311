//! Backfill jobs per second end to end (publish with confirm, deliver,
//! re-scrape the window against the simulator, write to Redis, ack) with
//! `consumer_count` workers running while the jobs are published, next to a
//! raw lapin loop that publishes (with confirms) while a consumer takes
//! (manual acks, same prefetch) messages of the same size on the same
//! broker in the same run.
//!
//! `cargo run --release -p ghstats-benches --bin backfill_throughput [jobs] [consumers]`
//! (RabbitMQ on 127.0.0.1:5672, Redis on 127.0.0.1:6379.)

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use futures::StreamExt;
use ghstats_backfill::BackfillRequest;
use ghstats_core::Shutdown;
use ghstats_core::retry::RetryPolicy;
use ghstats_proto::{BackfillReason, TimeWindow};
use ghstats_queue::{JobQueue, RabbitQueue, Topology};
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator};
use ghstats_store::{RedisAuth, RedisStore, RedisTarget, Store, StoreSettings};
use ghstats_worker::consume::{self, Counts};
use ghstats_worker::job::JobContext;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn unique(name: &str) -> String {
    format!(
        "bench.{name}.{}.{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    )
}

/// Raw lapin: publish `n` bodies of `size` bytes with confirms while a
/// consumer takes them with manual acks and a prefetch of `prefetch`.
async fn raw_loop(n: usize, size: usize, prefetch: u16) -> Result<Duration> {
    let conn = Connection::connect(AMQP, ConnectionProperties::default()).await?;
    let publish = conn.create_channel().await?;
    let queue = unique("raw");
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    publish
        .queue_declare(queue.as_str().into(), durable, FieldTable::default())
        .await?;
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let body = vec![7u8; size];
    let consume = conn.create_channel().await?;
    consume
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = consume
        .basic_consume(
            queue.as_str().into(),
            "raw".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let started = Instant::now();
    let consuming = tokio::spawn(async move {
        for _ in 0..n {
            let d = consumer.next().await.context("consumer ended")??;
            d.acker.ack(BasicAckOptions::default()).await?;
        }
        anyhow::Ok(())
    });
    for _ in 0..n {
        publish
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await?
            .await?;
    }
    consuming.await??;
    let took = started.elapsed();
    publish
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    conn.close(200, "done".into()).await?;
    Ok(took)
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let consumers: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(6);
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    // Answering instantly and without a rate limit: the figure is the
    // pipeline's, not GitHub's budget.
    let sim_config = SimConfig {
        rate_limit: None,
        ..SimConfig::default()
    };
    let sim = Simulator::start(sim_config, listener, &shutdown).map_err(anyhow::Error::msg)?;
    let dir = tempfile::tempdir()?;
    let token = dir.path().join("token");
    std::fs::write(&token, DEMO_TOKEN)?;
    let yaml = format!(
        "github:\n  orgs:\n    - org: org-a\n      token_file: {}\n      api_base_url: {}\n",
        token.display(),
        sim.api_base()
    );
    let config = ghstats_config::load_str(&yaml, "bench.yaml", Vec::new())?;
    let settings = StoreSettings {
        prefix: format!("{}:", unique("store")),
        ..StoreSettings::from_config(&config.store)
    };
    let target = RedisTarget::Standalone {
        addr: "127.0.0.1:6379".into(),
        tls: false,
    };
    let redis = Arc::new(RedisStore::connect(&target, &RedisAuth::default(), settings).await?);
    let store: Arc<dyn Store> = redis.clone();

    let u = unique("jobs");
    let topology = Topology::new(
        &format!("{u}.x"),
        &format!("{u}.jobs"),
        &format!("{u}.dlq"),
        &format!("{u}.retry"),
        &config.backfill.requeue_delays,
    );
    let rabbit = RabbitQueue::new(AMQP.into(), topology, RetryPolicy::from(&config.retry));
    rabbit.connect().await?;
    let queue: Arc<dyn JobQueue> = Arc::new(rabbit.clone());

    // One-hour windows of the org's repositories, each its own job.
    let repos: Vec<String> = (0..20).map(|i| format!("repo-{i:03}")).collect();
    let now = sim.now();
    let jobs: Vec<_> = (0..n)
        .map(|i| {
            let end = now - chrono::Duration::hours((i / repos.len()) as i64);
            BackfillRequest {
                org: "org-a".into(),
                repo: repos[i % repos.len()].clone(),
                window: TimeWindow::ordered(end - chrono::Duration::hours(1), end),
                reason: BackfillReason::ScrapeError,
            }
            .into_job(format!("bench-{i}"), 3, Utc::now())
        })
        .collect();
    let size = ghstats_queue::codec::encode(&jobs[0]).len();

    let orgs = ghstats_scrape::clients::org_clients(&config, &store, shutdown.token())
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .map(|(o, c)| (o.org.to_ascii_lowercase(), (o, c)))
        .collect();
    let context = Arc::new(JobContext::new(
        store.clone(),
        orgs,
        ghstats_scrape::Attribution::from_config(&config.github),
        Duration::from_secs(24 * 3600),
        0,
    ));

    let raw = raw_loop(n, size, consumers as u16).await?;

    rabbit.start_consuming(consumers as u16, &shutdown);
    let counts = Arc::new(Counts::default());
    consume::spawn(consumers, context, queue.clone(), counts.clone(), &shutdown);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    for job in &jobs {
        queue.publish(job).await?;
    }
    let published = started.elapsed();
    while counts.processed.load(Ordering::Relaxed) < n as u64 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {n} jobs processed",
            counts.processed.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ours = started.elapsed();
    let failed = counts.failed.load(Ordering::Relaxed);

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("backfill throughput: {n} jobs of {size} bytes, {consumers} consumers");
    println!(
        "  raw lapin publish+consume : {:>8.0} msg/s ({:.2?})",
        rate(raw),
        raw
    );
    println!(
        "  ghstats end to end        : {:>8.0} jobs/s ({:.2?}; publishing took {:.2?}; {failed} failed attempts)",
        rate(ours),
        ours,
        published
    );
    println!(
        "  ratio (ghstats / raw)     : {:.2}",
        rate(ours) / rate(raw)
    );
    println!(
        "  simulator requests        : {} ({:.1} per job)",
        sim.requests().len(),
        sim.requests().len() as f64 / n as f64
    );

    shutdown.trigger();
    shutdown.drain(Duration::from_secs(10)).await;
    rabbit.delete_topology().await?;
    redis.delete_all_keys().await?;
    Ok(())
}
