//! Weekly lines of code per user and repository, with GitHub's quirks:
//! `/stats/contributors` answers 202 while it computes (the repo is
//! `warming`, rechecked next cycle, never a backfill), stays `stale` when it
//! keeps computing past twice the refresh interval (last values kept), and
//! reports zero lines for very large repositories. After
//! `large_repo_zero_detection_windows` such answers the repository switches
//! to sampling commit details for `large_repo_cooldown`, within a per-org
//! hourly token bucket that never eats the baseline budget; a cut-short
//! sample is flagged incomplete. The state lives in the store, so a new
//! leader continues where the old one stopped.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use ghstats_config::LocConfig;
use ghstats_github::models::{ContributorStats, StatsAnswer};
use ghstats_github::{Conditional, GithubClient, GithubError, Pending};
use ghstats_proto::{BackfillReason, TimeWindow};
use ghstats_store::{BlobKind, Family, SeriesKey, Store, StoreError, UserLoc, WriteCtx, json_blob};
use serde::{Deserialize, Serialize};

use crate::activity::Failure;
use crate::attribution::{Attribution, Person, person};
use crate::window::week_start;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocMode {
    #[default]
    Unknown,
    Warming,
    Ready,
    Stale,
    Fallback,
}

impl LocMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LocMode::Unknown => "unknown",
            LocMode::Warming => "warming",
            LocMode::Ready => "ready",
            LocMode::Stale => "stale",
            LocMode::Fallback => "fallback",
        }
    }
}

/// A repository whose stats GitHub is still computing is asked again after
/// this long, doubling per 202 up to [`WARMING_RECHECK_MAX`] (and never
/// beyond the refresh interval): GitHub usually has them within a minute.
pub const WARMING_RECHECK_FIRST: std::time::Duration = std::time::Duration::from_secs(30);
pub const WARMING_RECHECK_MAX: std::time::Duration = std::time::Duration::from_secs(600);

/// What is remembered per repository between cycles (and leaders). Stored
/// as JSON without the fields at their defaults (under 100 bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocState {
    pub mode: LocMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fetch: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ready: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "is_zero")]
    pub zero_streak: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    /// 202 answers in a row (the warming recheck backs off with them).
    #[serde(skip_serializing_if = "is_zero")]
    pub computing_streak: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl LocState {
    /// How long after a 202 the stats are asked again.
    pub fn warming_recheck(&self, interval: Duration) -> Duration {
        let first = Duration::from_std(WARMING_RECHECK_FIRST).unwrap_or_default();
        let max = Duration::from_std(WARMING_RECHECK_MAX).unwrap_or_default();
        let doubled = first * 2_i32.saturating_pow(self.computing_streak.saturating_sub(1).min(10));
        doubled.min(max).min(interval)
    }
}

/// The per-org token bucket of commit-detail calls.
#[derive(Debug)]
pub struct FallbackBudget {
    per_hour: f64,
    state: Mutex<(f64, Instant)>,
}

impl FallbackBudget {
    pub fn new(per_hour: u32) -> Self {
        Self {
            per_hour: f64::from(per_hour),
            state: Mutex::new((f64::from(per_hour), Instant::now())),
        }
    }

