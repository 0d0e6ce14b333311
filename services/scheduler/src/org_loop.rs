//! One org's controller: a scrape cycle on every tick of the org's own
//! interval (a slow cycle skips the next tick, never overlaps it), gated by
//! the GitHub cooldown; while cooling down, the missed windows go to the
//! backfill with reason `github_unhealthy` instead of being scraped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use std::time::Duration;
use tokio::sync::Notify;

use chrono::{DateTime, Utc};
use ghstats_backfill::{BackfillProducer, BackfillRequest};
use ghstats_core::health::{ComponentStatus, HealthRegistry};
use ghstats_core::{Cadence, Resumed, Shutdown};
use ghstats_proto::{BackfillReason, TimeWindow};
use ghstats_scrape::copilot::{DOWNLOAD_COMPONENT, ScopeRun};
use ghstats_scrape::loc::LocMode;
use ghstats_scrape::{CycleError, CycleResult, OrgScraper};
use ghstats_store::{Family, SeriesKey, Store, StoreError, WriteCtx};

use crate::cooldown::{Cooldown, GithubState};

/// What one tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickOutcome {
    Scraped(CycleResult),
    SkippedUnhealthy,
    /// The store refused the leader's term: leadership is gone.
    Fenced,
    StoreFailed,
}

#[derive(Debug)]
pub struct OrgController {
    scraper: OrgScraper,
    store: Arc<dyn Store>,
    backfill: Arc<dyn BackfillProducer>,
    interval: Duration,
    cooldown: Mutex<Cooldown>,
    last_tick: Mutex<Option<DateTime<Utc>>>,
    /// Repositories whose LOC stats were stale in the last cycle.
    stale_loc: Mutex<Vec<String>>,
    /// Repositories that failed in the last cycle, with the first error.
    failing_repos: Mutex<Vec<(String, String)>>,
    /// Scheduled ticks are skipped while paused (an operator's choice).
    paused: AtomicBool,
    /// Runs a cycle now (an operator's trigger).
    trigger: Notify,
    last_result: Mutex<Option<(DateTime<Utc>, &'static str)>>,
    /// The Copilot reports of the last cycle.
    copilot_runs: Mutex<Vec<ScopeRun>>,
}

impl OrgController {
    pub fn new(
        scraper: OrgScraper,
        store: Arc<dyn Store>,
        backfill: Arc<dyn BackfillProducer>,
        interval: Duration,
        cooldown: Cooldown,
    ) -> Self {
        Self {
            scraper,
            store,
            backfill,
            interval,
            cooldown: Mutex::new(cooldown),
            last_tick: Mutex::new(None),
            stale_loc: Mutex::new(Vec::new()),
            failing_repos: Mutex::new(Vec::new()),
            paused: AtomicBool::new(false),
            trigger: Notify::new(),
            last_result: Mutex::new(None),
            copilot_runs: Mutex::new(Vec::new()),
        }
    }

