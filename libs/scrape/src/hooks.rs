//! Webhook deliveries turned into the same stored events, with the same
//! ids, as the scrape (`docs/metrics.md`): a pull request's own payload
//! gives its opened and merged events and its lead time, and when it was
//! opened, closed, reopened or changed draft state the open listing is
//! read again (conditional: a 304 when nothing changed); a submitted
//! review has the pull request's reviews read through the client (the
//! first review needs them all, and a payload's account has no type for
//! the bot rule); a comment's payload gives its event; a push to the
//! default branch has the branch's commits read through the client (a
//! push payload has no parents, so no merge rule, and no account type);
//! a repository archived, deleted, transferred or renamed away leaves the
//! selection at once. A fact seen by a delivery and by the scrape is one
//! event and one observation.

use chrono::{DateTime, Duration, Utc};
use ghstats_github::GithubClient;
use ghstats_github::models::PullRequest;
use ghstats_github::webhook::{
    Envelope, IssueCommentEvent, PullRequestEvent, PullRequestReviewEvent, PushEvent,
    RepositoryEvent,
};
use ghstats_proto::TimeWindow;
use ghstats_store::{ACTIVITY_WINDOW, FlowRules, Store, StoreError, WriteCtx, WriteTally};

use crate::activity::{self, ActivityScrape};
use crate::attribution::Attribution;
use crate::pulls;
use crate::record::Recorder;

/// The events ghstats reads; any other is acknowledged and ignored.
pub const EVENTS: [&str; 6] = [
    "push",
    "pull_request",
    "pull_request_review",
    "issue_comment",
    "repository",
    "ping",
];

/// The `pull_request` actions that change which pull requests are open,
/// or whether one is a draft (`gh_pr_open`, the oldest open one's age).
pub const OPEN_STATE_ACTIONS: [&str; 5] = [
    "opened",
    "closed",
    "reopened",
    "ready_for_review",
    "converted_to_draft",
];

/// What a delivery asks for.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// GitHub's `ping` when a webhook is created.
    Ping,
    /// An event or action ghstats does not use, and why.
    Ignored(&'static str),
    /// Work on a repository of an org.
    Work {
        org: String,
        repo: String,
        /// The repository is archived or a fork (for the selection).
        archived: bool,
        fork: bool,
        work: Work,
        /// When what it reports happened (for the event-to-store lag).
        happened: Option<DateTime<Utc>>,
    },
}

#[derive(Debug, Clone)]
pub enum Work {
    /// A pull request as the payload gives it; with `open_state_changed`
    /// (an action of [`OPEN_STATE_ACTIONS`]) the repository's open pull
    /// requests are read again too.
    Pull {
        pr: Box<PullRequest>,
        open_state_changed: bool,
    },
    /// A review was submitted: read the pull request's reviews.
    Reviewed(Box<PullRequest>),
    Comment(Box<ghstats_github::models::IssueComment>),
    /// The default branch was pushed to: read its commits.
    Pushed,
    /// The repository left the org's selection under this name.
    Left,
}

/// Why a delivery cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the body is not a {event} payload: {source}")]
    Malformed {
        event: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the {event} payload names no repository or owner")]
    NoRepository { event: String },
}

fn parse<T: serde::de::DeserializeOwned>(event: &str, body: &[u8]) -> Result<T, DeliveryError> {
    serde_json::from_slice(body).map_err(|source| DeliveryError::Malformed {
        event: event.to_owned(),
        source,
    })
}

