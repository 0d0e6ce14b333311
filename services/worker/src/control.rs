//! `WorkerControl` over gRPC: status is open; drain (stop taking jobs,
//! give prefetched ones back, let in-flight ones finish) and resume need
//! the admin token.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ghstats_proto::v1::worker_control_server::WorkerControl;
use ghstats_proto::v1::{DrainRequest, GetWorkerStatusRequest, ResumeRequest, WorkerStatus};
use ghstats_queue::JobQueue;
use ghstats_runtime::grpc::require_admin;
use tonic::{Request, Response, Status};

use crate::consume::Counts;
use crate::gate::Gate;

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
    /// The webhook intake and where it listens, when on.
    pub intake: Option<(Arc<crate::webhook::Intake>, String)>,
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
            webhook_listen: self
                .intake
                .as_ref()
                .map(|(_, addr)| addr.clone())
                .unwrap_or_default(),
            webhook_accepted: self
                .intake
                .as_ref()
                .map_or(0, |(i, _)| i.accepted.load(Ordering::Relaxed)),
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
