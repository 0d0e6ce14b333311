//! One scrape cycle of one org: list and select repositories, scrape each
//! (activity and LOC) with bounded concurrency, write the results, advance
//! checkpoints of repositories that fully succeeded, ask for backfills of
//! windows that failed transiently, and record the cycle's fleet signals.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use ghstats_backfill::{BackfillProducer, BackfillRequest};
use ghstats_config::{Config, OrgConfig};
use ghstats_github::{GithubClient, GithubError};
use ghstats_proto::{BackfillReason, TimeWindow};
use ghstats_store::{Family, FlowRules, SeriesKey, Store, StoreError, WriteCtx, WriteTally};

use crate::activity::{Failure, Fetch, scrape_activity};
use crate::attribution::Attribution;
use crate::copilot::{CopilotScraper, ScopeRun};
use crate::loc::{self, FallbackBudget, LocContext, LocMode};
use crate::record::Recorder;
use crate::usage::{UsageMeter, request_counters};
use crate::window;
use crate::{pulls, repos};

/// How far back of the checkpoint a scheduled window starts.
const OVERLAP: Duration = Duration::minutes(5);

/// How old a push must be before an unchanged `pushed_at` lets a cycle
/// skip the commit listing.
const PUSH_SETTLE: Duration = Duration::minutes(1);

/// The result label of `gh_exporter_scrape_runs_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleResult {
    Success,
    /// Some repositories failed; their windows went to the backfill.
    Partial,
    Failure,
}

