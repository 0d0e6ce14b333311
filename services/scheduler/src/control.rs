//! `SchedulerControl` over gRPC: status is open; triggering a scrape and
//! pausing or resuming an org need the admin token and the leader role (a
//! follower answers FAILED_PRECONDITION naming the leader it knows).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ghstats_proto::timestamp_to_proto;
use ghstats_proto::v1::scheduler_control_server::SchedulerControl;
use ghstats_proto::v1::{
    GetSchedulerStatusRequest, OrgRequest, OrgStatus, RequestBackfillRequest,
    RequestBackfillResponse, Role, SchedulerStatus, TriggerScrapeRequest, TriggerScrapeResponse,
};
use ghstats_runtime::grpc::require_admin;
use tonic::{Request, Response, Status};

use crate::controller::OrgController;
use crate::cooldown::GithubState;

/// Whether this replica leads, and under which term.
#[derive(Debug, Default)]
pub struct Leadership {
    leading: AtomicBool,
    term: AtomicU64,
}

impl Leadership {
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
}

impl ControlService {
    #[allow(clippy::result_large_err)]
    fn leader_only<T>(&self, req: &Request<T>) -> Result<(), Status> {
        require_admin(req.metadata(), self.admin_token.as_deref())?;
        if !self.leadership.leading() {
            return Err(Status::failed_precondition(format!(
                "{} is not the leader; send this to the leader",
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

#[tonic::async_trait]
impl SchedulerControl for ControlService {
    async fn get_status(
        &self,
        _req: Request<GetSchedulerStatusRequest>,
    ) -> Result<Response<SchedulerStatus>, Status> {
        let leading = self.leadership.leading();
        Ok(Response::new(SchedulerStatus {
            identity: self.identity.clone(),
            role: if leading {
                Role::Leader
            } else {
                Role::Follower
            } as i32,
            leader_identity: if leading {
                self.identity.clone()
            } else {
                String::new()
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
        self.leader_only(&req)?;
        self.controller(&req.get_ref().org)?.trigger();
        Ok(Response::new(TriggerScrapeResponse { started: true }))
    }

    async fn request_backfill(
        &self,
        req: Request<RequestBackfillRequest>,
    ) -> Result<Response<RequestBackfillResponse>, Status> {
        self.leader_only(&req)?;
        Err(Status::unimplemented(
            "backfill requests over gRPC arrive with the RabbitMQ producer",
        ))
    }

    async fn pause_org(&self, req: Request<OrgRequest>) -> Result<Response<OrgStatus>, Status> {
        self.leader_only(&req)?;
        let c = self.controller(&req.get_ref().org)?;
        c.set_paused(true);
        Ok(Response::new(Self::org_status(c)))
    }

    async fn resume_org(&self, req: Request<OrgRequest>) -> Result<Response<OrgStatus>, Status> {
        self.leader_only(&req)?;
        let c = self.controller(&req.get_ref().org)?;
        c.set_paused(false);
        Ok(Response::new(Self::org_status(c)))
    }
}
