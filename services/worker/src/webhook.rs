//! The webhook intake: `POST /webhooks/github` on its own listener
//! (`webhooks.listen_addr`). A delivery is verified (`X-Hub-Signature-256`
//! against the secrets of the org it names), deduplicated by
//! `X-GitHub-Delivery` in the store, turned into stored events by
//! `ghstats_scrape::hooks`, and answered 200 only once written to the
//! store; what cannot be made durable within `webhooks.processing_timeout`
//! is answered 503, so GitHub marks it failed and the leader has it
//! redelivered (the scheduled scrape reconciles what is still missing).
//!
//! | answer | when | `result` |
//! | --- | --- | --- |
//! | 200 | written to the store (or `ping`) | `accepted` (`ignored` for ping) |
//! | 200 | a delivery id already written | `duplicate` |
//! | 202 | an event, action or repository ghstats does not use | `ignored` |
//! | 400 | no event or delivery header, or a body that is not its payload | `rejected` |
//! | 401 | signature absent, malformed or wrong | `bad_signature` |
//! | 413 | a body over GitHub's 25 MB | (not counted: never read) |
//! | 422 | an org that is not configured or has no webhook secret | `rejected` |
//! | 503 | the store or GitHub failed, or the time ran out | `failed` |

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use chrono::Utc;
use ghstats_config::{Config, OrgConfig};
use ghstats_github::GithubClient;
use ghstats_github::webhook::{MAX_PAYLOAD_BYTES, SignatureError, Signatures};
use ghstats_scrape::Attribution;
use ghstats_scrape::hooks::{Applier, Delivery, EVENTS, read_delivery};
use ghstats_store::{ClaimKind, Family, FlowRules, SeriesKey, Store, WriteTally};
use prometheus_client::metrics::histogram::Histogram;

use crate::tally::CounterTally;

/// The path GitHub posts to.
pub const PATH: &str = "/webhooks/github";

/// Health component of the intake.
pub const INTAKE_COMPONENT: &str = "webhook_intake";

