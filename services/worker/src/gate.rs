//! The drain gate of a worker: whether it takes jobs, and the jobs in
//! flight (each held by an [`InFlight`] guard), shared by the consumers
//! and the control service.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ghstats_queue::JobQueue;
use tokio::sync::watch;

/// What the consumer loops and the control service share.
#[derive(Debug)]
pub struct Gate {
    draining: watch::Sender<bool>,
    in_flight: AtomicU32,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            draining: watch::channel(false).0,
            in_flight: AtomicU32::new(0),
        }
    }
}

impl Gate {
    pub fn draining(&self) -> bool {
        *self.draining.borrow()
    }

    pub fn set_draining(&self, draining: bool) {
        self.draining.send_replace(draining);
    }

    /// Returns once the worker may take jobs.
    pub async fn open(&self) {
        let mut rx = self.draining.subscribe();
        let _ = rx.wait_for(|d| !*d).await.map(|_| ());
    }

    /// Returns once the worker is told to drain.
    pub async fn closed(&self) {
        let mut rx = self.draining.subscribe();
        let _ = rx.wait_for(|d| *d).await.map(|_| ());
    }

    /// The next delivery, taken only while the gate is open: a wait for a
    /// job is abandoned when a drain starts.
    pub async fn next(&self, queue: &dyn JobQueue) -> Option<ghstats_queue::Delivery> {
        loop {
            self.open().await;
            tokio::select! {
                d = queue.next() => return d,
                () = self.closed() => {}
            }
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a job in flight until the guard drops.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

/// A job being processed.
#[derive(Debug)]
pub struct InFlight(Arc<Gate>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
