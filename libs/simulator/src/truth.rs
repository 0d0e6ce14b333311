//! The ground truth: what an exporter should report for a window, computed
//! from the world directly, so tests compare against an answer that shares
//! no code with the exporter.
//!
//! Attribution: commits go to the linked author account, else to the login
//! in a `users.noreply.github.com` address; other commits cannot be
//! attributed and are counted per repository under the empty user `""`. PRs opened and merged go to
//! the PR author (at `created_at` and `merged_at`), reviews to the reviewer
//! at `submitted_at`, issue comments to the commenter at `created_at`.
//! Windows are half-open: `[since, until)`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::stats::{week_start, weekly};
use crate::world::{Commit, World};

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

/// The login a commit is attributed to, if any.
pub fn commit_login(c: &Commit) -> Option<String> {
    if let Some(a) = &c.author {
        return Some(a.login.clone());
    }
    let local = c.author_email.strip_suffix("@users.noreply.github.com")?;
    Some(
        local
            .split_once('+')
            .map_or(local, |(_, login)| login)
            .to_owned(),
    )
}

pub fn activity(
    world: &World,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    org_filter: Option<&str>,
) -> Vec<TruthRow> {
    let within = |t: DateTime<Utc>| t >= since && t < until;
    let mut rows: BTreeMap<Key, TruthRow> = BTreeMap::new();
    for org in world
        .orgs
        .iter()
        .filter(|o| org_filter.is_none_or(|f| f.eq_ignore_ascii_case(&o.login)))
    {
        for repo in &org.repos {
            let key = |user: &str| (org.login.clone(), repo.name.clone(), user.to_owned());
            for c in repo.commits.iter().filter(|c| within(c.date)) {
                let login = commit_login(c).unwrap_or_default();
                bump(&mut rows, key(&login), c.date).commits += 1;
            }
            for p in &repo.pulls {
                if within(p.created_at) {
                    bump(&mut rows, key(&p.user.login), p.created_at).prs_opened += 1;
                }
                if let Some(m) = p.merged_at.filter(|m| within(*m)) {
                    bump(&mut rows, key(&p.user.login), m).prs_merged += 1;
                }
                for r in p.reviews.iter().filter(|r| within(r.submitted_at)) {
                    bump(&mut rows, key(&r.user.login), r.submitted_at).reviews += 1;
                }
            }
            for c in repo.comments.iter().filter(|c| within(c.created_at)) {
                bump(&mut rows, key(&c.user.login), c.created_at).issue_comments += 1;
            }
        }
    }
    rows.into_values().collect()
}

type Key = (String, String, String);

/// The row of `key`, with `t` folded into its last event.
fn bump(rows: &mut BTreeMap<Key, TruthRow>, key: Key, t: DateTime<Utc>) -> &mut TruthRow {
    let row = rows
        .entry(key)
        .or_insert_with_key(|(org, repo, user)| TruthRow {
            org: org.clone(),
            repo: repo.clone(),
            user: user.clone(),
            ..TruthRow::default()
        });
    row.last_event_unixtime = row.last_event_unixtime.max(t.timestamp());
    row
}

/// LOC of the last complete week before `now`, per repository and author,
/// from repositories whose stats are not zeroed.
pub fn loc(world: &World, now: DateTime<Utc>) -> Vec<LocTruth> {
    let week = (week_start(now) - Duration::weeks(1)).timestamp();
    let mut out = Vec::new();
    for org in &world.orgs {
        for repo in &org.repos {
            for (user, weeks) in weekly(repo).into_values() {
                if let Some((a, d, _)) = weeks.get(&week) {
                    out.push(LocTruth {
                        org: org.login.clone(),
                        repo: repo.name.clone(),
                        user: user.login,
                        week_start_unixtime: week,
                        additions: *a,
                        deletions: *d,
                    });
                }
            }
        }
    }
    out
}
