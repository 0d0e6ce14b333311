//! Scrapes one repository's activity for one window: commits, pull
//! requests opened and merged, reviews, issue comments, turned into
//! events keyed by their GitHub ids. The scheduler and the worker call the
//! same function, so a backfill computes what a scheduled scrape would have.
//!
//! Commits count by author date, but GitHub lists and filters them by
//! committer date, which is later for a rebased, late-pushed or merged-in
//! commit. A commit authored in a window was therefore committed at or
//! after the window's start: the listing reads by committer date from
//! there (for the scheduled scrape, from the start of the whole 24-hour
//! window, whatever the checkpoint), so no such commit is missed.

use chrono::{DateTime, Utc};
use ghstats_github::models::{Commit, IssueComment, PullRequest, Review};
use ghstats_github::{GithubClient, GithubError, Listed, Unkept};
use ghstats_proto::{BackfillReason, TimeWindow};
use ghstats_store::{ACTIVITY_WINDOW, ActivityEvent, ActivityKind, PullObservation};

use crate::attribution::{
    Attribution, Credit, Labelled, Person, commit_credit, person, same_account,
};
use crate::pulls;

/// The review states that count: every submitted review. A pending one has
/// not been submitted; a dismissed one was, and GitHub keeps its
/// `submitted_at` (dismissing turns it into a review comment, and stale
/// approvals are dismissed by new commits), so whether it counts does not
/// depend on when it was read.
pub const COUNTED_REVIEW_STATES: [&str; 4] =
    ["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"];

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
    /// Merges and first reviews of the listed pull requests in the window
    /// (see [`crate::pulls`]).
    pub flow: Vec<PullObservation>,
    /// Commits with no linked author that `unattributed_commits: drop` dropped.
    pub dropped_unattributed: u64,
    /// Merge commits (never counted).
    pub merge_commits: u64,
    /// Reviews by the pull request's own author (never counted).
    pub own_reviews: u64,
    /// Events of bots and of users the allow/deny lists filtered out.
    pub filtered: u64,
    /// Every listing came back unchanged (304).
    pub unchanged: bool,
    pub failures: Vec<Failure>,
    /// Validators of the listings whose every derivation succeeded, to
    /// keep once `events` are stored (a 304 of them returns no items).
    pub unkept: Unkept,
}

struct Collector<'a> {
    attribution: &'a Attribution,
    window: TimeWindow,
    out: ActivityScrape,
}

impl Collector<'_> {
    /// Keeps the event if `at` is in `[from, window end)` and the rules
    /// credit it to someone. Events without a login are not kept.
    fn push(
        &mut self,
        kind: ActivityKind,
        id: impl Into<String>,
        who: Option<Credit>,
        at: DateTime<Utc>,
        from: DateTime<Utc>,
    ) {
        if at < from || at >= self.window.end() {
            return;
        }
        let Some(who) = who else { return };
        match self.attribution.credit(&who) {
            Labelled::User(user) => self.out.events.push(ActivityEvent {
                kind,
                id: id.into(),
                user,
                at,
            }),
            Labelled::Filtered => self.out.filtered += 1,
            Labelled::Dropped => self.out.dropped_unattributed += 1,
        }
    }

    /// The reviews of a pull request by `author` that count: submitted,
    /// in a counted state, and not the author's own replies.
    fn reviews(&mut self, author: Option<&Person>, reviews: &[Review], since: DateTime<Utc>) {
        for r in reviews {
            let (Some(at), true) = (
                r.submitted_at,
                COUNTED_REVIEW_STATES.contains(&r.state.as_str()),
            ) else {
                continue;
            };
            let reviewer = person(r.user.as_ref());
            if same_account(reviewer.as_ref(), author) {
                self.out.own_reviews += 1;
                continue;
            }
            let credit = reviewer.map(Credit::Person);
            self.push(ActivityKind::Review, r.id.to_string(), credit, at, since);
        }
    }

    /// A pull request's opened and merged events, and with its reviews
    /// (`None`: not read) their events and its flow observations.
    fn pull(&mut self, pr: &PullRequest, reviews: Option<&[Review]>) {
        let since = self.window.start();
        let author = person(pr.user.as_ref());
        let credit = author.clone().map(Credit::Person);
        let number = pr.number.to_string();
        self.push(
            ActivityKind::PrOpened,
            number.clone(),
            credit.clone(),
            pr.created_at,
            since,
        );
        if let Some(merged) = pr.merged_at {
            self.push(ActivityKind::PrMerged, number, credit, merged, since);
        }
        if let Some(reviews) = reviews {
            self.reviews(author.as_ref(), reviews, since);
        }
        self.out.flow.extend(pulls::observations(
            self.attribution,
            pr,
            reviews.unwrap_or_default(),
            since,
            self.window.end(),
        ));
    }

    /// The events of a commit listing read from `from`.
    fn commits(&mut self, l: &mut Listed<Commit>, from: DateTime<Utc>) {
        self.out.unchanged &= l.unchanged;
        self.out.unkept.extend(std::mem::take(&mut l.unkept));
        for commit in &l.items {
            if commit.is_merge() {
                self.out.merge_commits += 1;
                continue;
            }
            if let Some(at) = commit.author_date() {
                let credit = commit_credit(commit.author.as_ref());
                self.push(
                    ActivityKind::Commit,
                    commit.sha.clone(),
                    Some(credit),
                    at,
                    from,
                );
            }
        }
    }

    fn comment(&mut self, comment: &IssueComment) {
        let since = self.window.start();
        let credit = person(comment.user.as_ref()).map(Credit::Person);
        self.push(
            ActivityKind::IssueComment,
            comment.id.to_string(),
            credit,
            comment.created_at,
            since,
        );
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
    let mut c = Collector::new(attribution, window);
    let since = window.start();

    if !skip_commits {
        // Scheduled: the whole rolling window (a late commit may sit
        // anywhere in it); a backfill: its exact window.
        let from = match fetch {
            Fetch::Newest => since.min(window.end() - ACTIVITY_WINDOW),
            Fetch::Window => since,
        };
        let listed = match fetch {
            Fetch::Newest => client.list_commits_newest(repo, from).await,
            Fetch::Window => client.list_commits_committed_since(repo, from).await,
        };
        match listed {
            Ok(mut l) => c.commits(&mut l, from),
            Err(e) => c.fail(BackfillReason::ActivityCommitsFailed, e),
        }
    }

    match client.list_pulls_updated_since(repo, since).await {
        Ok(mut l) => {
            c.out.unchanged &= l.unchanged;
            // The pull requests' validators only if every review listing
            // succeeded: a 304 of them would skip the reviews.
            let mut unkept = std::mem::take(&mut l.unkept);
            let mut reviews_ok = true;
            for pr in &l.items {
                match client.list_reviews(repo, pr.number, since).await {
                    Ok(reviews) => {
                        c.pull(pr, Some(&reviews.items));
                        unkept.extend(reviews.unkept);
                    }
                    Err(e) => {
                        c.pull(pr, None);
                        reviews_ok = false;
                        c.fail(BackfillReason::ActivityReviewsFailed, e);
                    }
                }
            }
            if reviews_ok {
                c.out.unkept.extend(unkept);
            }
        }
        Err(e) => c.fail(BackfillReason::ActivityPullsFailed, e),
    }

    let comments = match fetch {
        Fetch::Newest => client.list_issue_comments_newest(repo, since).await,
        Fetch::Window => client.list_issue_comments(repo, since).await,
    };
    match comments {
        Ok(mut l) => {
            c.out.unchanged &= l.unchanged;
            c.out.unkept.extend(std::mem::take(&mut l.unkept));
            for comment in &l.items {
                c.comment(comment);
            }
        }
        Err(e) => c.fail(BackfillReason::ActivityIssueCommentsFailed, e),
    }
    c.out
}

