//! `rate_limit`, `retry` and `loc`: how hard we may lean on GitHub.

use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::check::Check;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Below this many remaining requests an org pauses until the reset.
    pub min_remaining_threshold: u32,
    /// Added to the reset time before resuming.
    pub min_reset_buffer: Duration,
    /// Back-off after a secondary limit that names no `Retry-After`.
    pub secondary_limit_backoff: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            min_remaining_threshold: 200,
            min_reset_buffer: Duration::from_secs(10),
            secondary_limit_backoff: Duration::from_secs(60),
        }
    }
}

/// The one retry policy for transient GitHub failures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per request, the first included; also a backfill job's attempts.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Full jitter: each wait is uniform in [0, backoff].
    pub jitter: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 7,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(120),
            jitter: true,
        }
    }
}

impl RetryConfig {
    pub(crate) fn check(&self, c: &mut Check) {
        c.positive("retry.max_attempts", self.max_attempts.into());
        c.non_zero("retry.initial_backoff", self.initial_backoff);
        if self.max_backoff < self.initial_backoff {
            c.fail(
                "retry.max_backoff",
                format!(
                    "must not be shorter than initial_backoff ({} < {})",
                    self.max_backoff, self.initial_backoff
                ),
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocSource {
    /// `/stats/contributors`, with the capped commit-detail fallback for
    /// large repositories.
    StatsContributors,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocConfig {
    pub source: LocSource,
    pub refresh_interval: Duration,
    pub fallback_enabled: bool,
    pub fallback_max_commits_per_repo_per_week: u32,
    pub fallback_max_commit_detail_calls_per_org_per_hour: u32,
    /// Consecutive all-zero stats answers before a repo switches to the fallback.
    pub large_repo_zero_detection_windows: u32,
    pub large_repo_cooldown: Duration,
}

impl Default for LocConfig {
    fn default() -> Self {
        Self {
            source: LocSource::StatsContributors,
            refresh_interval: Duration::from_secs(24 * 3600),
            fallback_enabled: true,
            fallback_max_commits_per_repo_per_week: 500,
            fallback_max_commit_detail_calls_per_org_per_hour: 3000,
            large_repo_zero_detection_windows: 2,
            large_repo_cooldown: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl LocConfig {
    pub(crate) fn check(&self, c: &mut Check) {
        c.non_zero("loc.refresh_interval", self.refresh_interval);
        if self.fallback_enabled {
            c.positive(
                "loc.fallback_max_commits_per_repo_per_week",
                self.fallback_max_commits_per_repo_per_week.into(),
            );
            c.positive(
                "loc.fallback_max_commit_detail_calls_per_org_per_hour",
                self.fallback_max_commit_detail_calls_per_org_per_hour
                    .into(),
            );
            c.positive(
                "loc.large_repo_zero_detection_windows",
                self.large_repo_zero_detection_windows.into(),
            );
            c.non_zero("loc.large_repo_cooldown", self.large_repo_cooldown);
        }
    }
}
