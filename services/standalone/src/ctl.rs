//! `ghstats ctl`: the operator's command line over the services' gRPC
//! control: `status`, `scrape --org`, `backfill --org --repo --from --to`,
//! `pause|resume --org`, `drain|resume --worker`. Addresses come from
//! `--scheduler`/`--worker-endpoint` or the config's `services.*.endpoints`
//! (each resolved to all its addresses); leader-only calls go to the
//! scheduler that answers as leader. Output is for people, or JSON with
//! `--json`.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghstats_config::HttpUrl;
use ghstats_proto::timestamp_to_proto;
use ghstats_proto::v1::scheduler_control_client::SchedulerControlClient;
use ghstats_proto::v1::worker_control_client::WorkerControlClient;
use ghstats_proto::v1::{
    DrainRequest, GetSchedulerStatusRequest, GetWorkerStatusRequest, OrgRequest, OrgStatus,
    RequestBackfillRequest, ResumeRequest, Role, SchedulerStatus, TriggerScrapeRequest,
    WorkerStatus,
};
use ghstats_runtime::peers::{self, Peer};
use ghstats_runtime::tls::PeerTls;
use serde_json::{Value, json};
use tonic::Request;
use tonic::transport::Channel;

/// Environment variable read for the admin token when no file is given.
pub const TOKEN_ENV: &str = "GHSTATS_ADMIN_TOKEN";

#[derive(Debug, clap::Args)]
pub struct CtlArgs {
    /// Config whose `services.*.endpoints`, `peer_timeout` and admin token to use.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Scheduler gRPC endpoint, e.g. http://127.0.0.1:9091 (repeatable; replaces the config's).
    #[arg(long = "scheduler", value_name = "URL")]
    pub schedulers: Vec<String>,
    /// Worker gRPC endpoint (repeatable; replaces the config's).
    #[arg(long = "worker-endpoint", value_name = "URL")]
    pub workers: Vec<String>,
    /// File with the admin token (else $GHSTATS_ADMIN_TOKEN, else the config's source).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum CtlCommand {
    /// Every scheduler and worker: role, orgs, counts.
    Status,
    /// Start a scrape cycle of an org now (leader).
    Scrape {
        #[arg(long)]
        org: String,
    },
    /// Backfill a window of a repository (`*` for all) of an org (leader).
    Backfill {
        #[arg(long)]
        org: String,
        #[arg(long)]
        repo: String,
        /// Window start, RFC 3339 (2026-11-20T00:00:00Z).
        #[arg(long)]
        from: DateTime<Utc>,
        /// Window end, RFC 3339.
        #[arg(long)]
        to: DateTime<Utc>,
    },
    /// Pause an org's scheduled scrapes (leader).
    Pause {
        #[arg(long)]
        org: String,
    },
    /// Resume an org (`--org`, leader) or a drained worker (`--worker URL`).
    Resume {
        #[arg(long, conflicts_with = "worker", required_unless_present = "worker")]
        org: Option<String>,
        #[arg(long, value_name = "URL")]
        worker: Option<String>,
    },
    /// Stop a worker taking jobs; in-flight jobs finish.
    Drain {
        #[arg(long, value_name = "URL")]
        worker: String,
    },
}

struct Target {
    schedulers: Vec<HttpUrl>,
    workers: Vec<HttpUrl>,
    timeout: Duration,
    token: Option<String>,
    tls: Option<PeerTls>,
}

