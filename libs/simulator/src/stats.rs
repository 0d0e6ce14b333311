//! `/stats/contributors` computed from the world's commits: per author, one
//! entry per week (weeks start on Sunday, 00:00 UTC) with additions,
//! deletions and commits.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde_json::{Value, json};

use crate::shapes::{self, Links};
use crate::world::{Repo, StatsBehaviour, User};

/// Start of the week (Sunday 00:00 UTC) that contains `t`.
pub fn week_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let days_since_sunday = i64::from(t.weekday().num_days_from_sunday());
    let day = t.date_naive() - Duration::days(days_since_sunday);
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// Week start (Unix seconds) -> (additions, deletions, commits).
pub type Weeks = BTreeMap<i64, (u64, u64, u64)>;

/// Per linked author (by id): the author and their weeks.
pub fn weekly(repo: &Repo) -> BTreeMap<u64, (User, Weeks)> {
    let mut out: BTreeMap<u64, (User, Weeks)> = BTreeMap::new();
    for c in &repo.commits {
        let Some(author) = &c.author else { continue };
        let entry = out
            .entry(author.id)
            .or_insert_with(|| (author.clone(), BTreeMap::new()));
        let week = entry.1.entry(week_start(c.date).timestamp()).or_default();
        week.0 += c.additions;
        week.1 += c.deletions;
        week.2 += 1;
    }
    out
}

/// The 200 body of `/stats/contributors` as of `now`.
pub fn contributors(l: &Links, repo: &Repo, now: DateTime<Utc>) -> Value {
    let zeroed = repo.stats == StatsBehaviour::Zeroed;
    // The week of the oldest author date (the listing is in committer order).
    let Some(first) = repo.commits.iter().map(|c| week_start(c.date)).min() else {
        return json!([]);
    };
    let last = week_start(now);
    let mut items: Vec<(u64, Value)> = weekly(repo)
        .into_values()
        .map(|(user, weeks)| {
            let mut total = 0;
            let mut list = Vec::new();
            let mut w = first;
            while w <= last {
                let (a, d, c) = weeks.get(&w.timestamp()).copied().unwrap_or_default();
                total += c;
                let (a, d) = if zeroed { (0, 0) } else { (a, d) };
                list.push(json!({ "w": w.timestamp(), "a": a, "d": d, "c": c }));
                w += Duration::weeks(1);
            }
            (
                total,
                json!({ "author": shapes::user(l, &user), "total": total, "weeks": list }),
            )
        })
        .collect();
    items.sort_by_key(|(total, _)| *total);
    Value::Array(items.into_iter().map(|(_, v)| v).collect())
}
