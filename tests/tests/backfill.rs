//! A window the scheduler missed because GitHub answered 503 comes back:
//! it is enqueued once (a second miss of the same window is deduped and
//! counted), a worker re-runs it once GitHub is back, and the gauges then
//! equal the simulator's ground truth. On real Redis and RabbitMQ, a job
//! published twice and a job whose worker died between its store write and
//! its ack leave the gauges exactly as one clean run would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DurationRound, Utc};
use futures::StreamExt;
use ghstats_backfill::BackfillRequest;
use ghstats_core::Shutdown;
use ghstats_proto::BackfillReason;
use ghstats_queue::{JobQueue, MemoryQueue};
use ghstats_scheduler::enqueue::{EnqueueSettings, Enqueuer};
use ghstats_scrape::OrgScraper;
use ghstats_simulator::FaultRule;
use ghstats_store::{Family, MemoryStore, Store, StoreSettings, WriteCtx};
use ghstats_testkit::{activity_gauges, eventually, series_value, truth, world};
use ghstats_worker::consume::{self, Counts};
use ghstats_worker::job::JobContext;

const EXTRA: &str = "retry:\n  max_attempts: 2\n  initial_backoff: 1ms\n  max_backoff: 2ms\nbackfill:\n  requeue_delays: [1s, 2s]\n";

fn job_context(
    w: &ghstats_testkit::World,
    store: &Arc<dyn Store>,
    shutdown: &Shutdown,
) -> Arc<JobContext> {
    let orgs = ghstats_scrape::clients::org_clients(&w.config, store, shutdown.token())
        .unwrap()
        .into_iter()
        .map(|(o, c)| (o.org.to_ascii_lowercase(), (o, c)))
        .collect();
    Arc::new(JobContext::new(
        store.clone(),
        orgs,
        ghstats_scrape::Attribution::from_config(&w.config.github),
        Duration::from_secs(3600),
        0,
    ))
}

/// What happens before workers run, on any store and queue; returns the
/// number of jobs enqueued and the time of the cycle.
async fn miss_a_window(
    w: &ghstats_testkit::World,
    store: &Arc<dyn Store>,
    queue: &Arc<dyn JobQueue>,
    shutdown: &Shutdown,
) -> (usize, chrono::DateTime<Utc>) {
    w.sim.set_fault(FaultRule {
        endpoint: "list_pulls".into(),
        status: 503,
        fail_every: 1,
        ..FaultRule::default()
    });
    let enqueuer = Arc::new(Enqueuer::new(
        queue.clone(),
        store.clone(),
        EnqueueSettings::from_config(&w.config),
    ));
    let (org, client) = ghstats_scrape::clients::org_clients(&w.config, store, shutdown.token())
        .unwrap()
        .remove(0);
    let scraper = OrgScraper::new(
        client,
        store.clone(),
        enqueuer.clone(),
        org,
        w.config.clone(),
    );
    let now = w
        .sim
        .now()
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap();
    let report = scraper.run_cycle(WriteCtx::leader(0), now).await.unwrap();
    assert!(!report.failures.is_empty());
    let repos = report.repos;
    let labels = ["org-a", BackfillReason::ActivityPullsFailed.as_str()];
    assert_eq!(
        series_value(&**store, Family::BackfillJobsEnqueued, &labels).await,
        repos as f64,
        "one job per repository whose pulls failed"
    );
    // The same cycle fails again: the same windows are not enqueued twice.
    scraper.run_cycle(WriteCtx::leader(0), now).await.unwrap();
    assert_eq!(
        series_value(&**store, Family::BackfillJobsDeduped, &labels).await,
        repos as f64,
        "the second miss of each window is deduped and counted"
    );
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats[0].depth, repos as u64, "{stats:?}");
    assert!(enqueuer.pending().is_empty());
    assert_ne!(
        activity_gauges(&**store).await,
        truth(&w.sim, now),
        "the window is missing"
    );
    w.sim.clear_faults();
    (repos, now)
}

async fn wait_processed(counts: &Counts, n: u64) {
    let done = eventually(Duration::from_secs(60), || async {
        counts.processed.load(Ordering::Relaxed) >= n
    })
    .await;
    assert!(
        done,
        "processed {} of {n}",
        counts.processed.load(Ordering::Relaxed)
    );
}

