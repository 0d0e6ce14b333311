//! The process-local queue: messages in memory with the same routing as
//! RabbitMQ (main queue, delay queues that flow back when their delay is
//! over, dead letters). Not durable: messages die with the process, and
//! whoever uses it must say so (the all-in-one binary does; the scheduler's
//! fallback reports `degraded`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::{
    DeadLetter, Delivery, Handle, JobQueue, Outgoing, QueueError, QueueStats, Target, Topology,
    codec,
};

#[derive(Debug, Clone)]
struct Stored {
    message: Outgoing,
    error: Option<String>,
    since: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    ready: VecDeque<Stored>,
    /// Messages waiting out a delay: `(due, stage, message)`.
    delayed: Vec<(Instant, usize, Stored)>,
    dead: VecDeque<Stored>,
}

/// A queue in memory; cheap to clone (clones share the queue).
#[derive(Debug, Clone)]
pub struct MemoryQueue {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
    topology: Arc<Topology>,
    delays: Arc<Vec<Duration>>,
    closed: Arc<AtomicBool>,
    malformed: Arc<AtomicU64>,
}

impl MemoryQueue {
    pub fn new(topology: Topology) -> Self {
        Self {
            inner: Arc::default(),
            notify: Arc::new(Notify::new()),
            delays: Arc::new(topology.delay_durations()),
            topology: Arc::new(topology),
            closed: Arc::default(),
            malformed: Arc::default(),
        }
    }

    /// A queue with the default names and the given delays (tests).
    pub fn with_delays(delays: &[Duration]) -> Self {
        let delays: Vec<ghstats_config::Duration> =
            delays.iter().copied().map(Into::into).collect();
        Self::new(Topology::new(
            "gh.backfill",
            "gh.backfill.jobs",
            "gh.backfill.dlq",
            "gh.backfill.retry",
            &delays,
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Messages ready to be taken (not those waiting out a delay).
    pub fn depth(&self) -> usize {
        self.lock().ready.len()
    }

    /// Messages waiting out a delay.
    pub fn delayed(&self) -> usize {
        self.lock().delayed.len()
    }

    fn promote_due(inner: &mut Inner, now: Instant) {
        let (mut due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.delayed)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        inner.delayed = waiting;
        due.sort_by_key(|(at, _, _)| *at);
        for (_, _, mut stored) in due {
            // Like a dead-lettered delay message: it joins the main queue's tail.
            stored.since = now;
            inner.ready.push_back(stored);
        }
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn send(&self, target: Target, message: Outgoing) -> Result<(), QueueError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(QueueError::Unavailable("the memory queue is closed".into()));
        }
        let now = Instant::now();
        let stored = |error| Stored {
            message,
            error,
            since: now,
        };
        {
            let mut inner = self.lock();
            match target {
                Target::Jobs => inner.ready.push_back(stored(None)),
                Target::Delay(stage) => {
                    let delay = self
                        .delays
                        .get(stage)
                        .or(self.delays.last())
                        .copied()
                        .unwrap_or_default();
                    inner.delayed.push((now + delay, stage, stored(None)));
                }
                Target::Dead { error } => inner.dead.push_back(stored(Some(error))),
            }
        }
        self.notify.notify_one();
        Ok(())
    }

    async fn next(&self) -> Option<Delivery> {
        loop {
            let notified = self.notify.notified();
            let next_due = {
                let mut inner = self.lock();
                if self.closed.load(Ordering::Acquire) {
                    return None;
                }
                Self::promote_due(&mut inner, Instant::now());
                while let Some(stored) = inner.ready.pop_front() {
                    let message = &stored.message;
                    match codec::decode(&message.body, Some(&message.content_type)) {
                        Ok(job) => {
                            return Some(Delivery {
                                job,
                                redelivered: false,
                                handle: Handle::Memory,
                            });
                        }
                        Err(error) => {
                            tracing::warn!(%error, "malformed backfill message dead-lettered");
                            self.malformed.fetch_add(1, Ordering::Relaxed);
                            inner.dead.push_back(Stored {
                                error: Some(error.to_string()),
                                ..stored
                            });
                        }
                    }
                }
                inner.delayed.iter().map(|(at, _, _)| *at).min()
            };
            match next_due {
                Some(at) => tokio::select! {
                    () = notified => {}
                    () = tokio::time::sleep_until(at) => {}
                },
                None => notified.await,
            }
        }
    }

    async fn settle(&self, _delivery: Delivery) -> Result<(), QueueError> {
        Ok(())
    }

    fn delays(&self) -> &[Duration] {
        &self.delays
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, QueueError> {
        let mut inner = self.lock();
        let now = Instant::now();
        Self::promote_due(&mut inner, now);
        let age = |q: &VecDeque<Stored>| q.front().map(|s| now - s.since);
        let mut stats = vec![QueueStats {
            queue: self.topology.jobs.clone(),
            depth: inner.ready.len() as u64,
            oldest_age: age(&inner.ready),
        }];
        for (stage, (name, _)) in self.topology.delays.iter().enumerate() {
            stats.push(QueueStats {
                queue: name.clone(),
                depth: inner.delayed.iter().filter(|(_, s, _)| *s == stage).count() as u64,
                oldest_age: None,
            });
        }
        stats.push(QueueStats {
            queue: self.topology.dlq.clone(),
            depth: inner.dead.len() as u64,
            oldest_age: age(&inner.dead),
        });
        Ok(stats)
    }

    async fn take_dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut inner = self.lock();
        let n = max.min(inner.dead.len());
        Ok(inner
            .dead
            .drain(..n)
            .map(|s| DeadLetter {
                job: codec::decode(&s.message.body, Some(&s.message.content_type)).ok(),
                error: s.error.unwrap_or_default(),
                attempt: s.message.attempt,
                body: s.message.body,
            })
            .collect())
    }

    fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }
}
