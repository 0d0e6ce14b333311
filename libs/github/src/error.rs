//! The one error type of GitHub calls, and whether an error is worth
//! retrying (transient) or not (permanent).

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum GithubError {
    /// 401: the credentials were refused.
    #[error("{endpoint}: unauthorized (401): {message}")]
    Unauthorized {
        endpoint: &'static str,
        message: String,
    },
    /// 403 that is not a rate limit: missing permission.
    #[error("{endpoint}: forbidden (403): {message}")]
    Forbidden {
        endpoint: &'static str,
        message: String,
    },
    #[error("{endpoint}: not found (404)")]
    NotFound { endpoint: &'static str },
    /// 409 (e.g. an empty repository) or 422: the request cannot succeed.
    #[error("{endpoint}: refused ({status}): {message}")]
    Refused {
        endpoint: &'static str,
        status: u16,
        message: String,
    },
    /// The primary rate limit is (nearly) spent until `reset`.
    #[error("{endpoint}: rate limit spent until {reset}")]
    RateLimited {
        endpoint: &'static str,
        reset: DateTime<Utc>,
    },
    /// A secondary rate limit that outlasted the retries.
    #[error("{endpoint}: secondary rate limit")]
    SecondaryRateLimited { endpoint: &'static str },
    /// 5xx, or 429, after the retries ran out.
    #[error("{endpoint}: server error ({status}) after {attempts} attempt(s)")]
    Server {
        endpoint: &'static str,
        status: u16,
        attempts: u32,
    },
    /// Timeout or connection failure after the retries ran out.
    #[error("{endpoint}: {message} after {attempts} attempt(s)")]
    Transport {
        endpoint: &'static str,
        message: String,
        attempts: u32,
    },
    /// A 2xx body that is not what GitHub documents.
    #[error("{endpoint}: unexpected response: {message}")]
    Decode {
        endpoint: &'static str,
        message: String,
    },
    /// Credentials could not be prepared (unreadable key, missing token).
    #[error("credentials: {0}")]
    Credentials(String),
    /// A `Link` header pointed at another host; credentials are never sent
    /// anywhere but the configured API host.
    #[error("{endpoint}: refusing to follow a link to another host ({host})")]
    ForeignHost {
        endpoint: &'static str,
        host: String,
    },
    /// The shutdown started while waiting.
    #[error("cancelled by shutdown")]
    Cancelled,
    /// This replica's leadership ended (its lease tenure ran out): no call
    /// may overlap the next leader's.
    #[error("{endpoint}: not sent, this replica is no longer the leader")]
    NotLeader { endpoint: &'static str },
}

impl GithubError {
    /// Worth trying again later (a backfill job), as opposed to a request
    /// that will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::SecondaryRateLimited { .. }
                | Self::Server { .. }
                | Self::Transport { .. }
                | Self::Cancelled
        )
    }
}
