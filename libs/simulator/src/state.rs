//! The simulator's mutable state besides the world: its clock, credentials,
//! rate-limit buckets, injected faults and the request log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Simulated time: real time plus an offset that tests move forward.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

/// One rate-limit bucket (an installation or a token).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Bucket {
    pub limit: u64,
    pub remaining: u64,
    pub reset: i64,
}

impl Bucket {
    pub fn used(&self) -> u64 {
        self.limit - self.remaining
    }
}

#[derive(Debug, Default)]
pub struct Buckets {
    inner: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    /// The bucket `key` as of `now`, refilled when its hour is over.
    pub fn get(&self, key: &str, limit: u64, now: DateTime<Utc>) -> Bucket {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let b = map.entry(key.to_owned()).or_insert(Bucket {
            limit,
            remaining: limit,
            reset: now.timestamp() + 3600,
        });
        if now.timestamp() >= b.reset {
            *b = Bucket {
                limit,
                remaining: limit,
                reset: now.timestamp() + 3600,
            };
        }
        *b
    }

    /// Charges one request; returns the bucket after the charge.
    pub fn charge(&self, key: &str, limit: u64, now: DateTime<Utc>) -> Bucket {
        self.get(key, limit, now);
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let b = map.get_mut(key).map(|b| {
            b.remaining = b.remaining.saturating_sub(1);
            *b
        });
        b.unwrap_or(Bucket {
            limit,
            remaining: limit,
            reset: now.timestamp() + 3600,
        })
    }

    /// Sets the remaining budget (and optionally the reset time) of every
    /// known bucket, or of `key`.
    pub fn set_remaining(&self, key: Option<&str>, remaining: u64, reset: Option<i64>) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (k, b) in map.iter_mut() {
            if key.is_none_or(|want| want == k) {
                b.remaining = remaining.min(b.limit);
                if let Some(reset) = reset {
                    b.reset = reset;
                }
            }
        }
    }
}

/// Faults injected through `POST /_sim/faults`; one rule per endpoint name
/// (or `*` for all API endpoints).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// Endpoint name (`list_commits`, ...) or `*`.
    pub endpoint: String,
    /// Only requests whose path contains this (e.g. `/repo-003/`), so one
    /// repository can fail while the others answer.
    pub path_contains: Option<String>,
    /// Status of injected errors (500, 502, 503, 429, 403).
    pub status: u16,
    /// Fail the next N matching requests.
    pub fail_next: u64,
    /// Fail every Nth matching request (1 = all), after `fail_next` ran out.
    pub fail_every: u64,
    /// Answer with a secondary rate limit (403 + `Retry-After`).
    pub secondary_limit_retry_after_seconds: Option<u64>,
    /// Delay before answering.
    pub delay_ms: u64,
}

#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<(FaultRule, u64)>>,
}

/// What to do to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injected {
    Delay(StdDuration),
    Error(u16),
    SecondaryLimit { retry_after: u64 },
}

impl Faults {
    pub fn set(&self, rule: FaultRule) {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        rules.retain(|(r, _)| r.endpoint != rule.endpoint || r.path_contains != rule.path_contains);
        rules.push((rule, 0));
    }

    pub fn clear(&self) {
        self.rules.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Decides the fault for a request to `endpoint` at `path` (delays
    /// come first).
    pub fn decide(&self, endpoint: &str, path: &str) -> Vec<Injected> {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (rule, seen) in rules.iter_mut().filter(|(r, _)| {
            (r.endpoint == "*" || r.endpoint == endpoint)
                && r.path_contains.as_deref().is_none_or(|p| path.contains(p))
        }) {
            if rule.delay_ms > 0 {
                out.push(Injected::Delay(StdDuration::from_millis(rule.delay_ms)));
            }
            *seen += 1;
            let fail = if rule.fail_next > 0 {
                rule.fail_next -= 1;
                true
            } else {
                rule.fail_every > 0 && *seen % rule.fail_every == 0
            };
            if fail {
                out.push(match rule.secondary_limit_retry_after_seconds {
                    Some(retry_after) => Injected::SecondaryLimit { retry_after },
                    None => Injected::Error(if rule.status == 0 { 503 } else { rule.status }),
                });
            }
        }
        out
    }
}

/// One answered request, for `/_sim/requests`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoggedRequest {
    pub at: DateTime<Utc>,
    pub method: String,
    pub endpoint: String,
    pub path: String,
    pub status: u16,
    /// The bucket charged (installation or token), empty for none.
    pub bucket: String,
    /// Whether it cost rate budget.
    pub counted: bool,
    /// Whether it carried an `Authorization` header.
    pub authorized: bool,
    /// Installation tokens never leave the simulator's log: only whether
    /// one was presented.
    pub user_agent: String,
}

#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Mutex<Vec<LoggedRequest>>,
}

impl RequestLog {
    pub fn push(&self, r: LoggedRequest) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r);
    }

    pub fn snapshot(&self) -> Vec<LoggedRequest> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
