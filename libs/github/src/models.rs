//! The parts of GitHub's answers ghstats reads. Unknown fields are ignored;
//! fields GitHub may omit or null are `Option`s.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user or bot as GitHub embeds it. GitHub sometimes sends `{}` for a
/// commit author it cannot link, hence the optional fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Account {
    pub login: Option<String>,
    pub id: Option<u64>,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

impl Account {
    /// GitHub says the account is a bot (an app, the Copilot coding agent).
    pub fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot")
    }
}

/// A parent of a commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Parent {
    pub sha: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repository {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub fork: bool,
    pub pushed_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub default_branch: Option<String>,
}

/// The git author or committer of a commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GitIdentity {
    pub name: Option<String>,
    pub email: Option<String>,
    pub date: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GitCommit {
    pub author: Option<GitIdentity>,
    pub committer: Option<GitIdentity>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    pub sha: String,
    pub commit: GitCommit,
    /// The account GitHub linked to the author, if any.
    pub author: Option<Account>,
    pub committer: Option<Account>,
    /// Two or more for a merge commit.
    #[serde(default)]
    pub parents: Vec<Parent>,
}

impl Commit {
    pub fn is_merge(&self) -> bool {
        self.parents.len() >= 2
    }

    pub fn author_date(&self) -> Option<DateTime<Utc>> {
        self.commit.author.as_ref().and_then(|a| a.date)
    }

    /// The date GitHub orders and filters the listing by.
    pub fn committer_date(&self) -> Option<DateTime<Utc>> {
        self.commit.committer.as_ref().and_then(|c| c.date)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitStats {
    pub additions: u64,
    pub deletions: u64,
}

/// `/repos/{o}/{r}/commits/{sha}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitDetail {
    pub sha: String,
    pub commit: GitCommit,
    pub author: Option<Account>,
    pub committer: Option<Account>,
    pub stats: Option<CommitStats>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub user: Option<Account>,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub merged_at: Option<DateTime<Utc>>,
    /// A draft pull request (absent on GitHub plans without drafts).
    #[serde(default)]
    pub draft: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Review {
    pub id: u64,
    pub user: Option<Account>,
    pub state: String,
    /// Absent on pending reviews.
    pub submitted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueComment {
    pub id: u64,
    pub user: Option<Account>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One week of one contributor in `/stats/contributors`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContributorWeek {
    /// Week start, Unix seconds.
    pub w: i64,
    pub a: u64,
    pub d: u64,
    pub c: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContributorStats {
    pub author: Option<Account>,
    pub total: u64,
    pub weeks: Vec<ContributorWeek>,
}

/// What `/stats/contributors` answered.
#[derive(Debug, Clone)]
pub enum StatsAnswer {
    Ready(Vec<ContributorStats>),
    /// 202: GitHub is computing the stats; ask again later.
    Computing,
    /// 204: the repository has no commits.
    Empty,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct RateLimitEntry {
    pub limit: u64,
    pub remaining: u64,
    pub reset: i64,
    pub used: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateLimitResources {
    pub core: RateLimitEntry,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateLimitResponse {
    pub resources: RateLimitResources,
}
