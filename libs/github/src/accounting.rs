//! What GitHub calls cost: requests per endpoint and status class, and how
//! many spent rate budget versus came back 304 (free), so the scrape engine
//! and the benchmarks can report cost per cycle.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// `2xx`, `3xx`, `4xx`, `5xx`, or `error` (no response).
pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "error",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// (endpoint, status class) -> requests
    pub requests: BTreeMap<(&'static str, &'static str), u64>,
    /// Requests that may have cost rate budget (everything but 304s).
    pub budgeted: u64,
    /// 304 answers, free of rate budget.
    pub not_modified: u64,
    pub retries: u64,
    pub secondary_limit_hits: u64,
}

#[derive(Debug, Default)]
pub struct Accounting {
    inner: Mutex<Usage>,
}

impl Accounting {
    fn with(&self, f: impl FnOnce(&mut Usage)) {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn record(&self, endpoint: &'static str, status: Option<u16>) {
        self.with(|u| {
            *u.requests
                .entry((endpoint, status_class(status)))
                .or_default() += 1;
            if status == Some(304) {
                u.not_modified += 1;
            } else if status.is_some() {
                u.budgeted += 1;
            }
        });
    }

    /// A request that costs no rate budget (a Copilot report download,
    /// which goes to a signed URL, not the API).
    pub fn record_unbudgeted(&self, endpoint: &'static str, status: Option<u16>) {
        self.with(|u| {
            *u.requests
                .entry((endpoint, status_class(status)))
                .or_default() += 1;
        });
    }

    pub fn retried(&self) {
        self.with(|u| u.retries += 1);
    }

    pub fn secondary_limit_hit(&self) {
        self.with(|u| u.secondary_limit_hits += 1);
    }

    pub fn snapshot(&self) -> Usage {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