/// Why a `ghstats ctl` command failed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error(transparent)]
    Config(#[from] ghstats_config::ConfigError),
    #[error("{path}: {source}")]
    TokenFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{url}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("peer TLS: {0}")]
    Tls(#[source] ghstats_runtime::ServeError),
    #[error(
        "this command needs the admin token: --token-file, ${TOKEN_ENV} or services.admin_token_file"
    )]
    NoAdminToken,
    #[error("the admin token is not a valid header value")]
    BadAdminToken,
    #[error("{what} {url}: {reason}")]
    Unresolved {
        what: &'static str,
        url: String,
        reason: String,
    },
    #[error("no {0} endpoint configured")]
    NoEndpoint(&'static str),
    #[error(transparent)]
    Peer(#[from] peers::PeerError),
    #[error("no scheduler answers as leader")]
    NoLeader,
    #[error("{:?}: {}", .0.code(), .0.message())]
    Rpc(#[from] tonic::Status),
    #[error("{0}")]
    Usage(&'static str),
}

fn urls(given: &[String], fallback: &[HttpUrl]) -> Result<Vec<HttpUrl>, CtlError> {
    if given.is_empty() {
        return Ok(fallback.to_vec());
    }
    given
        .iter()
        .map(|u| {
            u.parse().map_err(|reason| CtlError::BadUrl {
                url: u.clone(),
                reason,
            })
        })
        .collect()
}

impl Target {
    fn from_args(args: &CtlArgs) -> Result<Self, CtlError> {
        let config = match &args.config {
            Some(path) => ghstats_config::load_file(path)?,
            None => ghstats_config::load_str("", "defaults", std::env::vars())?,
        };
        let token = match &args.token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| CtlError::TokenFile {
                        path: path.display().to_string(),
                        source,
                    })?
                    .trim()
                    .to_owned(),
            ),
            None => match std::env::var(TOKEN_ENV) {
                Ok(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
                _ => config.services.admin_token_value()?,
            },
        };
        Ok(Self {
            schedulers: urls(&args.schedulers, &config.services.scheduler.endpoints)?,
            workers: urls(&args.workers, &config.services.worker.endpoints)?,
            timeout: config.services.peer_timeout.get(),
            token,
            tls: PeerTls::from_config(&config.services.grpc_tls).map_err(CtlError::Tls)?,
        })
    }

    fn admin<T>(&self, msg: T) -> Result<Request<T>, CtlError> {
        let token = self.token.as_deref().ok_or(CtlError::NoAdminToken)?;
        let mut req = Request::new(msg);
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| CtlError::BadAdminToken)?;
        req.metadata_mut().insert("authorization", value);
        Ok(req)
    }

    async fn channel(&self, peer: &Peer) -> Result<Channel, CtlError> {
        Ok(peers::connect(peer, self.timeout, self.tls.as_ref()).await?)
    }

    async fn addresses(&self, urls: &[HttpUrl], what: &'static str) -> Result<Vec<Peer>, CtlError> {
        let mut out = Vec::new();
        for r in peers::resolve(urls).await {
            out.push(r.map_err(|(url, reason)| CtlError::Unresolved { what, url, reason })?);
        }
        if out.is_empty() {
            return Err(CtlError::NoEndpoint(what));
        }
        Ok(out)
    }

    async fn scheduler_statuses(&self) -> Vec<(Peer, Result<SchedulerStatus, CtlError>)> {
        let mut out = Vec::new();
        for peer in self
            .addresses(&self.schedulers, "scheduler")
            .await
            .unwrap_or_default()
        {
            let status = match self.channel(&peer).await {
                Ok(c) => SchedulerControlClient::new(c)
                    .get_status(GetSchedulerStatusRequest {})
                    .await
                    .map(|r| r.into_inner())
                    .map_err(CtlError::Rpc),
                Err(e) => Err(e),
            };
            out.push((peer, status));
        }
        out
    }

    async fn leader(&self) -> Result<SchedulerControlClient<Channel>, CtlError> {
        for (peer, status) in self.scheduler_statuses().await {
            if status.is_ok_and(|s| s.role == Role::Leader as i32) {
                return Ok(SchedulerControlClient::new(self.channel(&peer).await?));
            }
        }
        Err(CtlError::NoLeader)
    }

    async fn worker(&self, url: &str) -> Result<WorkerControlClient<Channel>, CtlError> {
        let url: HttpUrl = url.parse().map_err(|reason| CtlError::BadUrl {
            url: url.to_owned(),
            reason,
        })?;
        let peer = self
            .addresses(std::slice::from_ref(&url), "worker")
            .await?
            .remove(0);
        Ok(WorkerControlClient::new(self.channel(&peer).await?))
    }
}

fn org_json(o: &OrgStatus) -> Value {
    json!({
        "org": o.org,
        "paused": o.paused,
        "last_result": o.last_result,
        "last_run_at": o.last_run_at.as_ref().map(|t| t.seconds),
        "cooldown_until": o.cooldown_until.as_ref().map(|t| t.seconds),
        "rate_limit_remaining": o.rate_limit_remaining,
    })
}

fn worker_json(addr: &str, w: &WorkerStatus) -> Value {
    json!({
        "endpoint": addr,
        "identity": w.identity,
        "consumers": w.consumers,
        "in_flight": w.in_flight,
        "processed": w.processed,
        "failed": w.failed,
        "draining": w.draining,
        "health": w.health_mode,
        "health_reason": w.health_reason,
        "webhook_listen": w.webhook_listen,
        "webhook_accepted": w.webhook_accepted,
    })
}

/// `, degraded (why)` when a replica says it is not healthy.
fn health_suffix(mode: &str, reason: &str) -> String {
    match mode {
        "" | "healthy" => String::new(),
        _ if reason.is_empty() => format!(", {mode}"),
        _ => format!(", {mode} ({reason})"),
    }
}

fn worker_line(w: &WorkerStatus) -> String {
    format!(
        "{} {}: {} consumers, {} in flight, {} processed, {} failed{}{}",
        w.identity,
        if w.draining { "draining" } else { "consuming" },
        w.consumers,
        w.in_flight,
        w.processed,
        w.failed,
        if w.webhook_listen.is_empty() {
            String::new()
        } else {
            format!(
                ", webhooks on {} ({} accepted)",
                w.webhook_listen, w.webhook_accepted
            )
        },
        health_suffix(&w.health_mode, &w.health_reason)
    )
}

fn org_line(o: &OrgStatus) -> String {
    let mut line = format!(
        "  {}: last {}{}",
        o.org,
        if o.last_result.is_empty() {
            "none"
        } else {
            &o.last_result
        },
        if o.paused { ", paused" } else { "" }
    );
    if let Some(r) = o.rate_limit_remaining {
        line.push_str(&format!(", rate limit {r} left"));
    }
    if o.cooldown_until.is_some() {
        line.push_str(", GitHub cooldown");
    }
    line
}