    /// Takes one call's worth, if there is one.
    pub fn take(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(s.1).as_secs_f64() * self.per_hour / 3600.0;
        s.0 = (s.0 + refill).min(self.per_hour);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What one LOC step did.
#[derive(Debug, Clone, Default)]
pub struct LocOutcome {
    pub mode: LocMode,
    pub failure: Option<Failure>,
    pub budget_exhausted: bool,
}

/// Everything a LOC step needs.
#[derive(Debug)]
pub struct LocContext<'a> {
    pub client: &'a GithubClient,
    pub store: &'a dyn Store,
    pub ctx: WriteCtx,
    pub attribution: &'a Attribution,
    pub config: &'a LocConfig,
    pub budget: &'a FallbackBudget,
}

fn state_key(org: &str, repo: &str) -> String {
    format!("{org}/{repo}")
}

async fn load(store: &dyn Store, org: &str, repo: &str) -> Result<LocState, StoreError> {
    Ok(
        json_blob::get_json(store, BlobKind::LocState, &state_key(org, repo))
            .await?
            .unwrap_or_default(),
    )
}

async fn save(
    store: &dyn Store,
    org: &str,
    repo: &str,
    state: &LocState,
    retention: std::time::Duration,
) -> Result<(), StoreError> {
    json_blob::put_json(
        store,
        BlobKind::LocState,
        &state_key(org, repo),
        state,
        retention,
    )
    .await
}

/// One LOC step for `repo` at `now`.
pub async fn refresh(
    lc: &LocContext<'_>,
    repo: &str,
    now: DateTime<Utc>,
) -> Result<LocOutcome, StoreError> {
    let org = lc.client.org();
    let mut state = load(lc.store, org, repo).await?;
    let interval =
        Duration::from_std(lc.config.refresh_interval.get()).unwrap_or(Duration::hours(24));
    // Fresh while the interval lasts and the week is the same: after
    // Sunday 00:00 UTC the newly completed week is read at once.
    let fresh = state
        .last_fetch
        .is_some_and(|t| now - t < interval && week_start(t) == week_start(now));
    let mut outcome = LocOutcome {
        mode: state.mode,
        ..LocOutcome::default()
    };
    let in_fallback =
        state.mode == LocMode::Fallback && state.fallback_until.is_some_and(|u| now < u);
    let recheck = state.warming_recheck(interval);
    let rechecked_lately = state.last_fetch.is_some_and(|t| now - t < recheck);
    if (fresh && matches!(state.mode, LocMode::Ready | LocMode::Fallback))
        || (rechecked_lately && matches!(state.mode, LocMode::Warming | LocMode::Stale))
    {
        return Ok(outcome);
    }
    if in_fallback && lc.config.fallback_enabled {
        outcome.budget_exhausted = sample(lc, repo, now, &mut state).await?;
    } else {
        let (answer, pending) = match contributor_stats(lc, repo, now).await {
            Ok((answer, pending)) => (Ok(answer), pending),
            Err(e) => (Err(e), None),
        };
        let keep = match (&answer, pending) {
            (Ok(answer), Some(pending)) => match serde_json::to_vec(answer) {
                Ok(memo) => Some(pending.with_memo(memo)),
                Err(e) => {
                    tracing::warn!(org, repo, error = %e, "cannot encode the stats digest");
                    None
                }
            },
            _ => None,
        };
        match answer {
            Ok(Stats::Computing) => {
                // Rechecks of one computation back off; a 202 long after
                // the last one is a new computation (new pushes).
                let same_computation = matches!(state.mode, LocMode::Warming | LocMode::Stale)
                    && state
                        .last_fetch
                        .is_some_and(|t| now - t <= state.warming_recheck(interval) * 2);
                state.computing_streak = if same_computation {
                    state.computing_streak.saturating_add(1)
                } else {
                    1
                };
                let stale = state.last_ready.is_some_and(|r| now - r > interval * 2);
                state.mode = if stale {
                    LocMode::Stale
                } else {
                    LocMode::Warming
                };
            }
            Ok(Stats::Empty) => {
                state.computing_streak = 0;
                lc.store.replace_loc(lc.ctx, org, repo, &[], now).await?;
                state.mode = LocMode::Ready;
                state.last_ready = Some(now);
                state.zero_streak = 0;
            }
            Ok(Stats::Ready(StatsDigest {
                commits,
                lines,
                recent: stats,
            })) => {
                state.computing_streak = 0;
                if commits > 0 && lines == 0 {
                    state.zero_streak += 1;
                    if state.zero_streak >= lc.config.large_repo_zero_detection_windows
                        && lc.config.fallback_enabled
                    {
                        let cooldown = Duration::from_std(lc.config.large_repo_cooldown.get())
                            .unwrap_or(Duration::days(7));
                        state.fallback_until = Some(now + cooldown);
                        tracing::info!(
                            org,
                            repo,
                            "contributor stats report zero lines: sampling commit details"
                        );
                        outcome.budget_exhausted = sample(lc, repo, now, &mut state).await?;
                    }
                } else {
                    let week = (week_start(now) - Duration::weeks(1)).timestamp();
                    let mut loc: Vec<UserLoc> = Vec::new();
                    for s in &stats {
                        let Some(user) = lc.attribution.label(&s.person()) else {
                            continue;
                        };
                        if let Some((_, a, d)) = s.weeks.iter().find(|(w, ..)| *w == week) {
                            merge(&mut loc, user, *a, *d);
                        }
                    }
                    lc.store.replace_loc(lc.ctx, org, repo, &loc, now).await?;
                    state.mode = LocMode::Ready;
                    state.last_ready = Some(now);
                    state.zero_streak = 0;
                    state.incomplete = false;
                }
            }
            Err(e) => {
                outcome.failure = Some(Failure {
                    reason: BackfillReason::ContributorStatsFailed,
                    error: e,
                })
            }
        }
        // Kept once the LOC derived from it is stored.
        if let Some(keep) = keep {
            lc.client.keep(keep).await;
        }
    }
    if outcome.failure.is_none() {
        state.last_fetch = Some(now);
    }
    outcome.mode = state.mode;
    write_quality(lc, repo, &state, now).await?;
    save(
        lc.store,
        org,
        repo,
        &state,
        lc.config
            .large_repo_cooldown
            .get()
            .max(interval.to_std().unwrap_or_default() * 4),
    )
    .await?;
    Ok(outcome)
}

/// A `/stats/contributors` answer as LOC uses it, and the memo kept with
/// its validator: a 304 derives the weekly LOC from it as from the body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stats {
    Computing,
    Empty,
    Ready(StatsDigest),
}

