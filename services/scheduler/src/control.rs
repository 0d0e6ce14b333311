//! `SchedulerControl` over gRPC: status is open; triggering a scrape,
//! requesting a backfill and pausing or resuming an org need the admin
//! token and the leader role (a follower answers FAILED_PRECONDITION naming
//! the current lease holder).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ghstats_backfill::{BackfillError, BackfillProducer, BackfillRequest};
use ghstats_election::LeaseBackend;
use ghstats_proto::v1::scheduler_control_server::SchedulerControl;
use ghstats_proto::v1::{
    GetSchedulerStatusRequest, OrgRequest, OrgStatus, RequestBackfillRequest,
    RequestBackfillResponse, Role, SchedulerStatus, TriggerScrapeRequest, TriggerScrapeResponse,
};
use ghstats_proto::{BackfillReason, TimeWindow, timestamp_to_proto, v1};
use ghstats_runtime::grpc::require_admin;
use ghstats_store::WriteCtx;
use tonic::{Request, Response, Status};

use crate::cooldown::GithubState;
use crate::org_loop::OrgController;

/// Whether this replica leads, and under which term; and the lease, to
/// name the leader when this replica does not lead.
#[derive(Debug, Default)]
pub struct Leadership {
    leading: AtomicBool,
    term: AtomicU64,
    lease: std::sync::Mutex<Option<Arc<dyn LeaseBackend>>>,
}

impl Leadership {
    pub fn set_lease(&self, lease: Arc<dyn LeaseBackend>) {
        *self.lease.lock().unwrap_or_else(|p| p.into_inner()) = Some(lease);
    }

    /// Who holds the lease now, as far as this replica can tell.
    pub async fn leader(&self) -> Option<String> {
        let lease = self
            .lease
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        lease.holder().await.ok().flatten()
    }

    pub fn term(&self) -> u64 {
        self.term.load(Ordering::Relaxed)
    }

    pub fn set(&self, leading: bool, term: u64) {
        self.term.store(term, Ordering::Relaxed);
        self.leading.store(leading, Ordering::Relaxed);
    }