/// Runs one command; the text (or JSON) to print, or an error message.
pub async fn run(args: &CtlArgs) -> Result<String, CtlError> {
    let t = Target::from_args(args)?;
    let (text, value) = match &args.command {
        CtlCommand::Status => {
            let mut lines = Vec::new();
            let mut schedulers = Vec::new();
            for (peer, status) in t.scheduler_statuses().await {
                let addr = peer.addr;
                match status {
                    Ok(s) => {
                        let leads = s.role == Role::Leader as i32;
                        lines.push(format!(
                            "scheduler {addr} {}: {}{}",
                            s.identity,
                            if leads {
                                format!("leader (term {})", s.lease_term)
                            } else if s.leader_identity.is_empty() {
                                "follower".to_owned()
                            } else {
                                format!("follower (leader {})", s.leader_identity)
                            },
                            health_suffix(&s.health_mode, &s.health_reason)
                        ));
                        lines.extend(s.orgs.iter().map(org_line));
                        schedulers.push(json!({
                            "endpoint": addr.to_string(),
                            "identity": s.identity,
                            "role": if leads { "leader" } else { "follower" },
                            "leader": s.leader_identity,
                            "term": s.lease_term,
                            "health": s.health_mode,
                            "health_reason": s.health_reason,
                            "orgs": s.orgs.iter().map(org_json).collect::<Vec<_>>(),
                        }));
                    }
                    Err(e) => {
                        lines.push(format!("scheduler {addr}: unreachable ({e})"));
                        schedulers
                            .push(json!({"endpoint": addr.to_string(), "error": e.to_string()}));
                    }
                }
            }
            let mut workers = Vec::new();
            for peer in t.addresses(&t.workers, "worker").await.unwrap_or_default() {
                let addr = peer.addr;
                let status = match t.channel(&peer).await {
                    Ok(c) => WorkerControlClient::new(c)
                        .get_status(GetWorkerStatusRequest {})
                        .await
                        .map(|r| r.into_inner())
                        .map_err(CtlError::Rpc),
                    Err(e) => Err(e),
                };
                match status {
                    Ok(w) => {
                        lines.push(format!("worker {addr} {}", worker_line(&w)));
                        workers.push(worker_json(&addr.to_string(), &w));
                    }
                    Err(e) => {
                        lines.push(format!("worker {addr}: unreachable ({e})"));
                        workers.push(json!({"endpoint": addr.to_string(), "error": e.to_string()}));
                    }
                }
            }
            (
                lines.join("\n"),
                json!({"schedulers": schedulers, "workers": workers}),
            )
        }
        CtlCommand::Scrape { org } => {
            let r = t
                .leader()
                .await?
                .trigger_scrape(t.admin(TriggerScrapeRequest { org: org.clone() })?)
                .await?
                .into_inner();
            let text = if r.started {
                format!("scrape of {org} started")
            } else {
                format!("a scrape of {org} is already running")
            };
            (text, json!({"org": org, "started": r.started}))
        }
        CtlCommand::Backfill {
            org,
            repo,
            from,
            to,
        } => {
            let r = t
                .leader()
                .await?
                .request_backfill(t.admin(RequestBackfillRequest {
                    org: org.clone(),
                    repo: repo.clone(),
                    window_start: Some(timestamp_to_proto(*from)),
                    window_end: Some(timestamp_to_proto(*to)),
                })?)
                .await?
                .into_inner();
            let ids: Vec<&str> = r.jobs.iter().map(|j| j.job_id.as_str()).collect();
            let text = format!(
                "{} job(s) enqueued{}; {} window(s) already enqueued",
                r.jobs.len(),
                if ids.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", ids.join(", "))
                },
                r.deduplicated
            );
            (text, json!({"jobs": ids, "deduplicated": r.deduplicated}))
        }
        CtlCommand::Pause { org } | CtlCommand::Resume { org: Some(org), .. } => {
            let pause = matches!(args.command, CtlCommand::Pause { .. });
            let mut leader = t.leader().await?;
            let req = t.admin(OrgRequest { org: org.clone() })?;
            let o = if pause {
                leader.pause_org(req).await
            } else {
                leader.resume_org(req).await
            }
            .map_err(CtlError::Rpc)?
            .into_inner();
            (org_line(&o).trim().to_owned(), org_json(&o))
        }
        CtlCommand::Drain { worker }
        | CtlCommand::Resume {
            worker: Some(worker),
            ..
        } => {
            let drain = matches!(args.command, CtlCommand::Drain { .. });
            let mut client = t.worker(worker).await?;
            let w = if drain {
                client.drain(t.admin(DrainRequest {})?).await
            } else {
                client.resume(t.admin(ResumeRequest {})?).await
            }
            .map_err(CtlError::Rpc)?
            .into_inner();
            (worker_line(&w), worker_json(worker, &w))
        }
        CtlCommand::Resume { .. } => return Err(CtlError::Usage("resume needs --org or --worker")),
    };
    Ok(if args.json { value.to_string() } else { text })
}