/// What LOC reads of ready stats.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StatsDigest {
    /// Commits and lines over every week (the zero-lines detection of very
    /// large repositories).
    commits: u64,
    lines: u64,
    /// Each contributor GitHub linked to an account, with the weeks from
    /// the last complete one at the time of the answer on: while the
    /// answer stays the same, a later target week is one of them, or has
    /// no entry in the body either.
    recent: Vec<Recent>,
}

/// A contributor in a [`StatsDigest`] (about 60 bytes and 25 per week).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recent {
    /// Login, account id, whether GitHub says it is a bot.
    #[serde(rename = "p")]
    who: (String, Option<u64>, bool),
    /// Week start (Unix seconds), lines added, lines deleted.
    #[serde(rename = "w")]
    weeks: Vec<(i64, u64, u64)>,
}

impl Recent {
    fn of(stats: ContributorStats, from: i64) -> Option<Self> {
        let p = person(stats.author.as_ref())?;
        Some(Self {
            who: (p.login, p.id, p.bot),
            weeks: stats
                .weeks
                .iter()
                .filter(|w| w.w >= from)
                .map(|w| (w.w, w.a, w.d))
                .collect(),
        })
    }

    fn person(&self) -> Person {
        Person {
            login: self.who.0.clone(),
            id: self.who.1,
            bot: self.who.2,
        }
    }
}

impl Stats {
    fn of(answer: StatsAnswer, now: DateTime<Utc>) -> Self {
        match answer {
            StatsAnswer::Computing => Stats::Computing,
            StatsAnswer::Empty => Stats::Empty,
            StatsAnswer::Ready(stats) => {
                let from = (week_start(now) - Duration::weeks(1)).timestamp();
                Stats::Ready(StatsDigest {
                    commits: stats.iter().map(|s| s.total).sum(),
                    lines: stats.iter().flat_map(|s| &s.weeks).map(|w| w.a + w.d).sum(),
                    recent: stats
                        .into_iter()
                        .filter_map(|s| Recent::of(s, from))
                        .collect(),
                })
            }
        }
    }
}

/// The stats of `repo`: a 304 is read from the digest kept with its
/// validator (the client asks whole when that cannot be read).
async fn contributor_stats(
    lc: &LocContext<'_>,
    repo: &str,
    now: DateTime<Utc>,
) -> Result<(Stats, Option<Pending>), GithubError> {
    let read = |memo: &[u8]| serde_json::from_slice::<Stats>(memo).ok();
    Ok(match lc.client.contributor_stats(repo, read).await? {
        Conditional::Fresh { value, pending } => (Stats::of(value, now), pending),
        Conditional::Unchanged(stats) => (stats, None),
    })
}