impl<'a> Collector<'a> {
    fn new(attribution: &'a Attribution, window: TimeWindow) -> Self {
        Collector {
            attribution,
            window,
            out: ActivityScrape {
                unchanged: true,
                ..ActivityScrape::default()
            },
        }
    }
}

/// The events of one pull request as GitHub gives it (a webhook payload),
/// for `window`: opened, merged, and its lead time; its reviews and first
/// review when given.
pub fn pull_events(
    attribution: &Attribution,
    window: TimeWindow,
    pr: &PullRequest,
    reviews: Option<&[Review]>,
) -> ActivityScrape {
    let mut c = Collector::new(attribution, window);
    c.out.unchanged = false;
    c.pull(pr, reviews);
    c.out
}

/// The event of one issue comment as GitHub gives it, for `window`.
pub fn comment_event(
    attribution: &Attribution,
    window: TimeWindow,
    comment: &IssueComment,
) -> ActivityScrape {
    let mut c = Collector::new(attribution, window);
    c.out.unchanged = false;
    c.comment(comment);
    c.out
}

/// The default branch's commits of `window` (as the scheduled scrape
/// reads them, from the start of the 24-hour window).
pub async fn scrape_commits(
    client: &GithubClient,
    attribution: &Attribution,
    repo: &str,
    window: TimeWindow,
) -> ActivityScrape {
    let mut c = Collector::new(attribution, window);
    let from = window.start().min(window.end() - ACTIVITY_WINDOW);
    match client.list_commits_newest(repo, from).await {
        Ok(mut l) => c.commits(&mut l, from),
        Err(e) => c.fail(BackfillReason::ActivityCommitsFailed, e),
    }
    c.out
}

/// One pull request's events with its reviews read from GitHub (the
/// reviews and first review a webhook review delivery announces).
pub async fn scrape_pull(
    client: &GithubClient,
    attribution: &Attribution,
    repo: &str,
    pr: &PullRequest,
    window: TimeWindow,
) -> ActivityScrape {
    let mut c = Collector::new(attribution, window);
    match client.list_reviews(repo, pr.number, window.start()).await {
        Ok(reviews) => {
            c.out.unchanged &= reviews.unchanged;
            c.pull(pr, Some(&reviews.items));
            c.out.unkept.extend(reviews.unkept);
        }
        Err(e) => {
            c.pull(pr, None);
            c.fail(BackfillReason::ActivityReviewsFailed, e);
        }
    }
    c.out
}