#[tokio::test]
async fn missed_window_is_backfilled_on_memory_backends() {
    let shutdown = Shutdown::new();
    let w = world(&shutdown, EXTRA);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &w.config.store,
    )));
    let queue: Arc<dyn JobQueue> = Arc::new(MemoryQueue::new(ghstats_testkit::unique_topology(
        &w.config, "bf",
    )));
    let (repos, now) = miss_a_window(&w, &store, &queue, &shutdown).await;
    let counts = Arc::new(Counts::default());
    consume::spawn(
        2,
        job_context(&w, &store, &shutdown),
        queue.clone(),
        counts.clone(),
        &shutdown,
    );
    wait_processed(&counts, repos as u64).await;
    assert_eq!(activity_gauges(&*store).await, truth(&w.sim, now));
    assert!(
        store
            .checkpoint("org-a", "repo-000")
            .await
            .unwrap()
            .is_some(),
        "the worker moved the checkpoint"
    );
    assert!(queue.take_dead_letters(10).await.unwrap().is_empty());
    let counted = eventually(Duration::from_secs(10), || async {
        series_value(
            &*store,
            Family::BackfillJobsProcessed,
            &["org-a", "processed"],
        )
        .await
            == repos as f64
    })
    .await;
    assert!(
        counted,
        "jobs are counted in the store: {}",
        series_value(
            &*store,
            Family::BackfillJobsProcessed,
            &["org-a", "processed"]
        )
        .await
    );
    let writes = eventually(Duration::from_secs(10), || async {
        series_value(
            &*store,
            Family::StoreWrites,
            &["worker_backfill", "success"],
        )
        .await
            >= repos as f64
    })
    .await;
    assert!(writes, "the workers' window writes are counted by source");
    assert!(
        series_value(&*store, Family::StoreWrites, &["leader_scrape", "success"]).await
            >= repos as f64,
        "so are the leader's"
    );
    shutdown.trigger();
}

#[tokio::test]
async fn duplicates_and_a_dead_worker_leave_the_clean_result_on_redis_and_rabbitmq() {
    let shutdown = Shutdown::new();
    let w = world(&shutdown, EXTRA);
    let redis = ghstats_testkit::redis_store(&w.config, "backfill").await;
    let store: Arc<dyn Store> = redis.clone();
    let rabbit = ghstats_testkit::rabbit_queue(&w.config, &ghstats_testkit::amqp_url(), "backfill");
    rabbit
        .connect()
        .await
        .expect("RabbitMQ answers on 127.0.0.1:5672");
    let queue: Arc<dyn JobQueue> = Arc::new(rabbit.clone());
    let (repos, now) = miss_a_window(&w, &store, &queue, &shutdown).await;
    let jobs = job_context(&w, &store, &shutdown);

    // A worker takes one job, writes its window, and dies before its ack.
    let conn = lapin::Connection::connect(&ghstats_testkit::amqp_url(), Default::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let mut consumer = channel
        .basic_consume(
            rabbit.topology().jobs.as_str().into(),
            "dying".into(),
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    let taken = consumer.next().await.unwrap().unwrap();
    let job = ghstats_queue::codec::decode(&taken.data, None).unwrap();
    let verdict = jobs.process(&job, Utc::now()).await;
    assert!(
        matches!(verdict, ghstats_worker::job::Verdict::Done { .. }),
        "{verdict:?}"
    );
    conn.close(320, "worker killed".into()).await.unwrap();

    // And someone publishes another job of a window twice.
    let again = BackfillRequest {
        org: "org-a".into(),
        repo: "repo-001".into(),
        window: job.window,
        reason: BackfillReason::ScrapeError,
    }
    .into_job("published-twice".into(), 3, Utc::now());
    queue.publish(&again).await.unwrap();
    queue.publish(&again).await.unwrap();

    rabbit.start_consuming(4, &shutdown);
    let counts = Arc::new(Counts::default());
    consume::spawn(3, jobs, queue.clone(), counts.clone(), &shutdown);
    // Every original job (the dead worker's redelivered) and both copies.
    wait_processed(&counts, repos as u64 + 2).await;
    assert_eq!(
        activity_gauges(&*store).await,
        truth(&w.sim, now),
        "identical to one clean run"
    );
    let duplicates = eventually(Duration::from_secs(10), || async {
        series_value(
            &*store,
            Family::BackfillJobsProcessed,
            &["org-a", "duplicate"],
        )
        .await
            >= 2.0
    })
    .await;
    assert!(
        duplicates,
        "the redelivery and the second copy were recognised as done"
    );

    assert!(queue.take_dead_letters(10).await.unwrap().is_empty());
    shutdown.trigger();
    shutdown.drain(Duration::from_secs(5)).await;
    rabbit.delete_topology().await.unwrap();
    redis.delete_all_keys().await.unwrap();
}
