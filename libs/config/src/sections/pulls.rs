//! `pull_requests`: the pull-request flow families (lead time, time to
//! first review, open pull requests).

use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::check::Check;

/// Most buckets a histogram may have (each is a series per repository).
pub const MAX_BUCKETS: usize = 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PullRequestsConfig {
    /// Export `gh_pr_lead_time_seconds`, `gh_pr_time_to_first_review_seconds`,
    /// `gh_pr_open` and `gh_pr_oldest_open_age_seconds` (one more listing
    /// per repository and cycle, free while nothing changed).
    pub enabled: bool,
    /// Upper bounds of `gh_pr_lead_time_seconds` (`+Inf` is added).
    pub lead_time_buckets: Vec<Duration>,
    /// Upper bounds of `gh_pr_time_to_first_review_seconds`.
    pub first_review_buckets: Vec<Duration>,
    /// A pull request merged (or first reviewed) before ghstats first saw
    /// its repository is observed only when that happened at most this
    /// long before.
    pub lookback: Duration,
}

/// One hour to thirty days, roughly doubling: ten bounds keep a
/// histogram at 13 series per repository.
fn default_buckets() -> Vec<Duration> {
    [1, 2, 4, 8, 24, 48, 96, 168, 336, 720]
        .into_iter()
        .map(|h| Duration::from_secs(h * 3600))
        .collect()
}

impl Default for PullRequestsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            lead_time_buckets: default_buckets(),
            first_review_buckets: default_buckets(),
            lookback: Duration::from_secs(24 * 3600),
        }
    }
}

impl PullRequestsConfig {
    pub(crate) fn check(&self, c: &mut Check) {
        for (key, buckets) in [
            ("pull_requests.lead_time_buckets", &self.lead_time_buckets),
            (
                "pull_requests.first_review_buckets",
                &self.first_review_buckets,
            ),
        ] {
            if buckets.is_empty() || buckets.len() > MAX_BUCKETS {
                c.fail(key, format!("must list 1 to {MAX_BUCKETS} bucket bounds"));
            }
            if buckets
                .iter()
                .any(|b| b.is_zero() || b.get().subsec_millis() != 0)
            {
                c.fail(
                    key,
                    "every bound must be a whole number of seconds, at least 1s",
                );
            }
            if buckets.windows(2).any(|w| w[0] >= w[1]) {
                c.fail(key, "bounds must be in ascending order, without repeats");
            }
        }
    }
}
