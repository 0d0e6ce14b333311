//! The ground truth: what an exporter should report for a window, computed
//! from the world directly by the rules written in `docs/metrics.md`, so
//! tests compare against an answer that shares no code with the exporter.
//!
//! - Commits: default-branch commits whose **author date** is in the
//!   window, whenever they were committed or pushed; merge commits (two or
//!   more parents) never count; credited to the linked author, never to
//!   the committer; a commit without a linked author counts under
//!   [`UNATTRIBUTED`] (or not at all, with `unattributed=drop`).
//! - Pull requests opened and merged: the PR's author, at `created_at` and
//!   `merged_at`.
//! - Reviews: submitted reviews (`APPROVED`, `CHANGES_REQUESTED`,
//!   `COMMENTED`, and `DISMISSED`, which were submitted before they were
//!   dismissed) at `submitted_at`, by the reviewer, unless the reviewer is
//!   the PR's author (an author's replies in a review thread).
//! - Issue comments: the commenter, at `created_at`.
//! - Accounts of type `Bot` count only with `include_bots`.
//! - Repositories: those the selection keeps (archived and forks only when
//!   asked). One that left (archived, renamed away, deleted) keeps, under
//!   its old name, the events it held when it left, until they age out.
//! - Last event: per user and repository, the newest counted event at or
//!   after `observed_since` (when the exporter started watching, 24 hours
//!   before its first cycle).
//!
//! - Pull-request flow: per repository, `merged_at - created_at` of each
//!   pull request by a counted author merged in the observed span; the
//!   time from `created_at` to its first review (submitted, counted state,
//!   not by the author, not by a bot, by a counted reviewer) when that
//!   review is in the span; and now, its open pull requests by counted
//!   authors, drafts apart, and the age of the oldest that is not a draft.
//!
//! Windows are half-open: `[since, until)`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::stats::{week_start, weekly};
use crate::world::{Departure, Repo, StatsBehaviour, User, World};

/// The user label of commits without a linked author: no GitHub login can
/// contain parentheses.
pub const UNATTRIBUTED: &str = "(unattributed)";

/// The states of a submitted review (a pending one has none of them).
const SUBMITTED_STATES: [&str; 4] = ["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"];

/// How the exporter under test is configured, where it changes the answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TruthOptions {
    pub org: Option<String>,
    /// Count accounts of type `Bot`.
    pub include_bots: bool,
    /// Drop commits without a linked author instead of counting them under
    /// [`UNATTRIBUTED`].
    pub drop_unattributed: bool,
    pub include_archived: bool,
    pub include_forks: bool,
    /// Label users by account id instead of login.
    pub label_by_id: bool,
    /// Start of the exporter's observation (for the last-event family).
    pub observed_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthRow {
    pub org: String,
    pub repo: String,
    pub user: String,
    pub commits: u64,
    pub prs_opened: u64,
    pub prs_merged: u64,
    pub reviews: u64,
    pub issue_comments: u64,
    pub last_event_unixtime: i64,
}

impl TruthRow {
    /// The row's counts under the exporter's 24h metric names.
    pub fn counts(&self) -> [(&'static str, u64); 5] {
        [
            ("gh_activity_commits_24h", self.commits),
            ("gh_activity_prs_opened_24h", self.prs_opened),
            ("gh_activity_prs_merged_24h", self.prs_merged),
            ("gh_activity_reviews_submitted_24h", self.reviews),
            ("gh_activity_issue_comments_24h", self.issue_comments),
        ]
    }
}

/// Weekly lines of code of the most recent complete week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocTruth {
    pub org: String,
    pub repo: String,
    pub user: String,
    pub week_start_unixtime: i64,
    pub additions: u64,
    pub deletions: u64,
}

impl TruthOptions {
    fn label(&self, u: &User) -> Option<String> {
        if u.bot && !self.include_bots {
            return None;
        }
        Some(if self.label_by_id {
            u.id.to_string()
        } else {
            u.login.clone()
        })
    }

    fn selects(&self, repo: &Repo) -> bool {
        (self.include_archived || !repo.archived) && (self.include_forks || !repo.fork)
    }

    fn org(&self, login: &str) -> bool {
        self.org
            .as_deref()
            .is_none_or(|f| f.eq_ignore_ascii_case(login))
    }
}

/// The repositories whose events count, by (org, name): the selected ones
/// as they are now, and those that left as they were when they left.
fn counted_repos<'w>(
    world: &'w World,
    o: &TruthOptions,
) -> Vec<(&'w str, &'w Repo, Option<DateTime<Utc>>)> {
    let mut out = Vec::new();
    for org in world.orgs.iter().filter(|org| o.org(&org.login)) {
        for repo in org.repos.iter().filter(|r| o.selects(r)) {
            out.push((org.login.as_str(), repo, None));
        }
    }
    for d in world.departed.iter().filter(|d| o.org(&d.org)) {
        // An archived repository the selection keeps is counted live.
        let kept_live = d.how == Departure::Archived && o.include_archived;
        if !kept_live && o.selects(&d.repo) {
            out.push((d.org.as_str(), &d.repo, Some(d.at)));
        }
    }
    out
}

