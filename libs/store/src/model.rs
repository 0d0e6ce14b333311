//! The values that cross the `Store` trait.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::catalog::Family;
use crate::series::SeriesKey;

/// Who writes: the leader's scheduled scrape (fenced by the lease term) or
/// a worker's backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteSource {
    LeaderScrape,
    WorkerBackfill,
}

impl WriteSource {
    /// The `source` label of `gh_exporter_store_write_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteSource::LeaderScrape => "leader_scrape",
            WriteSource::WorkerBackfill => "worker_backfill",
        }
    }
}

/// Carried by every write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteCtx {
    pub source: WriteSource,
    /// The writer's lease term; leader writes with a term older than the
    /// store's current one are refused.
    pub term: u64,
}

impl WriteCtx {
    pub fn leader(term: u64) -> Self {
        Self {
            source: WriteSource::LeaderScrape,
            term,
        }
    }

    pub fn worker() -> Self {
        Self {
            source: WriteSource::WorkerBackfill,
            term: 0,
        }
    }
}

/// What happened on GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActivityKind {
    Commit,
    PrOpened,
    PrMerged,
    Review,
    IssueComment,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 5] = [
        ActivityKind::Commit,
        ActivityKind::PrOpened,
        ActivityKind::PrMerged,
        ActivityKind::Review,
        ActivityKind::IssueComment,
    ];

    /// One-letter code in stored event members.
    pub fn code(self) -> &'static str {
        match self {
            ActivityKind::Commit => "c",
            ActivityKind::PrOpened => "o",
            ActivityKind::PrMerged => "m",
            ActivityKind::Review => "r",
            ActivityKind::IssueComment => "i",
        }
    }

    /// The 24h family it counts towards.
    pub fn family(self) -> Family {
        match self {
            ActivityKind::Commit => Family::Commits24h,
            ActivityKind::PrOpened => Family::PrsOpened24h,
            ActivityKind::PrMerged => Family::PrsMerged24h,
            ActivityKind::Review => Family::ReviewsSubmitted24h,
            ActivityKind::IssueComment => Family::IssueComments24h,
        }
    }
}

/// One event, identified by its GitHub id (commit sha, PR number, review
/// id, comment id), so storing it twice counts it once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActivityEvent {
    pub kind: ActivityKind,
    pub id: String,
    pub user: String,
    pub at: DateTime<Utc>,
}

/// The two pull-request histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowHistogram {
    /// `merged_at - created_at`, observed at `merged_at`.
    LeadTime,
    /// From `created_at` to the first review by someone else (no bot),
    /// observed at that review's `submitted_at`.
    FirstReview,
}

impl FlowHistogram {
    pub const ALL: [FlowHistogram; 2] = [FlowHistogram::LeadTime, FlowHistogram::FirstReview];

    /// One-letter code in stored observation records.
    pub fn code(self) -> &'static str {
        match self {
            FlowHistogram::LeadTime => "l",
            FlowHistogram::FirstReview => "f",
        }
    }

    pub fn family(self) -> Family {
        match self {
            FlowHistogram::LeadTime => Family::PrLeadTime,
            FlowHistogram::FirstReview => Family::PrTimeToFirstReview,
        }
    }
}

/// One observation of one pull request, recorded at most once per
/// histogram and pull-request number, whoever reads it how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullObservation {
    pub histogram: FlowHistogram,
    pub number: u64,
    /// When it happened (the merge, the first review): the look-back and
    /// the retention are measured on it.
    pub at: DateTime<Utc>,
    /// The observed value, in whole seconds (GitHub's times have whole
    /// seconds).
    pub seconds: u64,
}

/// A repository's open pull requests now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenPulls {
    /// Open pull requests that are not drafts.
    pub ready: u64,
    pub draft: u64,
    /// `created_at` of the oldest open one that is not a draft.
    pub oldest_ready: Option<DateTime<Utc>>,
}

/// How observations are bucketed, and how far before a repository was
/// first seen its pull requests are still observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRules {
    /// Upper bounds in seconds, ascending (`+Inf` is implied).
    pub lead_time_buckets: Vec<u64>,
    pub first_review_buckets: Vec<u64>,
    pub lookback: Duration,
}

impl FlowRules {
    pub fn buckets(&self, h: FlowHistogram) -> &[u64] {
        match h {
            FlowHistogram::LeadTime => &self.lead_time_buckets,
            FlowHistogram::FirstReview => &self.first_review_buckets,
        }
    }

    pub fn from_config(c: &ghstats_config::PullRequestsConfig) -> Self {
        let secs = |v: &[ghstats_config::Duration]| v.iter().map(|d| d.get().as_secs()).collect();
        Self {
            lead_time_buckets: secs(&c.lead_time_buckets),
            first_review_buckets: secs(&c.first_review_buckets),
            lookback: c.lookback.get(),
        }
    }
}

