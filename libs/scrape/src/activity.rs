//! Scrapes one repository's activity for one window: commits, pull
//! requests opened and merged, reviews, issue comments, turned into
//! events keyed by their GitHub ids. The scheduler and the worker call the
//! same function, so a backfill computes what a scheduled scrape would have.

use chrono::{DateTime, Utc};
use ghstats_github::{GithubClient, GithubError};
use ghstats_proto::{BackfillReason, TimeWindow};
use ghstats_store::{ActivityEvent, ActivityKind};

use crate::attribution::{Attribution, Person, commit_author, person};

/// How listings are fetched; the result is the same, the cost differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// Stable newest-first URLs, answered 304 (free) while nothing changed;
    /// for the recent windows of scheduled scrapes.
    Newest,
    /// `since`/`until` queries; for exact (older) backfill windows.
    Window,
}

/// One listing that failed, and the backfill reason it maps to.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: BackfillReason,
    pub error: GithubError,
}

#[derive(Debug, Clone, Default)]
pub struct ActivityScrape {
    pub events: Vec<ActivityEvent>,
    /// Commits with no GitHub account to attribute them to.
    pub unattributed_commits: u64,
    /// Events of users the allow/deny lists filtered out.
    pub filtered: u64,
    /// Every listing came back unchanged (304).
    pub unchanged: bool,
    pub failures: Vec<Failure>,
}

struct Collector<'a> {
    attribution: &'a Attribution,
    window: TimeWindow,
    out: ActivityScrape,
}

impl Collector<'_> {
    fn push(
        &mut self,
        kind: ActivityKind,
        id: impl Into<String>,
        who: Option<Person>,
        at: DateTime<Utc>,
    ) {
        if at < self.window.start() || at >= self.window.end() {
            return;
        }
        let Some(who) = who else {
            if kind == ActivityKind::Commit {
                self.out.unattributed_commits += 1;
            }
            return;
        };
        match self.attribution.label(&who) {
            Some(user) => self.out.events.push(ActivityEvent {
                kind,
                id: id.into(),
                user,
                at,
            }),
            None => self.out.filtered += 1,
        }
    }

    fn fail(&mut self, reason: BackfillReason, error: GithubError) {
        tracing::warn!(reason = %reason, error = %error, "listing failed");
        self.out.failures.push(Failure { reason, error });
    }
}

/// Scrapes `repo` for `window`. `skip_commits` skips the commit listing
/// (the repository was not pushed to since the last scrape). Listing
/// failures are reported in `failures`; what succeeded is still returned.
pub async fn scrape_activity(
    client: &GithubClient,
    attribution: &Attribution,
    repo: &str,
    window: TimeWindow,
    fetch: Fetch,
    skip_commits: bool,
) -> ActivityScrape {
    let mut c = Collector {
        attribution,
        window,
        out: ActivityScrape {
            unchanged: true,
            ..ActivityScrape::default()
        },
    };
    let since = window.start();

    if !skip_commits {
        let listed = match fetch {
            Fetch::Newest => client.list_commits_newest(repo, since).await,
            Fetch::Window => client.list_commits(repo, since, window.end()).await,
        };
        match listed {
            Ok(l) => {
                c.out.unchanged &= l.unchanged;
                for commit in &l.items {
                    if let Some(at) = commit.commit.author.as_ref().and_then(|a| a.date) {
                        c.push(
                            ActivityKind::Commit,
                            commit.sha.clone(),
                            commit_author(commit),
                            at,
                        );
                    }
                }
            }
            Err(e) => c.fail(BackfillReason::ActivityCommitsFailed, e),
        }
    }

    match client.list_pulls_updated_since(repo, since).await {
        Ok(l) => {
            c.out.unchanged &= l.unchanged;
            for pr in &l.items {
                let author = person(pr.user.as_ref());
                c.push(
                    ActivityKind::PrOpened,
                    pr.number.to_string(),
                    author.clone(),
                    pr.created_at,
                );
                if let Some(merged) = pr.merged_at {
                    c.push(
                        ActivityKind::PrMerged,
                        pr.number.to_string(),
                        author,
                        merged,
                    );
                }
                match client.list_reviews(repo, pr.number).await {
                    Ok(reviews) => {
                        for r in &reviews.items {
                            if let Some(at) = r.submitted_at {
                                c.push(
                                    ActivityKind::Review,
                                    r.id.to_string(),
                                    person(r.user.as_ref()),
                                    at,
                                );
                            }
                        }
                    }
                    Err(e) => c.fail(BackfillReason::ActivityReviewsFailed, e),
                }
            }
        }
        Err(e) => c.fail(BackfillReason::ActivityPullsFailed, e),
    }

    let comments = match fetch {
        Fetch::Newest => client.list_issue_comments_newest(repo, since).await,
        Fetch::Window => client.list_issue_comments(repo, since).await,
    };
    match comments {
        Ok(l) => {
            c.out.unchanged &= l.unchanged;
            for comment in &l.items {
                c.push(
                    ActivityKind::IssueComment,
                    comment.id.to_string(),
                    person(comment.user.as_ref()),
                    comment.created_at,
                );
            }
        }
        Err(e) => c.fail(BackfillReason::ActivityIssueCommentsFailed, e),
    }
    c.out
}
