//! The webhook payloads ghstats reads (the fields it uses; GitHub sends
//! many more). Shapes from GitHub's "Webhook events and payloads".

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::models::{Account, IssueComment, PullRequest, Review};

/// What every event carries: its action, and where it happened.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    pub action: Option<String>,
    pub repository: Option<HookRepository>,
    pub organization: Option<HookOrganization>,
    pub installation: Option<HookInstallation>,
}

impl Envelope {
    /// The account the event belongs to: the organization, else the
    /// repository's owner (a user account's repository).
    pub fn owner(&self) -> Option<&str> {
        self.organization
            .as_ref()
            .map(|o| o.login.as_str())
            .or_else(|| {
                self.repository
                    .as_ref()
                    .and_then(|r| r.owner.as_ref())
                    .and_then(|o| o.login.as_deref())
            })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct HookRepository {
    pub name: String,
    pub owner: Option<Account>,
    pub default_branch: Option<String>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub fork: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HookOrganization {
    pub login: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HookInstallation {
    pub id: u64,
}

/// `pull_request`: opened, closed (with `merged_at`), reopened, ...
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequestEvent {
    pub pull_request: PullRequest,
}

/// `pull_request_review`: submitted, edited, dismissed. Webhook review
/// states are lowercase (`approved`); the REST listing's are uppercase.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequestReviewEvent {
    pub review: Review,
    pub pull_request: PullRequest,
}

/// `issue_comment`: created, edited, deleted.
#[derive(Debug, Clone, Deserialize)]
pub struct IssueCommentEvent {
    pub comment: IssueComment,
}

/// `push`: the branch (`refs/heads/<name>`) and the commits pushed.
#[derive(Debug, Clone, Deserialize)]
pub struct PushEvent {
    #[serde(rename = "ref")]
    pub git_ref: String,
    #[serde(default)]
    pub head_commit: Option<PushCommit>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PushCommit {
    pub id: String,
    pub timestamp: Option<DateTime<Utc>>,
}

impl PushEvent {
    /// The branch pushed to, for branch pushes (not tags).
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/heads/")
    }
}

/// `repository`: archived, deleted, renamed, transferred, ...; for a
/// rename, `changes.repository.name.from` is the old name.
#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryEvent {
    #[serde(default)]
    pub changes: Option<RepositoryChanges>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryChanges {
    pub repository: Option<RenamedFrom>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RenamedFrom {
    pub name: Option<FromValue>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FromValue {
    pub from: String,
}

impl RepositoryEvent {
    /// The name before a rename.
    pub fn renamed_from(&self) -> Option<&str> {
        self.changes
            .as_ref()?
            .repository
            .as_ref()?
            .name
            .as_ref()
            .map(|n| n.from.as_str())
    }
}
