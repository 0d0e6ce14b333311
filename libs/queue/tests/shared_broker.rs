#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Two deployments on one RabbitMQ that differ only in `amqp.exchange`:
//! their queues, delay queues and dead-letter queues derive from it, so
//! retries flow in both and neither sees the other's jobs.

use std::time::Duration;

use ghstats_config::Config;
use ghstats_core::Shutdown;
use ghstats_queue::conformance::job;
use ghstats_queue::{Delivery, JobQueue, RabbitQueue, RetryOutcome};
use ghstats_testkit::{amqp_url, unique};

fn deployment(exchange: &str) -> RabbitQueue {
    let mut config = Config::default();
    config.amqp.url = amqp_url().parse().unwrap();
    config.amqp.exchange = exchange.to_owned();
    config.backfill.requeue_delays = vec!["1s".parse().unwrap()];
    RabbitQueue::from_config(&config).unwrap()
}

async fn next(q: &dyn JobQueue) -> Delivery {
    tokio::time::timeout(Duration::from_secs(15), q.next())
        .await
        .expect("a delivery in time")
        .expect("the queue is open")
}

async fn nothing_more(q: &dyn JobQueue) {
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), q.next())
            .await
            .is_err(),
        "no job of the other deployment"
    );
}

#[tokio::test]
async fn deployments_with_other_exchanges_share_no_queue() {
    let base = unique("shared_broker");
    let (a, b) = (
        deployment(&format!("{base}.a")),
        deployment(&format!("{base}.b")),
    );
    assert!(
        a.topology()
            .queues()
            .iter()
            .all(|name| !b.topology().queues().contains(name)),
        "{:?} and {:?}",
        a.topology(),
        b.topology()
    );
    let shutdown = Shutdown::new();
    for q in [&a, &b] {
        q.connect().await.expect("RabbitMQ answers");
        q.start_consuming(4, &shutdown);
    }
    a.publish(&job("of-a", 3)).await.unwrap();
    b.publish(&job("of-b", 3)).await.unwrap();
    for (q, id) in [(&a, "of-a"), (&b, "of-b")] {
        // Each fails once: the retry goes through the deployment's own
        // delay queue and comes back to its own queue.
        let first = next(q).await;
        assert_eq!(first.job.job_id, id);
        assert_eq!(
            q.retry(first, "boom").await.unwrap(),
            RetryOutcome::Requeued { attempt: 2 }
        );
    }
    for (q, id) in [(&a, "of-a"), (&b, "of-b")] {
        let again = next(q).await;
        assert_eq!((again.job.job_id.as_str(), again.job.attempt), (id, 2));
        q.ack(again).await.unwrap();
    }
    nothing_more(&a).await;
    nothing_more(&b).await;
    for q in [&a, &b] {
        q.close();
    }
    shutdown.trigger();
    shutdown.drain(Duration::from_secs(5)).await;
    for q in [&a, &b] {
        q.delete_topology().await.unwrap();
    }
}