/// Reads a delivery of `event` (the `X-GitHub-Event` header).
pub fn read_delivery(event: &str, body: &[u8]) -> Result<Delivery, DeliveryError> {
    if event == "ping" {
        return Ok(Delivery::Ping);
    }
    if !EVENTS.contains(&event) {
        return Ok(Delivery::Ignored("event not used"));
    }
    let envelope: Envelope = parse(event, body)?;
    let (Some(org), Some(repository)) = (envelope.owner(), envelope.repository.as_ref()) else {
        return Err(DeliveryError::NoRepository {
            event: event.to_owned(),
        });
    };
    let action = envelope.action.as_deref().unwrap_or_default();
    let (work, happened) = match event {
        "pull_request" => {
            let e: PullRequestEvent = parse(event, body)?;
            let at = e.pull_request.updated_at;
            let work = Work::Pull {
                pr: Box::new(e.pull_request),
                open_state_changed: OPEN_STATE_ACTIONS.contains(&action),
            };
            (work, Some(at))
        }
        "pull_request_review" if action == "submitted" => {
            let e: PullRequestReviewEvent = parse(event, body)?;
            let at = e.review.submitted_at;
            (Work::Reviewed(Box::new(e.pull_request)), at)
        }
        "issue_comment" if action == "created" => {
            let e: IssueCommentEvent = parse(event, body)?;
            let at = e.comment.created_at;
            (Work::Comment(Box::new(e.comment)), Some(at))
        }
        "push" => {
            let e: PushEvent = parse(event, body)?;
            if e.branch().is_none() || e.branch() != repository.default_branch.as_deref() {
                return Ok(Delivery::Ignored("push to another branch than the default"));
            }
            (Work::Pushed, e.head_commit.and_then(|c| c.timestamp))
        }
        "repository" => {
            let e: RepositoryEvent = parse(event, body)?;
            let name = match action {
                "archived" | "deleted" | "transferred" => repository.name.clone(),
                "renamed" => match e.renamed_from() {
                    Some(old) => old.to_owned(),
                    None => return Ok(Delivery::Ignored("rename without the old name")),
                },
                _ => return Ok(Delivery::Ignored("repository action not used")),
            };
            return Ok(Delivery::Work {
                org: org.to_owned(),
                repo: name,
                archived: false,
                fork: false,
                work: Work::Left,
                happened: None,
            });
        }
        _ => return Ok(Delivery::Ignored("action not used")),
    };
    Ok(Delivery::Work {
        org: org.to_owned(),
        repo: repository.name.clone(),
        archived: repository.archived,
        fork: repository.fork,
        work,
        happened,
    })
}

/// Why applying a delivery failed: it was not made durable.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("reading GitHub for the delivery failed: {0}")]
    Github(String),
}

/// What a delivery changes, with what its reads cost.
#[derive(Debug)]
pub struct Applier<'a> {
    pub client: &'a GithubClient,
    pub store: &'a dyn Store,
    pub attribution: &'a Attribution,
    /// `pull_requests.*` when enabled.
    pub flow: Option<&'a FlowRules>,
    pub writes: &'a WriteTally,
}

impl Applier<'_> {
    /// Applies `work` on `org`/`repo` as of `now`; done once it returns Ok.
    pub async fn apply(
        &self,
        org: &str,
        repo: &str,
        work: &Work,
        now: DateTime<Utc>,
    ) -> Result<usize, ApplyError> {
        // The scheduled scrape's window: the last 24 hours.
        let window = TimeWindow::ordered(now - ACTIVITY_WINDOW, now + Duration::seconds(1));
        let mut scrape: ActivityScrape = match work {
            Work::Pull { pr, .. } => activity::pull_events(self.attribution, window, pr, None),
            Work::Comment(c) => activity::comment_event(self.attribution, window, c),
            Work::Reviewed(pr) => {
                activity::scrape_pull(self.client, self.attribution, repo, pr, window).await
            }
            Work::Pushed => {
                activity::scrape_commits(self.client, self.attribution, repo, window).await
            }
            Work::Left => {
                self.recorder().leave_selection(org, repo, now).await?;
                return Ok(0);
            }
        };
        if let Some(f) = scrape.failures.first() {
            return Err(ApplyError::Github(f.error.to_string()));
        }
        let open = match (work, self.flow) {
            (
                Work::Pull {
                    open_state_changed: true,
                    ..
                },
                Some(_),
            ) => pulls::open_pulls_now(self.client, self.attribution, org, repo).await,
            _ => None,
        };
        self.recorder()
            .record(self.client, org, repo, &mut scrape, open, now)
            .await?;
        Ok(scrape.events.len())
    }

    fn recorder(&self) -> Recorder<'_> {
        Recorder {
            store: self.store,
            writes: self.writes,
            flow: self.flow,
            ctx: WriteCtx::worker(),
        }
    }
}