    pub fn leading(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
pub struct ControlService {
    pub identity: String,
    pub leadership: Arc<Leadership>,
    pub controllers: Vec<Arc<OrgController>>,
    pub admin_token: Option<String>,
    /// Where operator backfill requests go.
    pub backfill: Arc<dyn BackfillProducer>,
    /// This replica's health, reported with its status.
    pub health: ghstats_core::health::HealthRegistry,
}

impl ControlService {
    async fn leader_only<T>(&self, req: &Request<T>) -> Result<(), Status> {
        require_admin(req.metadata(), self.admin_token.as_deref())?;
        if !self.leadership.leading() {
            let leader = match self.leadership.leader().await {
                Some(l) => format!("the leader is {l}"),
                None => "no replica holds the lease now".to_owned(),
            };
            return Err(Status::failed_precondition(format!(
                "{} is not the leader; {leader}",
                self.identity
            )));
        }
        Ok(())
    }

    #[allow(clippy::result_large_err)]
    fn controller(&self, org: &str) -> Result<&Arc<OrgController>, Status> {
        self.controllers
            .iter()
            .find(|c| c.org().eq_ignore_ascii_case(org))
            .ok_or_else(|| Status::not_found(format!("org {org:?} is not configured")))
    }

    fn org_status(c: &OrgController) -> OrgStatus {
        let last = c.last_result();
        let budget = c.client().budget();
        OrgStatus {
            org: c.org().to_owned(),
            paused: c.is_paused(),
            last_run_at: last.map(|(t, _)| timestamp_to_proto(t)),
            last_result: last.map(|(_, r)| r.to_owned()).unwrap_or_default(),
            cooldown_until: match c.github_state() {
                GithubState::CoolingDown(until) => Some(timestamp_to_proto(until)),
                _ => None,
            },
            rate_limit_remaining: budget.map(|b| b.remaining as i64),
            rate_limit_reset_at: budget.map(|b| timestamp_to_proto(b.reset)),
            loc_modes: Default::default(),
        }
    }
}

#[allow(clippy::result_large_err)]
fn timestamp_from_proto(
    t: &prost_types::Timestamp,
) -> Result<chrono::DateTime<chrono::Utc>, Status> {
    let nanos = u32::try_from(t.nanos).map_err(|_| Status::invalid_argument("negative nanos"))?;
    chrono::DateTime::from_timestamp(t.seconds, nanos)
        .ok_or_else(|| Status::invalid_argument("timestamp out of range"))
}

#[tonic::async_trait]
impl SchedulerControl for ControlService {
    async fn get_status(
        &self,
        _req: Request<GetSchedulerStatusRequest>,
    ) -> Result<Response<SchedulerStatus>, Status> {
        let leading = self.leadership.leading();
        let (health_mode, health_reason) = self.health.summary();
        Ok(Response::new(SchedulerStatus {
            health_mode: health_mode.to_owned(),
            health_reason,
            identity: self.identity.clone(),
            role: if leading {
                Role::Leader
            } else {
                Role::Follower
            } as i32,
            leader_identity: if leading {
                self.identity.clone()
            } else {
                self.leadership.leader().await.unwrap_or_default()
            },
            lease_term: self.leadership.term.load(Ordering::Relaxed),
            orgs: self
                .controllers
                .iter()
                .map(|c| Self::org_status(c))
                .collect(),
        }))
    }

    async fn trigger_scrape(
        &self,
        req: Request<TriggerScrapeRequest>,
    ) -> Result<Response<TriggerScrapeResponse>, Status> {
        self.leader_only(&req).await?;
        self.controller(&req.get_ref().org)?.trigger();
        Ok(Response::new(TriggerScrapeResponse { started: true }))
    }

    async fn request_backfill(
        &self,
        req: Request<RequestBackfillRequest>,
    ) -> Result<Response<RequestBackfillResponse>, Status> {
        self.leader_only(&req).await?;
        let r = req.into_inner();
        let org = self.controller(&r.org)?.org().to_owned();
        if r.repo.trim().is_empty() {
            return Err(Status::invalid_argument(
                "repo is required (a name, or * for every repository)",
            ));
        }
        let (Some(start), Some(end)) = (r.window_start, r.window_end) else {
            return Err(Status::invalid_argument(
                "window_start and window_end are required",
            ));
        };
        let window = TimeWindow::new(timestamp_from_proto(&start)?, timestamp_from_proto(&end)?)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let request = BackfillRequest {
            org,
            repo: r.repo,
            window,
            reason: BackfillReason::ScrapeError,
        };
        let report = self
            .backfill
            .request_now(WriteCtx::leader(self.leadership.term()), request)
            .await
            .map_err(|e| match e {
                BackfillError::Disabled => Status::failed_precondition(e.to_string()),
                BackfillError::PendingFull { .. } | BackfillError::NotTaken => {
                    Status::unavailable(e.to_string())
                }
            })?;
        Ok(Response::new(RequestBackfillResponse {
            jobs: report.published.iter().map(v1::BackfillJob::from).collect(),
            deduplicated: u32::try_from(report.deduped).unwrap_or(u32::MAX),
        }))
    }

    async fn pause_org(&self, req: Request<OrgRequest>) -> Result<Response<OrgStatus>, Status> {
        self.leader_only(&req).await?;
        let c = self.controller(&req.get_ref().org)?;
        c.set_paused(true);
        Ok(Response::new(Self::org_status(c)))
    }

    async fn resume_org(&self, req: Request<OrgRequest>) -> Result<Response<OrgStatus>, Status> {
        self.leader_only(&req).await?;
        let c = self.controller(&req.get_ref().org)?;
        c.set_paused(false);
        Ok(Response::new(Self::org_status(c)))
    }
}
