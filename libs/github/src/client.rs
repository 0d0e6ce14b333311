//! The request path every endpoint shares: wait for rate budget, attach
//! credentials and `If-None-Match`, send through octocrab's HTTP stack,
//! read rate-limit headers, and retry transient failures with the one
//! retry policy. Credentials only ever go to the configured API host.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use http::{HeaderMap, Method, header};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::GithubError;
use crate::accounting::{Accounting, Usage};
use crate::auth::{Credentials, InstallationToken};
use crate::etag::{EtagCache, Pending, Unkept, Validator};
use crate::rate::{Budget, RateState, retry_after};
use crate::retry::{self, RetryPolicy};
use ghstats_core::Tenure;

/// The REST API version ghstats is written against.
pub const API_VERSION: &str = "2022-11-28";

/// How one org's client behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub org: String,
    /// REST root: `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api_base: Url,
    pub credentials: Credentials,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Below this many remaining requests, wait for the reset.
    pub min_remaining: u64,
    pub reset_buffer: Duration,
    /// Back-off after a secondary limit without `Retry-After`.
    pub secondary_backoff: Duration,
    /// Longest a call waits for rate budget; beyond it the call fails with
    /// a transient `RateLimited` so the caller can defer the work.
    pub max_rate_wait: Duration,
    /// Mint a new installation token this long before the current expires.
    pub token_refresh_margin: Duration,
    pub etags: Arc<dyn EtagCache>,
    pub cancel: CancellationToken,
    /// The leader's tenure: no request is sent once it ran out (`None`:
    /// not a leader's client).
    pub tenure: Option<Tenure>,
}

impl ClientOptions {
    /// Options with the config file's defaults for everything but the
    /// org, the API root, the credentials, the ETag cache and the shutdown.
    pub fn with_defaults(
        org: &str,
        api_base: Url,
        credentials: Credentials,
        etags: Arc<dyn EtagCache>,
        cancel: CancellationToken,
    ) -> Self {
        let rate = ghstats_config::RateLimitConfig::default();
        Self {
            org: org.to_owned(),
            api_base,
            credentials,
            request_timeout: ghstats_config::GithubConfig::default()
                .request_timeout
                .get(),
            retry: RetryPolicy::from(&ghstats_config::RetryConfig::default()),
            min_remaining: rate.min_remaining_threshold.into(),
            reset_buffer: rate.min_reset_buffer.get(),
            secondary_backoff: rate.secondary_limit_backoff.get(),
            max_rate_wait: Duration::from_secs(60),
            token_refresh_margin: crate::REFRESH_MARGIN,
            etags,
            cancel,
            tenure: None,
        }
    }

    /// Fast retries and no rate threshold: for tests and benchmarks.
    pub fn quick(mut self) -> Self {
        self.retry = RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            jitter: true,
        };
        self.min_remaining = 0;
        self.reset_buffer = Duration::ZERO;
        self.secondary_backoff = Duration::from_millis(100);
        self.max_rate_wait = Duration::from_secs(5);
        self
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub body: Bytes,
    pub link: Option<String>,
    /// Answered 304 (no budget spent): `body` is empty and `memo` holds
    /// what the caller kept of the last 200.
    pub not_modified: bool,
    /// On a 304, the memo of the validator that matched.
    pub memo: Bytes,
    /// On a 200 with an ETag, the validator to keep (with a memo) once
    /// what the caller derived is stored.
    pub pending: Option<Pending>,
}

/// A GitHub client for one org. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GithubClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    opts: ClientOptions,
    http: Octocrab,
    rate: RateState,
    accounting: Accounting,
    token: tokio::sync::Mutex<Option<InstallationToken>>,
}

enum Attempt {
    Done(Fetched),
    Fail(GithubError),
    /// Try again after the back-off of this attempt.
    Retry(GithubError),
    /// Try again at once (the wait, if any, is the rate gate's).
    Again,
}