impl CycleResult {
    pub fn as_str(self) -> &'static str {
        match self {
            CycleResult::Success => "success",
            CycleResult::Partial => "partial",
            CycleResult::Failure => "failure",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CycleReport {
    pub result: CycleResult,
    pub repos: usize,
    /// Repositories whose listings all came back 304.
    pub unchanged_repos: usize,
    pub events: usize,
    pub failures: Vec<(String, Failure)>,
    pub loc_modes: Vec<(String, LocMode)>,
    /// The Copilot reports of this cycle.
    pub copilot: Vec<ScopeRun>,
}

#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("listing the org's repositories failed: {0}")]
    Github(#[from] GithubError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Scrapes one org; cheap to share between its cycles.
#[derive(Debug)]
pub struct OrgScraper {
    client: GithubClient,
    store: Arc<dyn Store>,
    backfill: Arc<dyn BackfillProducer>,
    org: OrgConfig,
    config: Arc<Config>,
    attribution: Attribution,
    /// `pull_requests.*` when enabled.
    pull_flow: Option<FlowRules>,
    budget: FallbackBudget,
    usage: UsageMeter,
    writes: WriteTally,
    copilot: Option<Arc<CopilotScraper>>,
    /// The first configured org, whose cycle also reads the enterprise's reports.
    primary: bool,
}

/// A repository to scrape: name, `pushed_at` now and at the last listing.
type RepoWork = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

struct RepoOutcome {
    name: String,
    events: usize,
    unchanged: bool,
    pushed_at: Option<DateTime<Utc>>,
    commits_ok: bool,
    failures: Vec<Failure>,
    loc_mode: LocMode,
}

impl OrgScraper {
    pub fn new(
        client: GithubClient,
        store: Arc<dyn Store>,
        backfill: Arc<dyn BackfillProducer>,
        org: OrgConfig,
        config: Arc<Config>,
    ) -> Self {
        Self {
            attribution: Attribution::from_config(&config.github),
            pull_flow: config
                .pull_requests
                .enabled
                .then(|| FlowRules::from_config(&config.pull_requests)),
            budget: FallbackBudget::new(
                config.loc.fallback_max_commit_detail_calls_per_org_per_hour,
            ),
            client,
            store,
            backfill,
            org,
            config,
            usage: UsageMeter::default(),
            writes: WriteTally::default(),
            copilot: None,
            primary: false,
        }
    }

    /// Reads Copilot reports after the repositories of each cycle (the
    /// enterprise's too when `primary`).
    pub fn with_copilot(mut self, copilot: Option<Arc<CopilotScraper>>, primary: bool) -> Self {
        self.copilot = copilot;
        self.primary = primary;
        self
    }

    pub fn org(&self) -> &str {
        &self.org.org
    }

    pub fn client(&self) -> &GithubClient {
        &self.client
    }

    /// One cycle at `now`, writing as `ctx`.
    pub async fn run_cycle(
        &self,
        ctx: WriteCtx,
        now: DateTime<Utc>,
    ) -> Result<CycleReport, CycleError> {
        let started = Instant::now();
        let outcome = self.cycle(ctx, now).await;
        let result = match &outcome {
            Ok(r) => r.result,
            Err(_) => CycleResult::Failure,
        };
        if let Err(CycleError::Github(e)) = &outcome
            && e.is_transient()
        {
            let window = window::scheduled(None, now, OVERLAP);
            self.ask_backfill(ctx, "*", window, BackfillReason::ScrapeError)
                .await;
        }
        // A fenced leader must not record signals either.
        if !matches!(outcome, Err(CycleError::Store(StoreError::Fenced { .. }))) {
            self.record_signals(ctx, now, result, started.elapsed())
                .await?;
        }
        outcome
    }

    async fn cycle(&self, ctx: WriteCtx, now: DateTime<Utc>) -> Result<CycleReport, CycleError> {
        let org = self.org();
        let listed = self.client.list_org_repos().await?;
        let selected = repos::select(&self.org, listed.items);
        let marks = repos::load_marks(&*self.store, org).await?;
        let concurrency = self.org.per_org_concurrency.max(1) as usize;
        // (name, pushed_at now, pushed_at at the last listing)
        let work: Vec<RepoWork> = selected
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    r.pushed_at,
                    marks.get(&r.name).copied().flatten(),
                )
            })
            .collect();
        let outcomes: Vec<Result<RepoOutcome, StoreError>> = stream::iter(work)
            .map(|(name, pushed_at, mark)| async move {
                self.scrape_repo(ctx, &name, pushed_at, mark, now).await
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut report = CycleReport {
            result: CycleResult::Success,
            repos: selected.len(),
            unchanged_repos: 0,
            events: 0,
            failures: Vec::new(),
            loc_modes: Vec::new(),
            copilot: Vec::new(),
        };
        let mut new_marks = repos::PushMarks::new();
        for outcome in outcomes {
            let o = outcome?;
            report.events += o.events;
            report.unchanged_repos += usize::from(o.unchanged);
            report.loc_modes.push((o.name.clone(), o.loc_mode));
            // `pushed_at` has whole seconds and GitHub's clock is not ours:
            // a push in the same second as this listing would look
            // unchanged next time, so only settled pushes are marked (a
            // recent one is listed again; its first page answers 304).
            let settled = match (o.commits_ok, o.pushed_at) {
                (true, Some(p)) if p + PUSH_SETTLE < now => Some(p),
                _ => None,
            };
            new_marks.insert(o.name.clone(), settled);
            report
                .failures
                .extend(o.failures.into_iter().map(|f| (o.name.clone(), f)));
        }
        // Repositories that left the selection (deleted, renamed, archived,
        // newly denied): their LOC series go at once; their 24h gauges
        // fall as their events age out (the leader's aging pass).
        for gone in marks.keys().filter(|name| !new_marks.contains_key(*name)) {
            tracing::info!(org, repo = %gone, "repository left the selection");
            self.recorder(ctx).leave_selection(org, gone, now).await?;
        }
        if new_marks != marks {
            repos::save_marks(
                &*self.store,
                org,
                &new_marks,
                self.config.store.retention.get(),
            )
            .await?;
        }
        if !report.failures.is_empty() {
            report.result = CycleResult::Partial;
        }
        if let Some(copilot) = &self.copilot {
            report.copilot = copilot
                .run_scheduled(&self.client, self.primary, ctx, now)
                .await?;
        }
        tracing::info!(
            org,
            repos = report.repos,
            unchanged = report.unchanged_repos,
            events = report.events,
            failures = report.failures.len(),
            result = report.result.as_str(),
            "scrape cycle done"
        );
        Ok(report)
    }

    async fn scrape_repo(
        &self,
        ctx: WriteCtx,
        repo: &str,
        pushed_at: Option<DateTime<Utc>>,
        mark: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<RepoOutcome, StoreError> {
        let org = self.org();
        let checkpoint = self.store.checkpoint(org, repo).await?;
        let window = window::scheduled(checkpoint, now, OVERLAP);
        let skip_commits = checkpoint.is_some() && mark.is_some() && mark == pushed_at;
        let mut activity = scrape_activity(
            &self.client,
            &self.attribution,
            repo,
            window,
            Fetch::Newest,
            skip_commits,
        )
        .await;
        let open = match &self.pull_flow {
            Some(_) => {
                let open = pulls::open_pulls_now(&self.client, &self.attribution, org, repo).await;
                // Not read: the next cycle reads the repository again.
                activity.unchanged &= open.is_some();
                open
            }
            None => None,
        };
        self.recorder(ctx)
            .record(&self.client, org, repo, &mut activity, open, now)
            .await?;
        let lc = LocContext {
            client: &self.client,
            store: &*self.store,
            ctx,
            attribution: &self.attribution,
            config: &self.config.loc,
            budget: &self.budget,
        };
        let loc = loc::refresh(&lc, repo, now).await?;
        let mut failures = activity.failures;
        failures.extend(loc.failure);
        let commits_ok = !skip_commits
            && !failures
                .iter()
                .any(|f| f.reason == BackfillReason::ActivityCommitsFailed);
        let transient: Vec<&Failure> = failures.iter().filter(|f| f.error.is_transient()).collect();
        if transient.is_empty() {
            self.store.advance_checkpoint(ctx, org, repo, now).await?;
        }
        for f in transient {
            self.ask_backfill(ctx, repo, window, f.reason).await;
        }
        for f in failures.iter().filter(|f| !f.error.is_transient()) {
            tracing::warn!(org, repo, error = %f.error, "permanent failure, not retried");
        }
        Ok(RepoOutcome {
            name: repo.to_owned(),
            events: activity.events.len(),
            unchanged: activity.unchanged && failures.is_empty(),
            pushed_at,
            commits_ok: commits_ok || (skip_commits && failures.is_empty()),
            failures,
            loc_mode: loc.mode,
        })
    }

    fn recorder(&self, ctx: WriteCtx) -> Recorder<'_> {
        Recorder {
            store: &*self.store,
            writes: &self.writes,
            flow: self.pull_flow.as_ref(),
            ctx,
        }
    }

    async fn ask_backfill(
        &self,
        ctx: WriteCtx,
        repo: &str,
        window: TimeWindow,
        reason: BackfillReason,
    ) {
        let request = BackfillRequest {
            org: self.org().to_owned(),
            repo: repo.to_owned(),
            window,
            reason,
        };
        if let Err(e) = self.backfill.request(ctx, request).await {
            tracing::error!(org = %self.org(), repo, reason = %reason, error = %e, "cannot request a backfill");
        }
    }

    /// Fleet signals of the cycle: runs, duration, requests, rate limit.
    async fn record_signals(
        &self,
        ctx: WriteCtx,
        now: DateTime<Utc>,
        result: CycleResult,
        elapsed: std::time::Duration,
    ) -> Result<(), StoreError> {
        let org = self.org();
        let delta = self.usage.since_last(&self.client);
        let mut counters = vec![(
            SeriesKey::new(Family::ScrapeRuns, [org, result.as_str()]),
            1,
        )];
        counters.extend(request_counters(org, &delta));
        if delta.secondary_limit_hits > 0 {
            counters.push((
                SeriesKey::new(Family::SecondaryLimitHits, [org]),
                delta.secondary_limit_hits,
            ));
        }
        let writes = self.writes.take();
        counters.extend(writes.counters(ctx.source));
        if let Err(e) = self.store.add_counters(ctx, &counters, now).await {
            self.writes.put_back(writes);
            return Err(e);
        }
        let mut gauges = vec![
            (
                SeriesKey::new(Family::ScrapeDuration, [org]),
                elapsed.as_secs_f64(),
            ),
            (
                SeriesKey::new(Family::LeaderCycleLastRun, Vec::<String>::new()),
                now.timestamp() as f64,
            ),
        ];
        if let Some(b) = self.client.budget() {
            let installation = self.client.installation_label();
            for family in [Family::RateLimitRemaining, Family::AppRateLimitRemaining] {
                gauges.push((
                    SeriesKey::new(family, [org, installation.as_str()]),
                    b.remaining as f64,
                ));
            }
            gauges.push((
                SeriesKey::new(Family::RateLimitReset, [org, installation.as_str()]),
                b.reset.timestamp() as f64,
            ));
            crate::org_state::share(&*self.store, org, &b, now).await?;
        }
        self.store.set_gauges(ctx, &gauges, now).await?;
        Ok(())
    }
}
