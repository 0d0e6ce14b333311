#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The queue conformance suite, on the memory queue and on the real
//! RabbitMQ (127.0.0.1:5672, or `GHSTATS_TEST_AMQP_URL`), each case with
//! its own exchange and queue names.

use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_core::retry::RetryPolicy;
use ghstats_queue::conformance::{self, DELAYS};
use ghstats_queue::{JobQueue, MemoryQueue, RabbitQueue, Topology};

fn topology(case: &str) -> Topology {
    let unique = format!(
        "t.{case}.{}.{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let delays: Vec<ghstats_config::Duration> = DELAYS.iter().copied().map(Into::into).collect();
    Topology::new(
        &format!("{unique}.x"),
        &format!("{unique}.jobs"),
        &format!("{unique}.dlq"),
        &format!("{unique}.retry"),
        &delays,
    )
}

use ghstats_testkit::amqp_url;

fn backoff() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 1,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        jitter: true,
    }
}

/// Runs `case` on a fresh memory queue and a fresh RabbitMQ queue.
macro_rules! both {
    ($name:ident, |$q:ident, $t:ident| $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn memory() {
                let $t = topology(stringify!($name));
                let memory = MemoryQueue::new($t.clone());
                let $q: &dyn JobQueue = &memory;
                $body;
            }

            #[tokio::test]
            async fn rabbitmq() {
                let $t = topology(stringify!($name));
                let shutdown = Shutdown::new();
                let rabbit = RabbitQueue::new(amqp_url(), $t.clone(), backoff());
                rabbit
                    .connect()
                    .await
                    .expect("RabbitMQ answers on 127.0.0.1:5672");
                rabbit.start_consuming(4, &shutdown);
                let $q: &dyn JobQueue = &rabbit;
                $body;
                rabbit.close();
                shutdown.trigger();
                shutdown.drain(Duration::from_secs(5)).await;
                rabbit.delete_topology().await.unwrap();
            }
        }
    };
}

both!(in_order, |q, _t| {
    conformance::publishes_and_delivers_in_order(q).await
});
both!(delays_then_dlq, |q, t| {
    conformance::failing_job_walks_every_delay_then_dead_letters(q, &t.jobs, &t.dlq).await
});
both!(defer, |q, _t| {
    conformance::deferred_job_comes_back_with_the_same_attempt(q).await
});
both!(malformed, |q, _t| {
    conformance::malformed_messages_are_dead_lettered(q).await
});
both!(stats, |q, t| conformance::stats_measure_depth_and_age(
    q, &t.jobs
)
.await);
