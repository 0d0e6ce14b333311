//! The backfill job as the rest of the workspace sees it, and its JSON form.
//!
//! The JSON form is the one of the original exporter's message (section 7.1
//! of the specification): operators may publish it by hand with
//! `content_type: application/json`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use crate::ContractError;

/// Why a window has to be fetched again; also the `reason` label value of the
/// backfill counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackfillReason {
    ScrapeError,
    RateLimited,
    GithubUnhealthy,
    PartialScrapeError,
    ActivityCommitsFailed,
    ActivityPullsFailed,
    ActivityReviewsFailed,
    ActivityIssueCommentsFailed,
    ContributorStatsFailed,
    FallbackListCommitsFailed,
    FallbackCommitDetailFailed,
    FallbackTruncated,
    CopilotReportFetchError,
    CopilotReportDownloadError,
    CopilotReportParseError,
    Manual,
}

impl BackfillReason {
    /// Every reason, in the order of the protobuf enum.
    pub const ALL: [BackfillReason; 16] = [
        Self::ScrapeError,
        Self::RateLimited,
        Self::GithubUnhealthy,
        Self::PartialScrapeError,
        Self::ActivityCommitsFailed,
        Self::ActivityPullsFailed,
        Self::ActivityReviewsFailed,
        Self::ActivityIssueCommentsFailed,
        Self::ContributorStatsFailed,
        Self::FallbackListCommitsFailed,
        Self::FallbackCommitDetailFailed,
        Self::FallbackTruncated,
        Self::CopilotReportFetchError,
        Self::CopilotReportDownloadError,
        Self::CopilotReportParseError,
        Self::Manual,
    ];

    /// The label value, e.g. `github_unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScrapeError => "scrape_error",
            Self::RateLimited => "rate_limited",
            Self::GithubUnhealthy => "github_unhealthy",
            Self::PartialScrapeError => "partial_scrape_error",
            Self::ActivityCommitsFailed => "activity_commits_failed",
            Self::ActivityPullsFailed => "activity_pulls_failed",
            Self::ActivityReviewsFailed => "activity_reviews_failed",
            Self::ActivityIssueCommentsFailed => "activity_issue_comments_failed",
            Self::ContributorStatsFailed => "contributor_stats_failed",
            Self::FallbackListCommitsFailed => "fallback_list_commits_failed",
            Self::FallbackCommitDetailFailed => "fallback_commit_detail_failed",
            Self::FallbackTruncated => "fallback_truncated",
            Self::CopilotReportFetchError => "copilot_report_fetch_error",
            Self::CopilotReportDownloadError => "copilot_report_download_error",
            Self::CopilotReportParseError => "copilot_report_parse_error",
            Self::Manual => "manual",
        }
    }
}

impl fmt::Display for BackfillReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackfillReason {
    type Err = ContractError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ContractError::UnknownReason(s.to_owned()))
    }
}

/// A half-open time window `[start, end)`; `end` is always after `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeWindow {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TimeWindow {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, ContractError> {
        if end <= start {
            return Err(ContractError::InvertedWindow {
                start: rfc3339(start),
                end: rfc3339(end),
            });
        }
        Ok(Self { start, end })
    }

    /// The window between `a` and `b` in whichever order, at least 1 s long.
    pub fn ordered(a: DateTime<Utc>, b: DateTime<Utc>) -> Self {
        let (start, end) = if a <= b { (a, b) } else { (b, a) };
        Self {
            start,
            end: end.max(start + chrono::Duration::seconds(1)),
        }
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }
}

/// One missed (org, repo, window) to scrape again. Only constructed through
/// [`BackfillJob::new`] or a checked conversion, so every instance is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillJob {
    pub job_id: String,
    pub dedup_key: String,
    pub org: String,
    /// A repository name, or `*` for all repositories of the org.
    pub repo: String,
    pub window: TimeWindow,
    pub reason: BackfillReason,
    pub attempt: u32,
    pub max_attempts: u32,
    pub created_at: DateTime<Utc>,
}

/// The fields of a job before they are checked.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UncheckedJob {
    pub job_id: Option<String>,
    pub dedup_key: Option<String>,
    pub org: Option<String>,
    pub repo: Option<String>,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub attempt: Option<u32>,
    pub max_attempts: Option<u32>,
    pub created_at: Option<DateTime<Utc>>,
}

fn required_text(value: Option<String>, field: &'static str) -> Result<String, ContractError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ContractError::MissingField(field)),
    }
}

fn required<T>(value: Option<T>, field: &'static str) -> Result<T, ContractError> {
    value.ok_or(ContractError::MissingField(field))
}

impl UncheckedJob {
    pub(crate) fn check(self) -> Result<BackfillJob, ContractError> {
        let job = BackfillJob {
            job_id: required_text(self.job_id, "job_id")?,
            dedup_key: required_text(self.dedup_key, "dedup_key")?,
            org: required_text(self.org, "org")?,
            repo: required_text(self.repo, "repo")?,
            window: TimeWindow::new(
                required(self.window_start, "window_start")?,
                required(self.window_end, "window_end")?,
            )?,
            reason: required_text(self.reason, "reason")?.parse()?,
            attempt: required(self.attempt, "attempt")?,
            max_attempts: required(self.max_attempts, "max_attempts")?,
            created_at: required(self.created_at, "created_at")?,
        };
        if job.attempt == 0 {
            return Err(ContractError::InvalidField {
                field: "attempt",
                reason: "must be at least 1".into(),
            });
        }
        if job.max_attempts == 0 {
            return Err(ContractError::InvalidField {
                field: "max_attempts",
                reason: "must be at least 1".into(),
            });
        }
        Ok(job)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl BackfillJob {
    /// Parses the JSON form (section 7.1 of the specification).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ContractError> {
        let unchecked: UncheckedJob =
            serde_json::from_slice(bytes).map_err(|e| ContractError::Json(e.to_string()))?;
        unchecked.check()
    }

    /// Renders the JSON form.
    pub fn to_json(&self) -> Vec<u8> {
        // A JSON value of strings and integers renders infallibly.
        serde_json::json!({
            "job_id": self.job_id,
            "dedup_key": self.dedup_key,
            "org": self.org,
            "repo": self.repo,
            "window_start": rfc3339(self.window.start()),
            "window_end": rfc3339(self.window.end()),
            "reason": self.reason.as_str(),
            "attempt": self.attempt,
            "max_attempts": self.max_attempts,
            "created_at": rfc3339(self.created_at),
        })
        .to_string()
        .into_bytes()
    }
}
