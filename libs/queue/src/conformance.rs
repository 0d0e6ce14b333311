//! The behaviour every [`JobQueue`] must have, run against the memory and
//! the RabbitMQ queue alike. Each case takes a fresh queue whose delays are
//! `[1s, 2s]`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

use std::time::Duration;

use chrono::Utc;
use ghstats_proto::{BackfillJob, BackfillReason, TimeWindow};

use crate::{JobQueue, Outgoing, RetryOutcome, Target, codec};

/// Delays the queues of the suite must be built with.
pub const DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];

/// A job of the suite.
pub fn job(id: &str, max_attempts: u32) -> BackfillJob {
    let now = Utc::now();
    BackfillJob {
        job_id: id.into(),
        dedup_key: format!("org-a:repo-x:{id}"),
        org: "org-a".into(),
        repo: "repo-x".into(),
        window: TimeWindow::ordered(now - chrono::Duration::hours(1), now),
        reason: BackfillReason::ScrapeError,
        attempt: 1,
        max_attempts,
        created_at: now,
    }
}

async fn next_within(q: &dyn JobQueue, limit: Duration) -> crate::Delivery {
    tokio::time::timeout(limit, q.next())
        .await
        .unwrap_or_else(|_| panic!("no delivery within {limit:?}"))
        .unwrap_or_else(|| panic!("queue closed"))
}

async fn depth_of(q: &dyn JobQueue, queue: &str) -> u64 {
    q.stats()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.queue == queue)
        .unwrap_or_else(|| panic!("no stats for {queue}"))
        .depth
}

/// Published jobs come out in order, intact, and acked ones are gone.
pub async fn publishes_and_delivers_in_order(q: &dyn JobQueue) {
    let (a, b) = (job("a", 3), job("b", 3));
    q.publish(&a).await.unwrap();
    q.publish(&b).await.unwrap();
    let first = next_within(q, Duration::from_secs(10)).await;
    assert_eq!(first.job, a);
    let second = next_within(q, Duration::from_secs(10)).await;
    assert_eq!(second.job, b);
    q.ack(first).await.unwrap();
    q.ack(second).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), q.next())
            .await
            .is_err(),
        "acked jobs are not delivered again"
    );
}

/// A failing job passes through every delay queue in order, each no sooner
/// than its delay, and lands in the DLQ after `max_attempts` with its
/// attempt and last error.
pub async fn failing_job_walks_every_delay_then_dead_letters(
    q: &dyn JobQueue,
    jobs: &str,
    dlq: &str,
) {
    q.publish(&job("walker", 3)).await.unwrap();
    let d = next_within(q, Duration::from_secs(10)).await;
    assert_eq!(d.job.attempt, 1);
    let failed_at = std::time::Instant::now();
    assert_eq!(
        q.retry(d, "boom 1").await.unwrap(),
        RetryOutcome::Requeued { attempt: 2 }
    );
    assert_eq!(
        depth_of(q, jobs).await,
        0,
        "waiting in the first delay queue"
    );
    let d = next_within(q, Duration::from_secs(15)).await;
    assert!(
        failed_at.elapsed() >= DELAYS[0],
        "not before the first delay"
    );
    assert_eq!(d.job.attempt, 2);
    let failed_at = std::time::Instant::now();
    assert_eq!(
        q.retry(d, "boom 2").await.unwrap(),
        RetryOutcome::Requeued { attempt: 3 }
    );
    let d = next_within(q, Duration::from_secs(15)).await;
    assert!(failed_at.elapsed() >= DELAYS[1], "then the second delay");
    assert_eq!(d.job.attempt, 3);
    assert_eq!(
        q.retry(d, "boom 3: still broken").await.unwrap(),
        RetryOutcome::DeadLettered
    );
    let dead = q.take_dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].attempt, 3);
    assert_eq!(dead[0].error, "boom 3: still broken");
    assert_eq!(
        dead[0].job.as_ref().map(|j| j.job_id.as_str()),
        Some("walker")
    );
    assert_eq!(depth_of(q, dlq).await, 0, "taken");
}

/// A deferred job comes back unchanged after the first delay.
pub async fn deferred_job_comes_back_with_the_same_attempt(q: &dyn JobQueue) {
    q.publish(&job("later", 3)).await.unwrap();
    let d = next_within(q, Duration::from_secs(10)).await;
    q.defer(d).await.unwrap();
    let d = next_within(q, Duration::from_secs(15)).await;
    assert_eq!((d.job.job_id.as_str(), d.job.attempt), ("later", 1));
    q.ack(d).await.unwrap();
}

/// Malformed bodies (bad protobuf, JSON without fields) go to the DLQ with
/// their parse error; good JSON is accepted; nothing crashes or loops.
pub async fn malformed_messages_are_dead_lettered(q: &dyn JobQueue) {
    let before = q.malformed();
    let garbage = Outgoing {
        body: vec![0xff, 0x00, 0x13],
        content_type: codec::CONTENT_TYPE_PROTOBUF.into(),
        attempt: 1,
    };
    q.send(Target::Jobs, garbage).await.unwrap();
    let half = Outgoing {
        body: br#"{"org": "org-a"}"#.to_vec(),
        content_type: codec::CONTENT_TYPE_JSON.into(),
        attempt: 1,
    };
    q.send(Target::Jobs, half).await.unwrap();
    let by_hand = job("by-hand", 3);
    let json = Outgoing {
        body: by_hand.to_json(),
        content_type: codec::CONTENT_TYPE_JSON.into(),
        attempt: 1,
    };
    q.send(Target::Jobs, json).await.unwrap();
    let d = next_within(q, Duration::from_secs(10)).await;
    assert_eq!(d.job, by_hand, "the good one comes through");
    q.ack(d).await.unwrap();
    assert_eq!(q.malformed() - before, 2);
    let dead = q.take_dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead[0].error.starts_with("invalid protobuf job"),
        "{}",
        dead[0].error
    );
    assert_eq!(dead[0].body, vec![0xff, 0x00, 0x13], "the body is kept");
    assert!(dead[1].error.contains("missing"), "{}", dead[1].error);
}

/// Depth and oldest age are measured, not reported as zero.
pub async fn stats_measure_depth_and_age(q: &dyn JobQueue, jobs: &str) {
    q.publish(&job("s1", 3)).await.unwrap();
    q.publish(&job("s2", 3)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stats = q.stats().await.unwrap();
    let main = stats.iter().find(|s| s.queue == jobs).unwrap();
    assert_eq!(main.depth, 2);
    assert!(
        main.oldest_age.is_some_and(|a| a >= Duration::from_secs(1)),
        "{main:?}"
    );
    let a = next_within(q, Duration::from_secs(10)).await;
    assert_eq!(a.job.job_id, "s1", "measuring did not reorder the queue");
    let b = next_within(q, Duration::from_secs(10)).await;
    q.ack(a).await.unwrap();
    q.ack(b).await.unwrap();
}
