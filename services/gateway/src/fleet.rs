//! The fleet view of `/healthz?full=1`: every scheduler and worker replica
//! (from `services.*.endpoints`), asked for its status over gRPC with
//! `services.peer_timeout`; the leader and its term; `degraded` when a
//! replica does not answer or no scheduler leads.

use std::time::Duration;

use ghstats_config::{Config, HttpUrl};
use ghstats_core::health::{FleetReport, FleetView, Mode, PeerReport};
use ghstats_proto::v1::scheduler_control_client::SchedulerControlClient;
use ghstats_proto::v1::worker_control_client::WorkerControlClient;
use ghstats_proto::v1::{
    GetSchedulerStatusRequest, GetWorkerStatusRequest, Role, SchedulerStatus, WorkerStatus,
};
use ghstats_runtime::ServeError;
use ghstats_runtime::peers::{self, Peer};
use ghstats_runtime::tls::PeerTls;

#[derive(Debug, Clone)]
pub struct Fleet {
    pub schedulers: Vec<HttpUrl>,
    pub workers: Vec<HttpUrl>,
    pub timeout: Duration,
    pub tls: Option<PeerTls>,
}

impl Fleet {
    pub fn from_config(config: &Config) -> Result<Self, ServeError> {
        Ok(Self {
            schedulers: config.services.scheduler.endpoints.clone(),
            workers: config.services.worker.endpoints.clone(),
            timeout: config.services.peer_timeout.get(),
            tls: PeerTls::from_config(&config.services.grpc_tls)?,
        })
    }
}

/// A peer's reported health mode (`healthy` from a peer too old to say).
fn peer_status(mode: String) -> String {
    if mode.is_empty() {
        "healthy".to_owned()
    } else {
        mode
    }
}

fn unreachable(service: &str, endpoint: String, reason: String) -> PeerReport {
    PeerReport {
        service: service.into(),
        endpoint,
        status: "unreachable".into(),
        identity: String::new(),
        role: String::new(),
        reason,
    }
}

/// What one replica answered, or why it did not.
pub type Answer<T> = Result<T, String>;

/// Every replica's own status (the status page reads it whole).
#[derive(Debug, Clone, Default)]
pub struct FleetStatus {
    pub schedulers: Vec<(String, Answer<SchedulerStatus>)>,
    pub workers: Vec<(String, Answer<WorkerStatus>)>,
}

impl FleetStatus {
    /// The leading scheduler's status, if one answered as leader.
    pub fn leader(&self) -> Option<&SchedulerStatus> {
        self.schedulers
            .iter()
            .filter_map(|(_, a)| a.as_ref().ok())
            .find(|s| s.role == Role::Leader as i32)
    }
}

impl Fleet {
    async fn scheduler_status(&self, peer: &Peer) -> Answer<SchedulerStatus> {
        let channel = peers::connect(peer, self.timeout, self.tls.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        SchedulerControlClient::new(channel)
            .get_status(GetSchedulerStatusRequest {})
            .await
            .map(tonic::Response::into_inner)
            .map_err(|e| e.message().to_owned())
    }

    async fn worker_status(&self, peer: &Peer) -> Answer<WorkerStatus> {
        let channel = peers::connect(peer, self.timeout, self.tls.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        WorkerControlClient::new(channel)
            .get_status(GetWorkerStatusRequest {})
            .await
            .map(tonic::Response::into_inner)
            .map_err(|e| e.message().to_owned())
    }

    /// Every replica asked at once, so one slow or unreachable peer costs
    /// `peer_timeout` once, not once per peer.
    pub async fn status(&self) -> FleetStatus {
        let asked_schedulers =
            peers::resolve(&self.schedulers)
                .await
                .into_iter()
                .map(|addr| async move {
                    match addr {
                        Ok(peer) => (peer.addr.to_string(), self.scheduler_status(&peer).await),
                        Err((url, reason)) => (url, Err(reason)),
                    }
                });
        let asked_workers =
            peers::resolve(&self.workers)
                .await
                .into_iter()
                .map(|addr| async move {
                    match addr {
                        Ok(peer) => (peer.addr.to_string(), self.worker_status(&peer).await),
                        Err((url, reason)) => (url, Err(reason)),
                    }
                });
        let (schedulers, workers) = futures::future::join(
            futures::future::join_all(asked_schedulers),
            futures::future::join_all(asked_workers),
        )
        .await;
        FleetStatus {
            schedulers,
            workers,
        }
    }
}

fn scheduler_report(
    endpoint: String,
    answer: &Answer<SchedulerStatus>,
) -> (PeerReport, Option<u64>) {
    match answer {
        Ok(s) => {
            let leads = s.role == Role::Leader as i32;
            let report = PeerReport {
                service: "scheduler".into(),
                endpoint,
                status: peer_status(s.health_mode.clone()),
                identity: s.identity.clone(),
                role: if leads { "leader" } else { "follower" }.into(),
                reason: s.health_reason.clone(),
            };
            (report, leads.then_some(s.lease_term))
        }
        Err(reason) => (unreachable("scheduler", endpoint, reason.clone()), None),
    }
}

fn worker_report(endpoint: String, answer: &Answer<WorkerStatus>) -> PeerReport {
    match answer {
        Ok(s) => PeerReport {
            service: "worker".into(),
            endpoint,
            status: peer_status(s.health_mode.clone()),
            identity: s.identity.clone(),
            role: if s.draining { "draining" } else { "consuming" }.into(),
            reason: s.health_reason.clone(),
        },
        Err(reason) => unreachable("worker", endpoint, reason.clone()),
    }
}

#[ghstats_core::async_trait]
impl FleetView for Fleet {
    async fn gather(&self) -> FleetReport {
        let status = self.status().await;
        let schedulers = status
            .schedulers
            .into_iter()
            .map(|(endpoint, answer)| scheduler_report(endpoint, &answer));
        let workers = status
            .workers
            .into_iter()
            .map(|(endpoint, answer)| worker_report(endpoint, &answer));
        let (mut leader, mut term) = (None, None);
        let mut peers_seen = Vec::new();
        for (report, leading_term) in schedulers {
            if leading_term.is_some() {
                leader = Some(report.identity.clone());
                term = leading_term;
            }
            peers_seen.push(report);
        }
        peers_seen.extend(workers);
        let all_answer = peers_seen.iter().all(|p| p.status == "healthy");
        FleetReport {
            mode: if all_answer && leader.is_some() {
                Mode::Healthy
            } else {
                Mode::Degraded
            },
            leader,
            term,
            peers: peers_seen,
        }
    }
}