pub fn activity(
    world: &World,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    o: &TruthOptions,
) -> Vec<TruthRow> {
    let observed = o.observed_since.unwrap_or(since);
    let mut rows: BTreeMap<Key, TruthRow> = BTreeMap::new();
    for (org, repo, left) in counted_repos(world, o) {
        // Events after a repository left were never seen under its old name.
        let until = left.map_or(until, |l| l.min(until));
        let mut add =
            |user: Option<String>, at: DateTime<Utc>, field: fn(&mut TruthRow) -> &mut u64| {
                let Some(user) = user else { return };
                if at < observed || at >= until {
                    return;
                }
                let row = rows
                    .entry((org.to_owned(), repo.name.clone(), user.clone()))
                    .or_insert_with(|| TruthRow {
                        org: org.to_owned(),
                        repo: repo.name.clone(),
                        user,
                        ..TruthRow::default()
                    });
                row.last_event_unixtime = row.last_event_unixtime.max(at.timestamp());
                if at >= since {
                    *field(row) += 1;
                }
            };
        for c in repo.commits.iter().filter(|c| c.parents < 2) {
            let user = match &c.author {
                Some(a) => o.label(a),
                None if o.drop_unattributed => None,
                None => Some(UNATTRIBUTED.to_owned()),
            };
            add(user, c.date, |r| &mut r.commits);
        }
        for p in &repo.pulls {
            add(o.label(&p.user), p.created_at, |r| &mut r.prs_opened);
            if let Some(m) = p.merged_at {
                add(o.label(&p.user), m, |r| &mut r.prs_merged);
            }
            for r in &p.reviews {
                let counted = SUBMITTED_STATES.contains(&r.state) && r.user.id != p.user.id;
                if counted {
                    add(o.label(&r.user), r.submitted_at, |r| &mut r.reviews);
                }
            }
        }
        for c in &repo.comments {
            add(o.label(&c.user), c.created_at, |r| &mut r.issue_comments);
        }
    }
    rows.into_values().collect()
}

type Key = (String, String, String);

/// The pull-request flow of one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowTruth {
    pub org: String,
    pub repo: String,
    /// Lead time of each counted merge in the span, in seconds.
    pub lead_time_seconds: Vec<u64>,
    /// Time to first review of each pull request whose first review is in
    /// the span, in seconds.
    pub first_review_seconds: Vec<u64>,
    pub open_ready: u64,
    pub open_draft: u64,
    /// Age of the oldest open pull request that is not a draft (0: none).
    pub oldest_open_age_seconds: u64,
}

/// The pull-request flow observed in `[observed_since, until)` (for a
/// repository that left, until it left), and the open pull requests at
/// `now`.
pub fn pull_flow(
    world: &World,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    o: &TruthOptions,
) -> Vec<FlowTruth> {
    let observed = o.observed_since.unwrap_or(until - Duration::hours(24));
    let mut out = Vec::new();
    for (org, repo, left) in counted_repos(world, o) {
        let end = left.map_or(until, |l| l.min(until));
        // GitHub gives times in whole seconds.
        let in_span = |at: DateTime<Utc>| {
            let at = at.timestamp();
            at >= observed.timestamp() && at < end.timestamp()
        };
        let mut row = FlowTruth {
            org: org.to_owned(),
            repo: repo.name.clone(),
            ..FlowTruth::default()
        };
        let mut oldest: Option<DateTime<Utc>> = None;
        for p in repo.pulls.iter().filter(|p| o.label(&p.user).is_some()) {
            let since_created =
                |at: DateTime<Utc>| (at.timestamp() - p.created_at.timestamp()).max(0) as u64;
            if let Some(m) = p.merged_at.filter(|m| in_span(*m)) {
                row.lead_time_seconds.push(since_created(m));
            }
            let first = p
                .reviews
                .iter()
                .filter(|r| {
                    SUBMITTED_STATES.contains(&r.state)
                        && r.user.id != p.user.id
                        && !r.user.bot
                        && o.label(&r.user).is_some()
                })
                .map(|r| r.submitted_at)
                .min();
            if let Some(f) = first.filter(|f| in_span(*f)) {
                row.first_review_seconds.push(since_created(f));
            }
            if left.is_none() && p.closed_at.is_none() && p.created_at <= now {
                if p.draft {
                    row.open_draft += 1;
                } else {
                    row.open_ready += 1;
                    oldest = Some(oldest.map_or(p.created_at, |t| t.min(p.created_at)));
                }
            }
        }
        row.oldest_open_age_seconds =
            oldest.map_or(0, |t| (now.timestamp() - t.timestamp()).max(0) as u64);
        row.lead_time_seconds.sort_unstable();
        row.first_review_seconds.sort_unstable();
        out.push(row);
    }
    out
}

/// LOC of the last complete week before `now`, per selected repository and
/// linked author, as GitHub's contributor stats report it: none for a
/// repository whose stats never finish computing, none for one that left
/// (its LOC series go when it leaves).
pub fn loc(world: &World, now: DateTime<Utc>, o: &TruthOptions) -> Vec<LocTruth> {
    let week = (week_start(now) - Duration::weeks(1)).timestamp();
    let mut out = Vec::new();
    for org in world.orgs.iter().filter(|org| o.org(&org.login)) {
        for repo in org.repos.iter().filter(|r| o.selects(r)) {
            if repo.stats == StatsBehaviour::AlwaysWarming {
                continue;
            }
            let zeroed = repo.stats == StatsBehaviour::Zeroed;
            for (user, weeks) in weekly(repo).into_values() {
                let Some(label) = o.label(&user) else {
                    continue;
                };
                if let Some((a, d, _)) = weeks.get(&week) {
                    out.push(LocTruth {
                        org: org.login.clone(),
                        repo: repo.name.clone(),
                        user: label,
                        week_start_unixtime: week,
                        additions: if zeroed { 0 } else { *a },
                        deletions: if zeroed { 0 } else { *d },
                    });
                }
            }
        }
    }
    out
}