fn merge(loc: &mut Vec<UserLoc>, user: String, added: u64, removed: u64) {
    match loc.iter_mut().find(|l| l.user == user) {
        Some(l) => {
            l.added += added;
            l.removed += removed;
        }
        None => loc.push(UserLoc {
            user,
            added,
            removed,
        }),
    }
}

/// Samples commit details of the last complete week; returns whether the
/// org's budget ran out.
async fn sample(
    lc: &LocContext<'_>,
    repo: &str,
    now: DateTime<Utc>,
    state: &mut LocState,
) -> Result<bool, StoreError> {
    let org = lc.client.org();
    let start = week_start(now) - Duration::weeks(1);
    let Ok(week) = TimeWindow::new(start, start + Duration::weeks(1)) else {
        return Ok(false);
    };
    state.mode = LocMode::Fallback;
    let commits = match lc.client.list_commits(repo, week.start(), week.end()).await {
        Ok(l) => l.items,
        Err(e) => {
            tracing::warn!(org, repo, error = %e, "fallback commit listing failed");
            return Ok(false);
        }
    };
    let cap = lc.config.fallback_max_commits_per_repo_per_week as usize;
    let mut loc = Vec::new();
    let mut complete = commits.len() <= cap;
    let mut exhausted = false;
    for commit in commits.iter().take(cap) {
        if !baseline_safe(lc.client) || !lc.budget.take() {
            exhausted = true;
            complete = false;
            break;
        }
        match lc.client.commit_detail(repo, &commit.sha).await {
            Ok(detail) => {
                let user = person(detail.author.as_ref()).and_then(|p| lc.attribution.label(&p));
                if let (Some(user), Some(stats)) = (user, detail.stats) {
                    merge(&mut loc, user, stats.additions, stats.deletions);
                }
            }
            Err(e) if e.is_transient() => {
                complete = false;
                break;
            }
            Err(GithubError::NotFound { .. } | GithubError::Refused { .. }) => {}
            Err(_) => {
                complete = false;
                break;
            }
        }
    }
    lc.store.replace_loc(lc.ctx, org, repo, &loc, now).await?;
    state.incomplete = !complete;
    if exhausted {
        lc.store
            .add_counters(
                lc.ctx,
                &[(SeriesKey::new(Family::LocFallbackBudgetExhausted, [org]), 1)],
                now,
            )
            .await?;
    }
    Ok(exhausted)
}

/// Fallback calls never take the installation below half its budget.
fn baseline_safe(client: &GithubClient) -> bool {
    client.budget().is_none_or(|b| b.remaining > b.limit / 2)
}

async fn write_quality(
    lc: &LocContext<'_>,
    repo: &str,
    state: &LocState,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let org = lc.client.org();
    let sampled = state.mode == LocMode::Fallback;
    let gauges = [
        (
            SeriesKey::new(Family::LocSourceMode, [org, repo, "stats_contributors"]),
            if sampled { 0.0 } else { 1.0 },
        ),
        (
            SeriesKey::new(Family::LocSourceMode, [org, repo, "sampled_commit_stats"]),
            if sampled { 1.0 } else { 0.0 },
        ),
        (
            SeriesKey::new(Family::LocFallbackIncomplete, [org, repo]),
            if sampled && state.incomplete {
                1.0
            } else {
                0.0
            },
        ),
    ];
    lc.store.set_gauges(lc.ctx, &gauges, now).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warming_rechecks_back_off_from_half_a_minute() {
        let day = Duration::hours(24);
        let after = |streak| {
            LocState {
                computing_streak: streak,
                ..LocState::default()
            }
            .warming_recheck(day)
            .num_seconds()
        };
        assert_eq!(
            [after(1), after(2), after(3), after(5), after(9)],
            [30, 60, 120, 480, 600]
        );
        let short = LocState {
            computing_streak: 9,
            ..LocState::default()
        };
        assert_eq!(
            short.warming_recheck(Duration::minutes(5)).num_seconds(),
            300
        );
    }
}