impl Default for FlowRules {
    fn default() -> Self {
        Self::from_config(&ghstats_config::PullRequestsConfig::default())
    }
}

/// What one read of a repository's pull requests adds to its flow.
#[derive(Debug, Clone, Copy)]
pub struct PullFlow<'a> {
    pub observations: &'a [PullObservation],
    /// The open pull requests now; `None` when they were not read (a
    /// backfill, a failed listing): the last ones stay and their age grows.
    pub open: Option<OpenPulls>,
    pub rules: &'a FlowRules,
}

/// How often the age of a repository's oldest open pull request is
/// rewritten between reads (by the leader's aging pass).
pub const OPEN_AGE_STEP: chrono::Duration = chrono::Duration::seconds(60);

/// The `le` label of a bucket bound.
pub fn bucket_label(bound: u64) -> String {
    bound.to_string()
}

/// Weekly lines of code of one user in one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLoc {
    pub user: String,
    pub added: u64,
    pub removed: u64,
}

impl UserLoc {
    /// Whether the user added or removed lines that week. GitHub's
    /// contributor stats list every contributor the repository ever had,
    /// each with every week; a user without lines is as absent (0 only
    /// where a series exists), so old contributors cost no series.
    pub fn has_lines(&self) -> bool {
        self.added > 0 || self.removed > 0
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Series whose value changed (each one a change-log entry).
    pub changed: u64,
    /// New series refused by `max_series_budget`.
    pub refused: u64,
}

/// One change-log entry: a series' new value, or its removal.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub series: SeriesKey,
    pub value: Option<f64>,
}

/// Where a reader is in the change log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor(pub String);

/// Every series, and the cursor to follow changes from.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub series: Vec<(SeriesKey, f64)>,
    pub cursor: Cursor,
}

/// Changes after a cursor.
#[derive(Debug, Clone)]
pub enum Changes {
    Delta {
        changes: Vec<Change>,
        cursor: Cursor,
    },
    /// The log was trimmed past the cursor: reload a snapshot.
    Behind,
}

/// Namespaces of opaque values kept in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobKind {
    /// Per-repo LOC state machine.
    LocState,
    /// Conditional-request cache (ETag + body), shared by every replica.
    Etag,
    /// Per-org rate budget as last seen.
    RateBudget,
    /// Per-org repository list and change markers.
    RepoCache,
    /// Per-org GitHub cooldown end, set by the leader while it lasts.
    Cooldown,
    /// Label sets of the last Copilot report written, per owner, scope and
    /// window (to zero the series a newer report no longer has).
    CopilotSeries,
}

impl BlobKind {
    pub fn ns(self) -> &'static str {
        match self {
            BlobKind::LocState => "loc",
            BlobKind::Etag => "etag",
            BlobKind::RateBudget => "rate",
            BlobKind::RepoCache => "repos",
            BlobKind::Cooldown => "cooldown",
            BlobKind::CopilotSeries => "copilot",
        }
    }
}

/// Namespaces of claims (`SET NX` with TTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimKind {
    /// A backfill window already enqueued.
    Dedup,
    /// A backfill job being processed.
    JobLock,
    /// A backfill job whose window was written (its deliveries are done).
    JobDone,
    /// A webhook delivery (`X-GitHub-Delivery`) already made durable.
    WebhookDelivery,
    /// A failed webhook delivery whose redelivery was asked for.
    Redelivery,
}

impl ClaimKind {
    pub fn ns(self) -> &'static str {
        match self {
            ClaimKind::Dedup => "dedup",
            ClaimKind::JobLock => "joblock",
            ClaimKind::JobDone => "jobdone",
            ClaimKind::WebhookDelivery => "hook",
            ClaimKind::Redelivery => "redeliver",
        }
    }
}

/// What one aging pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgingReport {
    /// Repositories whose 24h gauges were due and were recounted.
    pub repos: u64,
    /// Series whose value changed.
    pub changed: u64,
    /// Due repositories left for the next pass (the pass is bounded).
    pub remaining: u64,
}

/// What GC removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Series not written for `retention`.
    pub expired_series: u64,
}

/// Store-wide settings.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub prefix: String,
    pub shards: u32,
    pub retention: Duration,
    pub max_series: u64,
    /// Change-log length kept (approximately) for readers.
    pub change_log_len: u64,
}

impl StoreSettings {
    pub fn from_config(c: &ghstats_config::StoreConfig) -> Self {
        Self {
            prefix: c.key_prefix.clone(),
            shards: c.index_shards,
            retention: c.retention.get(),
            max_series: c.max_series_budget,
            change_log_len: 1_000_000,
        }
    }
}

/// Events count towards 24h gauges while `at > now - 24h`.
pub const ACTIVITY_WINDOW: chrono::Duration = chrono::Duration::hours(24);
