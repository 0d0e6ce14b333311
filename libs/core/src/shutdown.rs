//! Graceful shutdown: one cancellation token for the process, every
//! background task spawned through [`Shutdown::spawn`] with a name so it is
//! tracked, logged when it fails, and awaited (within the grace period) on
//! the way out.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared by every task of a process; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// A shutdown that ends when `self` ends, or earlier on its own
    /// [`trigger`](Self::trigger): for a part of the process (one org's
    /// controller, the leader-only loops) that stops on its own.
    pub fn child(&self) -> Self {
        Self {
            token: self.token.child_token(),
            tracker: self.tracker.clone(),
        }
    }

    /// Starts the shutdown.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when the shutdown starts.
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Spawns a tracked task named `name`. Its error is logged; a task that
    /// must stop the process on failure calls [`trigger`](Self::trigger).
    pub fn spawn<F, E>(&self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        self.tracker.spawn(async move {
            tracing::debug!(task = name, "task started");
            match task.await {
                Ok(()) => tracing::debug!(task = name, "task finished"),
                Err(e) => tracing::error!(task = name, error = %e, "task failed"),
            }
        });
    }

    /// Spawns a tracked task named `name` that runs `tick` once every
    /// `period` (the first right away; a slow tick delays the next one,
    /// never overlaps it) until the shutdown, which also ends a tick
    /// under way.
    pub fn spawn_every<F, Fut>(&self, name: &'static str, period: Duration, mut tick: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let stop = self.clone();
        self.spawn(name, async move {
            let mut cadence = Cadence::starting_now(period);
            while cadence.next(&stop, None).await != Resumed::ShutDown {
                if stop.unless_triggered(tick()).await.is_none() {
                    break;
                }
            }
            Ok::<(), std::convert::Infallible>(())
        });
    }

    /// Sleeps for `pause`; returns false when the shutdown started first.
    pub async fn sleep(&self, pause: Duration) -> bool {
        self.pause(pause, None).await != Resumed::ShutDown
    }

    /// Waits until `pause` has elapsed, `wake` is notified or the shutdown
    /// starts, and says which came first.
    pub async fn pause(&self, pause: Duration, wake: Option<&Notify>) -> Resumed {
        let woken = async {
            match wake {
                Some(wake) => wake.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => Resumed::Elapsed,
            () = woken => Resumed::Woken,
            () = self.triggered() => Resumed::ShutDown,
        }
    }

    /// Runs `work` to its end, or drops it when the shutdown starts first
    /// (`None`).
    pub async fn unless_triggered<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            out = work => Some(out),
            () = self.triggered() => None,
        }
    }

    /// Cancels on SIGTERM or SIGINT (a tracked task).
    pub fn listen_for_signals(&self) {
        let token = self.token.clone();
        self.spawn("signal_listener", async move {
            tokio::select! {
                signal = wait_for_signal() => {
                    tracing::info!(signal = signal?, "shutdown requested");
                    token.cancel();
                }
                () = token.cancelled() => {}
            }
            Ok::<(), std::io::Error>(())
        });
    }

    /// Waits for every tracked task, at most `grace`; returns whether they
    /// all finished in time.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.tracker.close();
        let finished = tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok();
        if !finished {
            tracing::warn!(
                grace_seconds = grace.as_secs_f64(),
                remaining = self.tracker.len(),
                "tasks still running after the shutdown grace period"
            );
        }
        finished
    }
}

/// What ended a wait between two runs of a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// The pause or period elapsed.
    Elapsed,
    /// The loop's wake-up [`Notify`] fired (a trigger, a resync).
    Woken,
    /// The shutdown started: the loop ends.
    ShutDown,
}

/// A fixed-rate schedule for a loop: ticks every `period` measured from
/// the start; after a slow run the missed ticks collapse into one that
/// comes right away, and the rhythm goes on (never a burst of catch-up
/// runs).
/// The one way a loop of the product waits for its next periodic run.
#[derive(Debug)]
pub struct Cadence {
    interval: tokio::time::Interval,
}

impl Cadence {
    /// First tick right away.
    pub fn starting_now(period: Duration) -> Self {
        Self::starting_at(tokio::time::Instant::now(), period)
    }