impl GithubClient {
    pub fn new(opts: ClientOptions) -> Result<Self, GithubError> {
        let http = Octocrab::builder()
            .base_uri(opts.api_base.as_str())
            .and_then(|b| {
                b.add_header(header::USER_AGENT, user_agent())
                    .set_connect_timeout(Some(opts.request_timeout))
                    .set_read_timeout(Some(opts.request_timeout))
                    .build()
            })
            .map_err(|e| GithubError::Credentials(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                opts,
                http,
                rate: RateState::default(),
                accounting: Accounting::default(),
                token: tokio::sync::Mutex::new(None),
            }),
        })
    }

    pub fn org(&self) -> &str {
        &self.inner.opts.org
    }

    pub fn installation_label(&self) -> String {
        self.inner.opts.credentials.installation_label()
    }

    /// The primary budget as last seen (`None`: unlimited or not seen yet).
    /// The GitHub App the client authenticates as (`None` for a token).
    pub fn app_label(&self) -> Option<String> {
        match &self.inner.opts.credentials {
            Credentials::App { app_id, .. } => Some(app_id.to_string()),
            Credentials::Token(_) => None,
        }
    }

    pub fn budget(&self) -> Option<Budget> {
        self.inner.rate.budget()
    }

    pub(crate) fn accounting(&self) -> &Accounting {
        &self.inner.accounting
    }

    pub fn usage(&self) -> Usage {
        self.inner.accounting.snapshot()
    }

    /// `path` (with its query) under the API base.
    pub fn url(&self, path_and_query: &str) -> Result<Url, GithubError> {
        let base = self.inner.opts.api_base.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path_and_query}")).map_err(|e| GithubError::Decode {
            endpoint: "url",
            message: format!("bad path {path_and_query:?}: {e}"),
        })
    }

    /// Refuses URLs outside the API host (e.g. a foreign `Link`).
    pub(crate) fn check_origin(
        &self,
        endpoint: &'static str,
        url: &Url,
    ) -> Result<(), GithubError> {
        let base = &self.inner.opts.api_base;
        if url.origin() == base.origin() {
            Ok(())
        } else {
            Err(GithubError::ForeignHost {
                endpoint,
                host: url.host_str().unwrap_or("").to_owned(),
            })
        }
    }

    /// A GET with conditional request, rate gate and retries. Nothing is
    /// kept: the caller keeps [`Fetched::pending`] with its memo.
    pub async fn get(&self, endpoint: &'static str, url: Url) -> Result<Fetched, GithubError> {
        self.get_with(endpoint, url, true).await
    }

    /// A GET whose whole (small) body is its memo: a 304 returns the body
    /// of the last 200 (report links).
    pub async fn get_keeping_body(
        &self,
        endpoint: &'static str,
        url: Url,
    ) -> Result<Fetched, GithubError> {
        let mut fetched = self.get(endpoint, url).await?;
        if fetched.not_modified {
            fetched.body = std::mem::take(&mut fetched.memo);
        } else if let Some(pending) = fetched.pending.take() {
            self.keep(pending.with_memo(fetched.body.clone())).await;
        }
        Ok(fetched)
    }

    /// Keeps validators whose memos the caller has stored what it derived
    /// from.
    pub async fn keep(&self, unkept: Unkept) {
        if !unkept.0.is_empty() {
            self.inner.opts.etags.put_all(unkept.0).await;
        }
    }

    /// A GET, conditional or not (`conditional: false` when a memo could
    /// not be read and the answer must come whole).
    pub async fn get_with(
        &self,
        endpoint: &'static str,
        url: Url,
        conditional: bool,
    ) -> Result<Fetched, GithubError> {
        self.check_origin(endpoint, &url)?;
        let policy = &self.inner.opts.retry;
        let mut attempt = 0;
        let mut token_refreshed = false;
        let mut use_etag = conditional;
        loop {
            attempt += 1;
            self.wait_for_budget(endpoint).await?;
            let cached = if use_etag {
                self.inner.opts.etags.get(url.as_str()).await
            } else {
                None
            };
            let outcome = self
                .attempt(
                    endpoint,
                    &url,
                    cached,
                    attempt,
                    &mut token_refreshed,
                    &mut use_etag,
                )
                .await;
            match outcome {
                Attempt::Done(f) => return Ok(f),
                Attempt::Fail(e) => return Err(e),
                Attempt::Again => attempt -= 1,
                Attempt::Retry(e) if attempt >= policy.max_attempts => return Err(e),
                Attempt::Retry(e) => {
                    self.inner.accounting.retried();
                    let wait = policy.backoff(attempt);
                    tracing::debug!(org = %self.org(), endpoint, attempt, error = %e, wait_ms = wait.as_millis() as u64, "retrying");
                    retry::sleep(wait, &self.inner.opts.cancel).await?;
                }
            }
        }
    }

    /// Refuses a request once a leader's tenure ran out. Checked right
    /// before each send, with no await in between, so a leader paused at
    /// any point of a call sends nothing after it resumes.
    fn still_leader(&self, endpoint: &'static str) -> Result<(), GithubError> {
        match &self.inner.opts.tenure {
            Some(t) if !t.valid() => Err(GithubError::NotLeader { endpoint }),
            _ => Ok(()),
        }
    }

    async fn attempt(
        &self,
        endpoint: &'static str,
        url: &Url,
        cached: Option<Validator>,
        attempt: u32,
        token_refreshed: &mut bool,
        use_etag: &mut bool,
    ) -> Attempt {
        let authorization = match self.authorization().await {
            Ok(a) => a,
            Err(e) => {
                return if e.is_transient() {
                    Attempt::Retry(e)
                } else {
                    Attempt::Fail(e)
                };
            }
        };
        let etag = cached.as_ref().map(|c| c.etag.as_str());
        if let Err(e) = self.still_leader(endpoint) {
            return Attempt::Fail(e);
        }
        let (status, headers, body) = match self.send(Method::GET, url, &authorization, etag).await
        {
            Ok(r) => r,
            Err(message) => {
                self.inner.accounting.record(endpoint, None);
                return Attempt::Retry(GithubError::Transport {
                    endpoint,
                    message,
                    attempts: attempt,
                });
            }
        };
        self.inner.accounting.record(endpoint, Some(status));
        self.inner.rate.observe(&headers);
        tracing::debug!(org = %self.org(), endpoint, path = url.path(), status, "github response");
        let link = headers
            .get(header::LINK)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match status {
            304 => match cached {
                Some(c) => Attempt::Done(Fetched {
                    status,
                    body: Bytes::new(),
                    link: c.link,
                    not_modified: true,
                    memo: c.memo,
                    pending: None,
                }),
                None => {
                    *use_etag = false;
                    Attempt::Again
                }
            },
            200..=299 => {
                let pending = headers
                    .get(header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .filter(|_| status == 200)
                    .map(|etag| Pending {
                        url: url.as_str().to_owned(),
                        etag: etag.to_owned(),
                        link: link
                            .as_deref()
                            .and_then(crate::link::next)
                            .map(|next| format!("<{next}>; rel=\"next\"")),
                    });
                Attempt::Done(Fetched {
                    status,
                    body,
                    link,
                    not_modified: false,
                    memo: Bytes::new(),
                    pending,
                })
            }
            401 if !*token_refreshed
                && matches!(self.inner.opts.credentials, Credentials::App { .. }) =>
            {
                // The installation token may have been revoked or expired early.
                *token_refreshed = true;
                *self.inner.token.lock().await = None;
                Attempt::Again
            }
            401 => Attempt::Fail(GithubError::Unauthorized {
                endpoint,
                message: github_message(&body),
            }),
            403 | 429 => self.limited(endpoint, status, &headers, &body, attempt),
            404 => Attempt::Fail(GithubError::NotFound { endpoint }),
            500..=599 => Attempt::Retry(GithubError::Server {
                endpoint,
                status,
                attempts: attempt,
            }),
            _ => Attempt::Fail(GithubError::Refused {
                endpoint,
                status,
                message: github_message(&body),
            }),
        }
    }

    /// 403 and 429: secondary limit, spent primary limit, or a real refusal.
    fn limited(
        &self,
        endpoint: &'static str,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        attempt: u32,
    ) -> Attempt {
        let message = github_message(body);
        let secondary = retry_after(headers).is_some()
            || message
                .to_ascii_lowercase()
                .contains("secondary rate limit");
        if secondary {
            let opts = &self.inner.opts;
            let wait = retry_after(headers).unwrap_or_else(|| {
                chrono::Duration::from_std(opts.secondary_backoff).unwrap_or_default()
            });
            tracing::warn!(org = %self.org(), endpoint, retry_after_seconds = wait.num_seconds(), "secondary rate limit");
            self.inner.rate.pause_until(Utc::now() + wait);
            self.inner.accounting.secondary_limit_hit();
            return if attempt >= opts.retry.max_attempts {
                Attempt::Fail(GithubError::SecondaryRateLimited { endpoint })
            } else {
                Attempt::Again
            };
        }
        if self.inner.rate.budget().is_some_and(|b| b.remaining == 0) {
            tracing::warn!(org = %self.org(), endpoint, "primary rate limit spent");
            return Attempt::Again;
        }
        if status == 429 {
            return Attempt::Retry(GithubError::Server {
                endpoint,
                status,
                attempts: attempt,
            });
        }
        Attempt::Fail(GithubError::Forbidden { endpoint, message })
    }

    /// Sleeps until the rate gate opens, or fails when that is too far off.
    async fn wait_for_budget(&self, endpoint: &'static str) -> Result<(), GithubError> {
        let opts = &self.inner.opts;
        let now = Utc::now();
        let buffer = chrono::Duration::from_std(opts.reset_buffer).unwrap_or_default();
        let Some(at) = self
            .inner
            .rate
            .next_allowed(now, opts.min_remaining, buffer)
        else {
            return Ok(());
        };
        let wait = (at - now).to_std().unwrap_or_default();
        if wait > opts.max_rate_wait {
            return Err(GithubError::RateLimited {
                endpoint,
                reset: at,
            });
        }
        tracing::info!(org = %self.org(), endpoint, wait_seconds = wait.as_secs_f64(), "waiting for rate budget");
        retry::sleep(wait, &opts.cancel).await
    }

    /// The `Authorization` header value, minting an installation token when
    /// the cached one is missing or about to expire (one mint at a time).
    async fn authorization(&self) -> Result<String, GithubError> {
        let installation_id = match &self.inner.opts.credentials {
            Credentials::Token(t) => return Ok(format!("Bearer {}", t.expose())),
            Credentials::App {
                installation_id, ..
            } => *installation_id,
        };
        let mut cached = self.inner.token.lock().await;
        let margin =
            chrono::Duration::from_std(self.inner.opts.token_refresh_margin).unwrap_or_default();
        if let Some(t) = cached
            .as_ref()
            .filter(|t| t.expires_at - margin > Utc::now())
        {
            return Ok(format!("Bearer {}", t.token.expose()));
        }
        let fresh = self.mint(installation_id).await?;
        let header = format!("Bearer {}", fresh.token.expose());
        *cached = Some(fresh);
        Ok(header)
    }

    async fn mint(&self, installation_id: u64) -> Result<InstallationToken, GithubError> {
        const ENDPOINT: &str = "create_installation_token";
        let jwt = self.inner.opts.credentials.jwt()?.unwrap_or_default();
        let url = self.url(&format!(
            "/app/installations/{installation_id}/access_tokens"
        ))?;
        self.still_leader(ENDPOINT)?;
        let (status, _, body) = self
            .send(Method::POST, &url, &format!("Bearer {jwt}"), None)
            .await
            .map_err(|message| GithubError::Transport {
                endpoint: ENDPOINT,
                message,
                attempts: 1,
            })?;
        self.inner.accounting.record(ENDPOINT, Some(status));
        #[derive(serde::Deserialize)]
        struct Minted {
            token: String,
            expires_at: chrono::DateTime<Utc>,
        }
        match status {
            201 | 200 => {
                let m: Minted = serde_json::from_slice(&body).map_err(|e| GithubError::Decode {
                    endpoint: ENDPOINT,
                    message: e.to_string(),
                })?;
                tracing::debug!(org = %self.org(), installation_id, expires_at = %m.expires_at, "installation token minted");
                Ok(InstallationToken {
                    token: ghstats_config::Secret::new(m.token),
                    expires_at: m.expires_at,
                })
            }
            401 | 403 | 404 => Err(GithubError::Unauthorized {
                endpoint: ENDPOINT,
                message: github_message(&body),
            }),
            s if s >= 500 => Err(GithubError::Server {
                endpoint: ENDPOINT,
                status: s,
                attempts: 1,
            }),
            s => Err(GithubError::Refused {
                endpoint: ENDPOINT,
                status: s,
                message: github_message(&body),
            }),
        }
    }

    /// One request as the GitHub App itself (its JWT), for the App API
    /// (`/app/...`); not retried here (its callers run again later).
    pub(crate) async fn app_request(
        &self,
        endpoint: &'static str,
        method: Method,
        url: &Url,
    ) -> Result<(u16, HeaderMap, Bytes), GithubError> {
        let Some(jwt) = self.inner.opts.credentials.jwt()? else {
            return Err(GithubError::Credentials(format!(
                "{endpoint} needs GitHub App credentials, not a token"
            )));
        };
        self.check_origin(endpoint, url)?;
        self.still_leader(endpoint)?;
        let (status, headers, body) = self
            .send(method, url, &format!("Bearer {jwt}"), None)
            .await
            .map_err(|message| GithubError::Transport {
                endpoint,
                message,
                attempts: 1,
            })?;
        self.inner.accounting.record(endpoint, Some(status));
        Ok((status, headers, body))
    }

    /// The error of an App API answer that is not a success.
    pub(crate) fn app_refusal(
        &self,
        endpoint: &'static str,
        status: u16,
        body: &[u8],
    ) -> GithubError {
        match status {
            401 | 403 => GithubError::Unauthorized {
                endpoint,
                message: github_message(body),
            },
            404 => GithubError::NotFound { endpoint },
            s if s >= 500 => GithubError::Server {
                endpoint,
                status: s,
                attempts: 1,
            },
            s => GithubError::Refused {
                endpoint,
                status: s,
                message: github_message(body),
            },
        }
    }

    /// One HTTP exchange; `Err` is a transport failure (timeout, connection).
    async fn send(
        &self,
        method: Method,
        url: &Url,
        authorization: &str,
        etag: Option<&str>,
    ) -> Result<(u16, HeaderMap, Bytes), String> {
        let builder = http::Request::builder().method(method).uri(url.as_str());
        let mut request = self
            .inner
            .http
            .build_request(builder, None::<&()>)
            .map_err(|e| e.to_string())?;
        let h = request.headers_mut();
        let value =
            |s: &str| http::HeaderValue::from_str(s).map_err(|_| "invalid header value".to_owned());
        let mut auth = value(authorization)?;
        auth.set_sensitive(true);
        h.insert(header::AUTHORIZATION, auth);
        h.insert(header::ACCEPT, value("application/vnd.github+json")?);
        h.insert(header::USER_AGENT, value(&user_agent())?);
        h.insert("x-github-api-version", value(API_VERSION)?);
        if let Some(tag) = etag {
            h.insert(header::IF_NONE_MATCH, value(tag)?);
        }
        let exchange = async {
            let response = self
                .inner
                .http
                .execute(request)
                .await
                .map_err(|e| describe(&e))?;
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.map_err(|e| describe(&e))?.to_bytes();
            Ok::<_, String>((parts.status.as_u16(), parts.headers, bytes))
        };
        tokio::select! {
            r = tokio::time::timeout(self.inner.opts.request_timeout, exchange) => {
                r.map_err(|_| format!("timed out after {:?}", self.inner.opts.request_timeout))?
            }
            () = self.inner.opts.cancel.cancelled() => Err("cancelled by shutdown".into()),
        }
    }
}

/// `ghstats/<version> (pid <pid>)`: the process in GitHub's (and the
/// simulator's) request logs.
pub fn user_agent() -> String {
    static AGENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "ghstats/{} (pid {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        )
    });
    AGENT.clone()
}

/// An error's chain, without the URL (no secrets live there, but keep logs short).
pub(crate) fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// GitHub's `message` field, or a short note when the body has none.
fn github_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| format!("{} byte body without a message", body.len()))
}
