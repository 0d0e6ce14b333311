//! The worker as its own service against the real RabbitMQ and Redis: it
//! is ready once its consumer is connected, takes a job published by
//! someone else, writes the window to Redis and counts it; it stops
//! cleanly on shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use ghstats_backfill::BackfillRequest;
use ghstats_core::Shutdown;
use ghstats_proto::{BackfillReason, TimeWindow};
use ghstats_queue::{JobQueue, RabbitQueue};
use ghstats_runtime::ServiceListeners;
use ghstats_store::Family;
use ghstats_testkit::{eventually, series_value, unique, world};

#[tokio::test]
async fn worker_service_consumes_from_rabbitmq_and_writes_to_redis() {
    let shutdown = Shutdown::new();
    let u = unique("worker");
    let extra = format!(
        "store:\n  redis_addr: 127.0.0.1:6379\n  key_prefix: \"{u}:\"\n\
         amqp:\n  url: {}\n  exchange: {u}.x\n  queue: {u}.jobs\n  dlq: {u}.dlq\n  retry_queue_prefix: {u}.retry\n\
         backfill:\n  consumer_count: 2\n  requeue_delays: [1s]\n",
        ghstats_testkit::amqp_url()
    );
    let w = world(&shutdown, &extra);
    let listeners = ServiceListeners::ephemeral().await.unwrap();
    let http = listeners.http_addr();
    let service = shutdown.child();
    let running = tokio::spawn(ghstats_worker::serve(
        (*w.config).clone(),
        listeners,
        service.clone(),
    ));
    let ready = eventually(Duration::from_secs(20), || async {
        reqwest::get(format!("http://{http}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(ready, "the worker is ready once its consumer is connected");

    let producer = RabbitQueue::from_config(&w.config).unwrap();
    let now = w.sim.now();
    let job = BackfillRequest {
        org: "org-a".into(),
        repo: "repo-000".into(),
        window: TimeWindow::ordered(now - chrono::Duration::hours(24), now),
        reason: BackfillReason::ScrapeError,
    }
    .into_job("from-outside".into(), 3, Utc::now());
    producer.publish(&job).await.unwrap();

    let store = ghstats_store::from_config(&w.config.store).await.unwrap();
    let done = eventually(Duration::from_secs(20), || async {
        series_value(
            &*store,
            Family::BackfillJobsProcessed,
            &["org-a", "processed"],
        )
        .await
            == 1.0
    })
    .await;
    assert!(done, "the job was processed and counted");
    assert!(
        store
            .checkpoint("org-a", "repo-000")
            .await
            .unwrap()
            .is_some(),
        "the window was written"
    );

    service.trigger();
    let stopped = tokio::time::timeout(Duration::from_secs(30), running).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "clean stop: {stopped:?}");
    producer.delete_topology().await.unwrap();
    let cleanup = ghstats_store::RedisStore::from_config(&w.config.store)
        .await
        .unwrap();
    cleanup.delete_all_keys().await.unwrap();
    shutdown.trigger();
}
