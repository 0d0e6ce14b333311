//! What a worker does with jobs that cannot simply run: a stale job is
//! acknowledged and counted as expired without touching GitHub; a job of an
//! unknown org is dead-lettered with the reason; a job of an org the leader
//! marked as cooling down is deferred (same attempt, no GitHub request); a
//! job that keeps failing walks every delay and lands in the DLQ with its
//! attempt count and last error; a job whose worker died holding its lock
//! is deferred (no attempt spent) until the lock lapses, then runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use ghstats_backfill::BackfillRequest;
use ghstats_core::Shutdown;
use ghstats_proto::{BackfillJob, BackfillReason, TimeWindow};
use ghstats_queue::{JobQueue, MemoryQueue};
use ghstats_simulator::FaultRule;
use ghstats_store::{Family, MemoryStore, Store, StoreSettings};
use ghstats_testkit::{World, eventually, series_value, world};
use ghstats_worker::consume::{self, Counts};
use ghstats_worker::job::JobContext;

const EXTRA: &str = "retry:\n  max_attempts: 1\n  initial_backoff: 1ms\n  max_backoff: 2ms\nbackfill:\n  requeue_delays: [1s, 2s]\n";

struct Bench {
    w: World,
    store: Arc<dyn Store>,
    queue: Arc<MemoryQueue>,
    counts: Arc<Counts>,
    shutdown: Shutdown,
}

fn bench() -> Bench {
    let shutdown = Shutdown::new();
    let w = world(&shutdown, EXTRA);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &w.config.store,
    )));
    let queue = Arc::new(MemoryQueue::new(ghstats_testkit::unique_topology(
        &w.config, "verdicts",
    )));
    let orgs = ghstats_scrape::clients::org_clients(&w.config, &store, shutdown.token())
        .unwrap()
        .into_iter()
        .map(|(o, c)| (o.org.to_ascii_lowercase(), (o, c)))
        .collect();
    let jobs = Arc::new(JobContext::new(
        store.clone(),
        orgs,
        ghstats_scrape::Attribution::from_config(&w.config.github),
        Duration::from_secs(3600),
        0,
    ));
    let counts = Arc::new(Counts::default());
    consume::spawn(2, jobs, queue.clone(), counts.clone(), &shutdown);
    Bench {
        w,
        store,
        queue,
        counts,
        shutdown,
    }
}

fn job(org: &str, id: &str, max_attempts: u32) -> BackfillJob {
    let now = Utc::now();
    BackfillRequest {
        org: org.into(),
        repo: "repo-000".into(),
        window: TimeWindow::ordered(
            now - chrono::Duration::hours(2),
            now - chrono::Duration::hours(1),
        ),
        reason: BackfillReason::ScrapeError,
    }
    .into_job(id.into(), max_attempts, now)
}

async fn counted(b: &Bench, result: &str, n: f64) -> bool {
    eventually(Duration::from_secs(15), || async {
        series_value(&*b.store, Family::BackfillJobsProcessed, &["org-a", result]).await >= n
    })
    .await
}

#[tokio::test]
async fn a_stale_job_is_expired_without_touching_github() {
    let b = bench();
    let mut stale = job("org-a", "stale", 3);
    stale.created_at = Utc::now() - chrono::Duration::hours(2);
    b.w.sim.clear_requests();
    b.queue.publish(&stale).await.unwrap();
    assert!(counted(&b, "expired", 1.0).await);
    assert_eq!(b.counts.expired.load(Ordering::Relaxed), 1);
    assert!(b.w.sim.requests().is_empty(), "{:?}", b.w.sim.requests());
    assert!(b.queue.take_dead_letters(10).await.unwrap().is_empty());
    b.shutdown.trigger();
}

#[tokio::test]
async fn a_job_of_an_unknown_org_is_dead_lettered_with_the_reason() {
    let b = bench();
    b.queue.publish(&job("org-zz", "unknown", 3)).await.unwrap();
    let dead = eventually(Duration::from_secs(10), || async {
        b.counts.dead_lettered.load(Ordering::Relaxed) == 1
    })
    .await;
    assert!(dead);
    let letters = b.queue.take_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].error.contains("org-zz") && letters[0].error.contains("not configured"),
        "{}",
        letters[0].error
    );
    b.shutdown.trigger();
}

#[tokio::test]
async fn a_cooling_down_org_defers_its_jobs_without_spending_attempts() {
    let b = bench();
    let now = Utc::now();
    ghstats_scrape::org_state::share_cooldown(
        &*b.store,
        "org-a",
        now + chrono::Duration::seconds(3),
        now,
    )
    .await
    .unwrap();
    b.w.sim.clear_requests();
    b.queue.publish(&job("org-a", "waits", 3)).await.unwrap();
    assert!(counted(&b, "deferred", 1.0).await);
    assert!(
        b.w.sim.requests().is_empty(),
        "no GitHub request while cooling down"
    );
    // After the cooldown the same job runs, still as its first attempt.
    assert!(counted(&b, "processed", 1.0).await);
    assert_eq!(b.counts.failed.load(Ordering::Relaxed), 0);
    assert!(!b.w.sim.requests().is_empty());
    b.shutdown.trigger();
}

#[tokio::test]
async fn a_job_that_keeps_failing_walks_the_delays_into_the_dlq() {
    let b = bench();
    b.w.sim.set_fault(FaultRule {
        endpoint: "list_pulls".into(),
        status: 503,
        fail_every: 1,
        ..FaultRule::default()
    });
    b.queue.publish(&job("org-a", "doomed", 3)).await.unwrap();
    let dead = eventually(Duration::from_secs(20), || async {
        b.counts.dead_lettered.load(Ordering::Relaxed) == 1
    })
    .await;
    assert!(dead, "dead-lettered after its attempts");
    assert_eq!(
        b.counts.failed.load(Ordering::Relaxed),
        3,
        "three attempts, through 1s and 2s delays"
    );
    let letters = b.queue.take_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].attempt, 3);
    assert_eq!(letters[0].job.as_ref().unwrap().job_id, "doomed");
    assert!(
        letters[0].error.contains("503"),
        "last error kept: {}",
        letters[0].error
    );
    b.shutdown.trigger();
}

#[tokio::test]
async fn a_job_locked_by_a_dead_worker_is_deferred_then_run_without_spending_attempts() {
    let b = bench();
    // A worker took the job and died: its lock lapses after its TTL (30 s
    // in production, 2 s here) since nobody renews it.
    assert!(
        b.store
            .hold(
                ghstats_store::ClaimKind::JobLock,
                "orphan",
                "dead-worker",
                Duration::from_secs(2)
            )
            .await
            .unwrap()
    );
    b.queue.publish(&job("org-a", "orphan", 1)).await.unwrap();
    assert!(
        counted(&b, "deferred", 1.0).await,
        "another run holds it: deferred"
    );
    assert!(
        counted(&b, "processed", 1.0).await,
        "run by the next worker once the lock lapsed"
    );
    assert_eq!(
        b.counts.failed.load(Ordering::Relaxed),
        0,
        "the dead worker's lock cost no attempt (the job had only one)"
    );
    assert!(b.queue.take_dead_letters(10).await.unwrap().is_empty());
    b.shutdown.trigger();
}