    pub fn org(&self) -> &str {
        self.scraper.org()
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Asks the running controller for a cycle now.
    pub fn trigger(&self) {
        self.trigger.notify_one();
    }

    /// When the last tick ran and its result label.
    pub fn last_result(&self) -> Option<(DateTime<Utc>, &'static str)> {
        *self.last_result.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn client(&self) -> &ghstats_github::GithubClient {
        self.scraper.client()
    }

    /// The repositories that failed in the last cycle, with their first error.
    pub fn failing_repos(&self) -> Vec<(String, String)> {
        self.failing_repos
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn github_state(&self) -> GithubState {
        self.cooldown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state()
    }

    /// While GitHub cools down, asks it a free question (`GET /rate_limit`);
    /// `github_recover_success_threshold` answers in a row end the cooldown
    /// and start a cycle at once.
    pub async fn probe(&self, now: DateTime<Utc>) {
        if !self
            .cooldown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_cooling_down()
        {
            return;
        }
        let answered = self.client().rate_limit().await;
        let ended = {
            let mut cooldown = self.cooldown.lock().unwrap_or_else(|p| p.into_inner());
            match &answered {
                Ok(_) => cooldown.probe_succeeded(),
                Err(e) => {
                    tracing::debug!(org = %self.org(), error = %e, "github probe failed");
                    cooldown.probe_failed();
                    false
                }
            }
        };
        if ended {
            tracing::info!(org = %self.org(), "github answers again: the cooldown ends early");
            // Workers hold the org's jobs back no longer.
            if let Err(e) =
                ghstats_scrape::org_state::end_cooldown(&*self.store, self.org(), now).await
            {
                tracing::warn!(org = %self.org(), error = %e, "cannot share the end of the cooldown");
            }
            self.trigger();
        }
    }

    /// One scheduled step at `now`; while GitHub cools down, its end is
    /// shared through the store so that workers hold the org's jobs back.
    pub async fn tick(&self, ctx: WriteCtx, now: DateTime<Utc>) -> TickOutcome {
        let outcome = self.step(ctx, now).await;
        if let GithubState::CoolingDown(until) = self.github_state()
            && let Err(e) =
                ghstats_scrape::org_state::share_cooldown(&*self.store, self.org(), until, now)
                    .await
        {
            tracing::warn!(org = %self.org(), error = %e, "cannot share the cooldown");
        }
        outcome
    }

    async fn step(&self, ctx: WriteCtx, now: DateTime<Utc>) -> TickOutcome {
        let previous = self
            .last_tick
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(now);
        let may = self
            .cooldown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .may_scrape(now);
        if !may {
            return self.skip_unhealthy(ctx, previous, now).await;
        }
        let outcome = self.scraper.run_cycle(ctx, now).await;
        let mut cooldown = self.cooldown.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(report) => {
                *self.stale_loc.lock().unwrap_or_else(|p| p.into_inner()) = report
                    .loc_modes
                    .iter()
                    .filter(|(_, m)| *m == LocMode::Stale)
                    .map(|(r, _)| r.clone())
                    .collect();
                *self.copilot_runs.lock().unwrap_or_else(|p| p.into_inner()) =
                    report.copilot.clone();
                let failing = failing_repos(&report);
                let mostly_failed = report.result == CycleResult::Failure
                    || github_unhealthy(failing.len(), report.repos);
                *self.failing_repos.lock().unwrap_or_else(|p| p.into_inner()) = failing;
                if mostly_failed {
                    cooldown.failed(now)
                } else {
                    cooldown.succeeded()
                }
                if let GithubState::CoolingDown(until) = cooldown.state() {
                    tracing::warn!(org = %self.org(), until = %until, "github unhealthy: pausing scheduled scrapes");
                }
                TickOutcome::Scraped(report.result)
            }
            Err(CycleError::Github(e)) => {
                tracing::warn!(org = %self.org(), error = %e, "scrape cycle failed");
                cooldown.failed(now);
                TickOutcome::Scraped(CycleResult::Failure)
            }
            Err(CycleError::Store(StoreError::Fenced { term, current })) => {
                tracing::warn!(org = %self.org(), term, current, "store refused a stale term: stopping");
                TickOutcome::Fenced
            }
            Err(CycleError::Store(e)) => {
                tracing::error!(org = %self.org(), error = %e, "store failed during the cycle");
                TickOutcome::StoreFailed
            }
        }
    }

    async fn skip_unhealthy(
        &self,
        ctx: WriteCtx,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> TickOutcome {
        let org = self.org();
        let from =
            previous.unwrap_or(now - chrono::Duration::from_std(self.interval).unwrap_or_default());
        let request = BackfillRequest {
            org: org.to_owned(),
            repo: "*".into(),
            window: TimeWindow::ordered(from, now),
            reason: BackfillReason::GithubUnhealthy,
        };
        if let Err(e) = self.backfill.request(ctx, request).await {
            tracing::error!(org, error = %e, "cannot request a backfill");
        }
        let runs = [(
            SeriesKey::new(Family::ScrapeRuns, [org, "skipped_unhealthy"]),
            1,
        )];
        match self.store.add_counters(ctx, &runs, now).await {
            Err(StoreError::Fenced { .. }) => TickOutcome::Fenced,
            _ => TickOutcome::SkippedUnhealthy,
        }
    }

    /// Ticks every interval until the shutdown or a fenced write.
    pub async fn run(
        self: Arc<Self>,
        ctx: WriteCtx,
        health: HealthRegistry,
        shutdown: Shutdown,
    ) -> Result<(), Fenced> {
        let mut cadence = Cadence::starting_now(self.interval);
        loop {
            let triggered = match cadence.next(&shutdown, Some(&self.trigger)).await {
                Resumed::ShutDown => return Ok(()),
                resumed => resumed == Resumed::Woken,
            };
            if self.is_paused() && !triggered {
                continue;
            }
            let now = Utc::now();
            let Some(outcome) = shutdown.unless_triggered(self.tick(ctx, now)).await else {
                return Ok(());
            };
            let label = match outcome {
                TickOutcome::Scraped(r) => r.as_str(),
                TickOutcome::SkippedUnhealthy => "skipped_unhealthy",
                TickOutcome::Fenced => "fenced",
                TickOutcome::StoreFailed => "store_failed",
            };
            *self.last_result.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, label));
            let failing = self.failing_repos();
            let github = match self.github_state() {
                GithubState::Healthy if failing.is_empty() => {
                    (ComponentStatus::Healthy, String::new())
                }
                GithubState::Healthy => (
                    ComponentStatus::Degraded,
                    format!(
                        "repositories failing (their windows go to the backfill): {}",
                        failing
                            .iter()
                            .map(|(repo, error)| format!("{repo}: {error}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                ),
                GithubState::Recovering { successes } => (
                    ComponentStatus::Degraded,
                    format!("recovering ({successes} clean cycles)"),
                ),
                GithubState::CoolingDown(until) => (
                    ComponentStatus::Degraded,
                    format!("cooling down until {until}"),
                ),
            };
            health.set(&format!("github:{}", self.org()), github.0, github.1);
            let stale = self
                .stale_loc
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if stale.is_empty() {
                health.set_healthy(&format!("loc:{}", self.org()));
            } else {
                health.set(
                    &format!("loc:{}", self.org()),
                    ComponentStatus::Degraded,
                    format!("stale contributor stats: {}", stale.join(", ")),
                );
            }
            let runs =
                std::mem::take(&mut *self.copilot_runs.lock().unwrap_or_else(|p| p.into_inner()));
            report_copilot_health(&health, &runs);
            if outcome == TickOutcome::Fenced {
                return Err(Fenced {
                    org: self.org().to_owned(),
                });
            }
        }
    }
}

/// Why an org loop stopped before the shutdown: the store refused the
/// leader's term (another replica leads now).
#[derive(Debug, thiserror::Error)]
#[error("org {org}: leader term fenced by the store")]
pub struct Fenced {
    pub org: String,
}

/// The repositories that failed in a cycle, each with its first error.
fn failing_repos(report: &ghstats_scrape::CycleReport) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (repo, failure) in &report.failures {
        if !out.iter().any(|(r, _)| r == repo) {
            out.push((repo.clone(), failure.error.to_string()));
        }
    }
    out
}

/// GitHub itself is unhealthy for the org when most of its repositories
/// fail at once; one repository's (or a few's) failures never pause the
/// org: they go to the backfill and show in its health.
pub fn github_unhealthy(failing: usize, repos: usize) -> bool {
    failing >= 2 && failing * 2 > repos
}

/// Copilot health components from a cycle's report runs: each scope's link
/// endpoint and the download path are degraded (never readiness-breaking)
/// while their last attempt failed; a skipped run leaves them as they were.
fn report_copilot_health(health: &HealthRegistry, runs: &[ScopeRun]) {
    let status = |ok: bool, run: &ScopeRun| {
        if ok {
            (ComponentStatus::Healthy, String::new())
        } else {
            let why = run
                .error
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            (ComponentStatus::Degraded, format!("{}: {why}", run.owner))
        }
    };
    let mut download: Option<(ComponentStatus, String)> = None;
    for run in runs {
        if let Some(ok) = run.link_ok() {
            let (s, why) = status(ok, run);
            health.set(run.scope.component(), s, why);
        }
        if let Some(ok) = run.download_ok()
            && download
                .as_ref()
                .is_none_or(|(s, _)| *s == ComponentStatus::Healthy)
        {
            download = Some(status(ok, run));
        }
    }
    if let Some((s, why)) = download {
        health.set(DOWNLOAD_COMPONENT, s, why);
    }
}

#[cfg(test)]
mod tests {
    use super::github_unhealthy;

    #[test]
    fn only_most_repositories_failing_make_github_unhealthy() {
        assert!(
            !github_unhealthy(1, 1),
            "one repository never pauses the org"
        );
        assert!(!github_unhealthy(1, 2));
        assert!(github_unhealthy(2, 2));
        assert!(!github_unhealthy(2, 4), "half is not most");
        assert!(github_unhealthy(3, 4));
        assert!(!github_unhealthy(0, 0));
    }
}
