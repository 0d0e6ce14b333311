//! The fleet view of `/healthz?full=1`: every scheduler and worker replica
//! (from `services.*.endpoints`), asked for its status over gRPC with
//! `services.peer_timeout`; the leader and its term; `degraded` when a
//! replica does not answer or no scheduler leads.

use std::time::Duration;

use ghstats_config::{Config, HttpUrl};
use ghstats_core::health::{FleetReport, FleetView, Mode, PeerReport};
use ghstats_proto::v1::scheduler_control_client::SchedulerControlClient;
use ghstats_proto::v1::worker_control_client::WorkerControlClient;
use ghstats_proto::v1::{GetSchedulerStatusRequest, GetWorkerStatusRequest, Role};
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

impl Fleet {
    async fn scheduler(&self, peer: &Peer) -> (PeerReport, Option<u64>) {
        let endpoint = peer.addr.to_string();
        let channel = match peers::connect(peer, self.timeout, self.tls.as_ref()).await {
            Ok(c) => c,
            Err(e) => return (unreachable("scheduler", endpoint, e.to_string()), None),
        };
        match SchedulerControlClient::new(channel)
            .get_status(GetSchedulerStatusRequest {})
            .await
        {
            Ok(s) => {
                let s = s.into_inner();
                let leads = s.role == Role::Leader as i32;
                let report = PeerReport {
                    service: "scheduler".into(),
                    endpoint,
                    status: peer_status(s.health_mode),
                    identity: s.identity,
                    role: if leads { "leader" } else { "follower" }.into(),
                    reason: s.health_reason,
                };
                (report, leads.then_some(s.lease_term))
            }
            Err(e) => (
                unreachable("scheduler", endpoint, e.message().to_owned()),
                None,
            ),
        }
    }

    async fn worker(&self, peer: &Peer) -> PeerReport {
        let endpoint = peer.addr.to_string();
        let channel = match peers::connect(peer, self.timeout, self.tls.as_ref()).await {
            Ok(c) => c,
            Err(e) => return unreachable("worker", endpoint, e.to_string()),
        };
        match WorkerControlClient::new(channel)
            .get_status(GetWorkerStatusRequest {})
            .await
        {
            Ok(s) => {
                let s = s.into_inner();
                PeerReport {
                    service: "worker".into(),
                    endpoint,
                    status: peer_status(s.health_mode),
                    identity: s.identity,
                    role: if s.draining { "draining" } else { "consuming" }.into(),
                    reason: s.health_reason,
                }
            }
            Err(e) => unreachable("worker", endpoint, e.message().to_owned()),
        }
    }
}

#[ghstats_core::async_trait]
impl FleetView for Fleet {
    /// Every replica is asked at once, so one slow or unreachable peer
    /// costs `peer_timeout` once, not once per peer.
    async fn gather(&self) -> FleetReport {
        let asked_schedulers =
            peers::resolve(&self.schedulers)
                .await
                .into_iter()
                .map(|addr| async move {
                    match addr {
                        Ok(peer) => self.scheduler(&peer).await,
                        Err((url, reason)) => (unreachable("scheduler", url, reason), None),
                    }
                });
        let asked_workers =
            peers::resolve(&self.workers)
                .await
                .into_iter()
                .map(|addr| async move {
                    match addr {
                        Ok(peer) => self.worker(&peer).await,
                        Err((url, reason)) => unreachable("worker", url, reason),
                    }
                });
        let (schedulers, workers) = futures::future::join(
            futures::future::join_all(asked_schedulers),
            futures::future::join_all(asked_workers),
        )
        .await;
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
