//! What a GitHub client spent since it was last counted, and that spend as
//! `gh_exporter_github_requests_total{org,endpoint,status_class}` increments.

use std::sync::Mutex;

use ghstats_github::{GithubClient, Usage};
use ghstats_store::{Family, SeriesKey};

/// Remembers a client's usage at the last reading.
#[derive(Debug, Default)]
pub struct UsageMeter(Mutex<Usage>);

impl UsageMeter {
    /// What `client` spent since the previous call.
    pub fn since_last(&self, client: &GithubClient) -> Usage {
        let usage = client.usage();
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let previous = std::mem::replace(&mut *last, usage.clone());
        diff(&usage, &previous)
    }
}

/// The request counters of `spent`, under the `org` label `owner`.
pub fn request_counters(owner: &str, spent: &Usage) -> Vec<(SeriesKey, u64)> {
    spent
        .requests
        .iter()
        .map(|((endpoint, class), n)| {
            (
                SeriesKey::new(Family::GithubRequests, [owner, endpoint, class]),
                *n,
            )
        })
        .collect()
}

/// What a client spent between two readings of its usage.
fn diff(now: &Usage, before: &Usage) -> Usage {
    let mut out = Usage::default();
    for (k, v) in &now.requests {
        let d = v - before.requests.get(k).copied().unwrap_or(0);
        if d > 0 {
            out.requests.insert(*k, d);
        }
    }
    out.budgeted = now.budgeted - before.budgeted;
    out.not_modified = now.not_modified - before.not_modified;
    out.retries = now.retries - before.retries;
    out.secondary_limit_hits = now.secondary_limit_hits - before.secondary_limit_hits;
    out
}
