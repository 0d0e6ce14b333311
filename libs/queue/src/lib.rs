//! The backfill transport of ghstats: [`BackfillJob`]s travel on a
//! [`JobQueue`] (published by the scheduler's enqueuer); workers take
//! [`Delivery`]s from it and acknowledge, retry (through the delay queues
//! of `backfill.requeue_delays`), defer or dead-letter each. What a
//! backfill request is and who may ask for one is `ghstats-backfill`; this
//! crate knows no store.
//!
//! Two queues share one contract and one `conformance` suite (behind the `testsuite` feature): the durable
//! [`RabbitQueue`] (publisher confirms, manual acks, reconnects) and the
//! process-local [`MemoryQueue`].

pub mod codec;
#[cfg(feature = "testsuite")]
pub mod conformance;
mod memory;
mod rabbit;
mod topology;

use std::time::Duration;

use async_trait::async_trait;
use ghstats_proto::BackfillJob;

pub use memory::MemoryQueue;
pub use rabbit::{LinkState, RabbitQueue};
pub use topology::Topology;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum QueueError {
    /// The broker cannot be reached or the connection dropped.
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
    /// The broker answered but did not take the message.
    #[error("the broker refused the message: {0}")]
    Refused(String),
}

/// A job as delivered to a worker, with what is needed to settle it.
#[derive(Debug)]
pub struct Delivery {
    pub job: BackfillJob,
    /// The broker delivered it before (a consumer died holding it).
    pub redelivered: bool,
    pub(crate) handle: Handle,
}

/// How a delivery is acknowledged.
#[derive(Debug)]
pub(crate) enum Handle {
    Memory,
    Amqp(lapin::Acker),
}

/// Where a message is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The main queue.
    Jobs,
    /// The delay queue of `backfill.requeue_delays[i]`; it flows back to the
    /// main queue when the delay is over.
    Delay(usize),
    /// The dead-letter queue, with the reason.
    Dead { error: String },
}

/// A message as it travels: the encoded body and its attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub body: Vec<u8>,
    pub content_type: String,
    pub attempt: u32,
}

impl Outgoing {
    pub fn job(job: &BackfillJob) -> Self {
        Self {
            body: codec::encode(job),
            content_type: codec::CONTENT_TYPE_PROTOBUF.into(),
            attempt: job.attempt,
        }
    }
}

/// A message of the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The job, when the body could be read.
    pub job: Option<BackfillJob>,
    pub body: Vec<u8>,
    /// Why it was dead-lettered.
    pub error: String,
    pub attempt: u32,
}

/// What a queue holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStats {
    pub queue: String,
    pub depth: u64,
    /// How long the oldest waiting message has waited; `None` when empty or
    /// not measured (delay queues).
    pub oldest_age: Option<Duration>,
}

/// What became of a failed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    Requeued { attempt: u32 },
    DeadLettered,
}

/// The queue under producer and workers. Implementations provide sending
/// (confirmed by the broker before it returns), receiving and settling; the
/// retry, defer and dead-letter rules are written once, here.
#[async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// Sends a message; returns once the broker has it durably.
    async fn send(&self, target: Target, message: Outgoing) -> Result<(), QueueError>;

    /// The next delivery, waiting for one; `None` once the queue is closed.
    /// Malformed messages never come out: they go to the dead-letter queue
    /// with their parse error and are counted in [`JobQueue::malformed`].
    async fn next(&self) -> Option<Delivery>;

    /// Acknowledges a delivery: the broker forgets it.
    async fn settle(&self, delivery: Delivery) -> Result<(), QueueError>;

    /// The delays of `backfill.requeue_delays`, shortest first.
    fn delays(&self) -> &[Duration];

    /// Depth (and oldest age where measured) of every queue.
    async fn stats(&self) -> Result<Vec<QueueStats>, QueueError>;

    /// Removes and returns up to `max` dead letters, oldest first.
    async fn take_dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError>;

    /// Malformed messages dead-lettered so far by this process.
    fn malformed(&self) -> u64;

    /// Stops delivering: waiting and later [`JobQueue::next`] calls get `None`.
    fn close(&self);

    /// Pauses (or resumes) consuming for a drained worker: a broker-backed
    /// queue gives its prefetched jobs back so other workers take them.
    fn set_paused(&self, _paused: bool) {}

    /// Publishes a new job to the main queue.
    async fn publish(&self, job: &BackfillJob) -> Result<(), QueueError> {
        self.send(Target::Jobs, Outgoing::job(job)).await
    }

    /// The job is done.
    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        self.settle(delivery).await
    }

    /// The job failed: send it with `attempt + 1` to the delay queue of its
    /// attempt, or to the dead-letter queue after its last attempt; then
    /// acknowledge the delivery. A failed send leaves the delivery
    /// unacknowledged, so the broker delivers it again.
    async fn retry(&self, delivery: Delivery, error: &str) -> Result<RetryOutcome, QueueError> {
        if delivery.job.attempt >= delivery.job.max_attempts {
            self.dead_letter(delivery, error).await?;
            return Ok(RetryOutcome::DeadLettered);
        }
        let stage = (delivery.job.attempt as usize - 1).min(self.delays().len().saturating_sub(1));
        let mut job = delivery.job.clone();
        job.attempt += 1;
        self.send(Target::Delay(stage), Outgoing::job(&job)).await?;
        self.settle(delivery).await?;
        Ok(RetryOutcome::Requeued {
            attempt: job.attempt,
        })
    }

    /// The job cannot run now (its org is cooling down, its rate budget is
    /// spent): send it unchanged through the shortest delay queue.
    async fn defer(&self, delivery: Delivery) -> Result<(), QueueError> {
        self.send(Target::Delay(0), Outgoing::job(&delivery.job))
            .await?;
        self.settle(delivery).await
    }

    /// The job can never succeed: dead-letter it with the reason.
    async fn dead_letter(&self, delivery: Delivery, error: &str) -> Result<(), QueueError> {
        let target = Target::Dead {
            error: error.to_owned(),
        };
        self.send(target, Outgoing::job(&delivery.job)).await?;
        self.settle(delivery).await
    }
}