/// How often the delivery counters are written to the store.
pub const COUNTER_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The `result` label of `gh_exporter_webhook_deliveries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Accepted,
    Duplicate,
    Ignored,
    BadSignature,
    Rejected,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::BadSignature => "bad_signature",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }
}

/// One configured org as the intake sees it.
#[derive(Debug)]
struct IntakeOrg {
    config: OrgConfig,
    client: GithubClient,
    /// Positions of its secrets in the intake's key list.
    secrets: Vec<usize>,
}

/// Everything the intake needs.
#[derive(Debug)]
pub struct Intake {
    orgs: HashMap<String, IntakeOrg>,
    signatures: Signatures,
    store: Arc<dyn Store>,
    attribution: Attribution,
    flow: Option<FlowRules>,
    delivery_ttl: Duration,
    timeout: Duration,
    writes: WriteTally,
    counts: CounterTally,
    /// Seconds from when what a delivery reports happened to its store write.
    pub lag: Histogram,
    pub accepted: AtomicU64,
}

/// Why the intake could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {source}")]
pub struct IntakeError {
    key: String,
    #[source]
    source: ghstats_config::ConfigError,
}

/// The event-to-store lag buckets (seconds).
const LAG_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
];

impl Intake {
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        orgs: &HashMap<String, (OrgConfig, GithubClient)>,
    ) -> Result<Self, IntakeError> {
        let mut secrets: Vec<String> = Vec::new();
        let mut by_org = HashMap::new();
        for (login, (org, client)) in orgs {
            let mut own = Vec::new();
            let sources = org.webhook_secret_sources().map_err(|e| IntakeError {
                key: format!("{login}.webhook_secret"),
                source: ghstats_config::ConfigError::Secret {
                    key: "webhook_secret".into(),
                    reason: e.to_string(),
                },
            })?;
            for (key, source) in sources {
                let resolved = source.resolve(&key).map_err(|source| IntakeError {
                    key: format!("{login}.{key}"),
                    source,
                })?;
                if let Some(secret) = resolved {
                    let value = secret.expose().to_owned();
                    let at = secrets.iter().position(|s| *s == value).unwrap_or_else(|| {
                        secrets.push(value);
                        secrets.len() - 1
                    });
                    own.push(at);
                }
            }
            by_org.insert(
                login.clone(),
                IntakeOrg {
                    config: org.clone(),
                    client: client.clone(),
                    secrets: own,
                },
            );
        }
        Ok(Self {
            orgs: by_org,
            signatures: Signatures::new(secrets.iter().map(String::as_str)),
            store,
            attribution: Attribution::from_config(&config.github),
            flow: config
                .pull_requests
                .enabled
                .then(|| FlowRules::from_config(&config.pull_requests)),
            delivery_ttl: config.webhooks.delivery_ttl.get(),
            timeout: config.webhooks.processing_timeout.get(),
            writes: WriteTally::default(),
            counts: CounterTally::default(),
            lag: Histogram::new(LAG_BUCKETS),
            accepted: AtomicU64::new(0),
        })
    }

    /// The intake's router (its own listener).
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route(PATH, post(receive))
            .layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES))
            .with_state(self)
            .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
    }

    fn count(&self, org: &str, event: &str, outcome: Outcome) {
        // Only the events ghstats knows get their own label value.
        let event = EVENTS
            .iter()
            .copied()
            .find(|e| *e == event)
            .unwrap_or("other");
        if outcome == Outcome::Accepted {
            self.accepted.fetch_add(1, Ordering::Relaxed);
        }
        self.counts.add(SeriesKey::new(
            Family::WebhookDeliveries,
            [org, event, outcome.as_str()],
        ));
    }

    /// Writes the counted deliveries and the intake's store writes; on
    /// failure keeps them for the next flush.
    pub async fn flush(&self) {
        self.counts
            .flush(&*self.store, &self.writes, "webhook deliveries")
            .await;
    }

    /// Handles one delivery: the answer, and what it counts as.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, String) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let event = header("x-github-event").unwrap_or_default().to_owned();
        let answer = |status: StatusCode, reason: &str| (status, format!("{reason}\n"));
        let matched = match self.signatures.verify(header("x-hub-signature-256"), body) {
            Ok(i) => i,
            Err(e) => {
                self.count("", &event, Outcome::BadSignature);
                let reason = match e {
                    SignatureError::Missing if self.signatures.is_empty() => {
                        "no webhook secret is configured".to_owned()
                    }
                    e => e.to_string(),
                };
                return answer(StatusCode::UNAUTHORIZED, &reason);
            }
        };
        let Some(delivery_id) = header("x-github-delivery").filter(|d| !d.is_empty()) else {
            self.count("", &event, Outcome::Rejected);
            return answer(StatusCode::BAD_REQUEST, "no X-GitHub-Delivery header");
        };
        if event.is_empty() {
            self.count("", &event, Outcome::Rejected);
            return answer(StatusCode::BAD_REQUEST, "no X-GitHub-Event header");
        }
        let delivery = match read_delivery(&event, body) {
            Ok(d) => d,
            Err(e) => {
                self.count("", &event, Outcome::Rejected);
                return answer(StatusCode::BAD_REQUEST, &e.to_string());
            }
        };
        let (org_login, repo, archived, fork, work, happened) = match delivery {
            Delivery::Ping => {
                self.count("", &event, Outcome::Ignored);
                return answer(StatusCode::OK, "pong");
            }
            Delivery::Ignored(reason) => {
                self.count("", &event, Outcome::Ignored);
                return answer(StatusCode::ACCEPTED, &format!("ignored: {reason}"));
            }
            Delivery::Work {
                org,
                repo,
                archived,
                fork,
                work,
                happened,
            } => (org, repo, archived, fork, work, happened),
        };
        let Some(org) = self.orgs.get(&org_login.to_ascii_lowercase()) else {
            self.count("", &event, Outcome::Rejected);
            return answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("org {org_login:?} is not configured"),
            );
        };
        let label = org.config.org.clone();
        if !org.secrets.contains(&matched) {
            self.count(&label, &event, Outcome::BadSignature);
            return answer(
                StatusCode::UNAUTHORIZED,
                "signed with a secret that is not this org's",
            );
        }
        let leaving = matches!(work, ghstats_scrape::hooks::Work::Left);
        if !leaving && !ghstats_scrape::repos::selects(&org.config, &repo, archived, fork) {
            self.count(&label, &event, Outcome::Ignored);
            return answer(
                StatusCode::ACCEPTED,
                "ignored: the repository is not in the org's selection",
            );
        }
        match self
            .store
            .is_claimed(ClaimKind::WebhookDelivery, delivery_id)
            .await
        {
            Ok(true) => {
                self.count(&label, &event, Outcome::Duplicate);
                return answer(StatusCode::OK, "duplicate delivery: already recorded");
            }
            Ok(false) => {}
            Err(e) => {
                self.count(&label, &event, Outcome::Failed);
                tracing::warn!(delivery = delivery_id, error = %e, "webhook delivery not durable: store");
                return answer(StatusCode::SERVICE_UNAVAILABLE, &format!("store: {e}"));
            }
        }
        let applier = Applier {
            client: &org.client,
            store: &*self.store,
            attribution: &self.attribution,
            flow: self.flow.as_ref(),
            writes: &self.writes,
        };
        let now = Utc::now();
        let applied = tokio::time::timeout(
            self.timeout,
            applier.apply(&org.config.org, &repo, &work, now),
        )
        .await;
        let failure = match applied {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!(
                "not durable within {} ms",
                self.timeout.as_millis()
            )),
        };
        if let Some(reason) = failure {
            self.count(&label, &event, Outcome::Failed);
            tracing::warn!(delivery = delivery_id, org = %label, repo, reason, "webhook delivery failed; GitHub will mark it for redelivery");
            return answer(StatusCode::SERVICE_UNAVAILABLE, &reason);
        }
        if let Some(at) = happened {
            let lag = (Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0;
            self.lag.observe(lag);
        }
        // Written: a later delivery of the same id changes nothing (it
        // would count once anyway; the mark saves its GitHub reads).
        if let Err(e) = self
            .store
            .claim(ClaimKind::WebhookDelivery, delivery_id, self.delivery_ttl)
            .await
        {
            tracing::warn!(delivery = delivery_id, error = %e, "cannot mark a webhook delivery as recorded");
        }
        self.count(&label, &event, Outcome::Accepted);
        answer(StatusCode::OK, "recorded")
    }
}

async fn receive(
    State(intake): State<Arc<Intake>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    intake.handle(&headers, &body).await
}