    /// First tick one `period` from now.
    pub fn starting_after(period: Duration) -> Self {
        Self::starting_at(tokio::time::Instant::now() + period, period)
    }

    fn starting_at(start: tokio::time::Instant, period: Duration) -> Self {
        let mut interval = tokio::time::interval_at(start, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Self { interval }
    }

    /// Waits for the next tick (for a loop that races the tick against
    /// work of its own).
    pub async fn tick(&mut self) {
        self.interval.tick().await;
    }

    /// Waits for the next tick, for `wake` or for the shutdown.
    pub async fn next(&mut self, shutdown: &Shutdown, wake: Option<&Notify>) -> Resumed {
        let woken = async {
            match wake {
                Some(wake) => wake.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.interval.tick() => Resumed::Elapsed,
            () = woken => Resumed::Woken,
            () = shutdown.triggered() => Resumed::ShutDown,
        }
    }
}

async fn wait_for_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_tasks_that_stop_on_trigger() {
        let shutdown = Shutdown::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let s = shutdown.clone();
        shutdown.spawn("worker", async move {
            s.triggered().await;
            tx.send(()).map_err(|_| "receiver gone")
        });
        shutdown.trigger();
        assert!(shutdown.drain(Duration::from_secs(5)).await);
        rx.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_the_grace_period() {
        let shutdown = Shutdown::new();
        shutdown.spawn("stubborn", async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<(), String>(())
        });
        shutdown.trigger();
        assert!(!shutdown.drain(Duration::from_secs(1)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn periodic_tasks_tick_until_the_shutdown() {
        let shutdown = Shutdown::new();
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = ticks.clone();
        shutdown.spawn_every("ticker", Duration::from_secs(10), move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert_eq!(ticks.load(std::sync::atomic::Ordering::Relaxed), 3);
        shutdown.trigger();
        assert!(shutdown.drain(Duration::from_secs(1)).await);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(ticks.load(std::sync::atomic::Ordering::Relaxed), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_ends_on_time_on_wake_or_on_shutdown() {
        let shutdown = Shutdown::new();
        let wake = Notify::new();
        assert_eq!(
            shutdown.pause(Duration::from_secs(5), Some(&wake)).await,
            Resumed::Elapsed
        );
        wake.notify_one();
        assert_eq!(
            shutdown.pause(Duration::from_secs(3600), Some(&wake)).await,
            Resumed::Woken
        );
        shutdown.trigger();
        assert_eq!(
            shutdown.pause(Duration::from_secs(3600), Some(&wake)).await,
            Resumed::ShutDown
        );
        assert!(!shutdown.sleep(Duration::from_secs(3600)).await);
        let never = std::future::pending::<()>();
        assert_eq!(shutdown.unless_triggered(never).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cadence_skips_the_ticks_a_slow_run_missed() {
        let shutdown = Shutdown::new();
        let start = tokio::time::Instant::now();
        let mut cadence = Cadence::starting_after(Duration::from_secs(10));
        assert_eq!(cadence.next(&shutdown, None).await, Resumed::Elapsed);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        // A run of 25 s misses the ticks at 20 s and 30 s: one tick comes
        // right away, and the next keeps the rhythm (at 40 s, not 45 s).
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert_eq!(cadence.next(&shutdown, None).await, Resumed::Elapsed);
        assert_eq!(start.elapsed(), Duration::from_secs(35));
        assert_eq!(cadence.next(&shutdown, None).await, Resumed::Elapsed);
        assert_eq!(start.elapsed(), Duration::from_secs(40));
        let wake = Notify::new();
        wake.notify_one();
        assert_eq!(cadence.next(&shutdown, Some(&wake)).await, Resumed::Woken);
        assert_eq!(start.elapsed(), Duration::from_secs(40));
    }

    #[tokio::test]
    async fn child_stops_with_parent_but_not_the_reverse() {
        let parent = Shutdown::new();
        let child = parent.child();
        child.trigger();
        assert!(!parent.is_triggered());
        let other = parent.child();
        parent.trigger();
        assert!(other.is_triggered());
    }
}
