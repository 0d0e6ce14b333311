//! `WorkerControl` over gRPC: status is open; drain (stop taking jobs,
//! give prefetched ones back, let in-flight ones finish) and resume need
//! the admin token.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ghstats_proto::v1::worker_control_server::WorkerControl;
use ghstats_proto::v1::{DrainRequest, GetWorkerStatusRequest, ResumeRequest, WorkerStatus};
use ghstats_queue::JobQueue;
use ghstats_runtime::grpc::require_admin;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::consume::Counts;

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

#[derive(Debug)]
pub struct ControlService {
    pub identity: String,
    pub consumers: u32,
    pub counts: Arc<Counts>,
    pub gate: Arc<Gate>,
    pub queue: Arc<dyn JobQueue>,
    pub admin_token: Option<String>,
    /// This replica's health, reported with its status.
    pub health: ghstats_core::health::HealthRegistry,
}

impl ControlService {
    fn status(&self) -> WorkerStatus {
        let (health_mode, health_reason) = self.health.summary();
        WorkerStatus {
            health_mode: health_mode.to_owned(),
            health_reason,
            identity: self.identity.clone(),
            consumers: self.consumers,
            in_flight: self.gate.in_flight(),
            processed: self.counts.processed.load(Ordering::Relaxed),
            failed: self.counts.failed.load(Ordering::Relaxed),
            draining: self.gate.draining(),
        }
    }

    #[allow(clippy::result_large_err)]
    fn set_draining<T>(&self, req: &Request<T>, draining: bool) -> Result<WorkerStatus, Status> {
        require_admin(req.metadata(), self.admin_token.as_deref())?;
        self.gate.set_draining(draining);
        self.queue.set_paused(draining);
        tracing::info!(draining, "worker drain state changed");
        Ok(self.status())
    }
}

#[tonic::async_trait]
impl WorkerControl for ControlService {
    async fn get_status(
        &self,
        _req: Request<GetWorkerStatusRequest>,
    ) -> Result<Response<WorkerStatus>, Status> {
        Ok(Response::new(self.status()))
    }

    async fn drain(&self, req: Request<DrainRequest>) -> Result<Response<WorkerStatus>, Status> {
        self.set_draining(&req, true).map(Response::new)
    }

    async fn resume(&self, req: Request<ResumeRequest>) -> Result<Response<WorkerStatus>, Status> {
        self.set_draining(&req, false).map(Response::new)
    }
}
