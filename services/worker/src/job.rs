//! Processing one backfill job: re-scrape exactly its window with the same
//! scrape code the scheduler uses, write as `worker_backfill`, move the
//! checkpoint forward only, and tell the consumer loop what to do with the
//! job.
//!
//! Deliveries of one job (a duplicate publish, a redelivery after a worker
//! died before its ack) are settled by two store claims: `joblock:<id>`
//! while a worker runs it (held by that worker, renewed as the job runs,
//! so it outlives a dead worker by at most `JOB_LOCK_TTL`), and
//! `jobdone:<id>` once its window is written (kept for `max_message_age`).
//! A delivery of a done job is acknowledged; one of a job another live
//! worker runs is deferred (same attempt) and looks again. The writes
//! themselves are idempotent, so even a job run twice counts each event
//! once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghstats_config::OrgConfig;
use ghstats_core::Cadence;
use ghstats_github::GithubClient;
use ghstats_proto::BackfillJob;
use ghstats_scrape::copilot::{CopilotScraper, Scope, Window};
use ghstats_scrape::record::Recorder;
use ghstats_scrape::{Attribution, Fetch, scrape_activity};
use ghstats_store::{ClaimKind, FlowRules, Store, WriteCtx, WriteTally};

/// What to do with a job after processing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done {
        events: usize,
    },
    /// Older than `backfill.max_message_age`: dropped, counted.
    Expired,
    /// The job's window was already written by another delivery.
    Duplicate,
    /// The org cannot be scraped now (cooldown, rate budget): the job goes
    /// through a delay queue unchanged.
    Defer(String),
    /// Transient failure (or another worker runs the job now): deliver
    /// again later, as the next attempt.
    Retry(String),
    /// Can never succeed: dead-letter it.
    Dead(String),
}

/// Everything a job needs.
#[derive(Debug)]
pub struct JobContext {
    pub store: Arc<dyn Store>,
    pub orgs: HashMap<String, (OrgConfig, GithubClient)>,
    pub attribution: Attribution,
    pub max_message_age: Duration,
    /// `rate_limit.min_remaining_threshold`: below it (as the leader last
    /// saw the org's budget) jobs wait for the reset.
    pub min_remaining: u64,
    /// Per org: when its hold-back state was last read, and what it was.
    held: std::sync::Mutex<HashMap<String, (std::time::Instant, Option<String>)>>,
    /// Window writes, for `gh_exporter_store_write_total{source="worker_backfill"}`.
    pub writes: WriteTally,
    /// Reads the 1-day Copilot reports of Copilot jobs, when enabled.
    pub copilot: Option<Arc<CopilotScraper>>,
    /// `pull_requests.*` when enabled (the default).
    pub pull_flow: Option<FlowRules>,
}

/// The owner of one run's job lock: the worker's identity, its process and
/// the run's number in it (replicas may share a host name, and one worker's
/// loops run jobs side by side).
fn run_owner() -> String {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "{}/{}/{}",
        ghstats_core::identity::instance_identity("worker"),
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A worker's claim on a running job: renewed while the job runs, so it
/// outlives a dead worker by at most [`JOB_LOCK_TTL`].
struct JobLock<'a> {
    store: &'a dyn Store,
    job_id: &'a str,
    owner: &'a str,
}

impl JobLock<'_> {
    async fn take(&self) -> Result<bool, ghstats_store::StoreError> {
        self.store
            .hold(ClaimKind::JobLock, self.job_id, self.owner, JOB_LOCK_TTL)
            .await
    }

    /// Runs `work`, renewing the claim meanwhile; `Err` when the claim was
    /// lost (another worker may be running the job now).
    async fn held_while<T>(&self, work: impl std::future::Future<Output = T>) -> Result<T, String> {
        tokio::pin!(work);
        let mut renew = Cadence::starting_after(JOB_LOCK_RENEW);
        loop {
            tokio::select! {
                out = &mut work => return Ok(out),
                () = renew.tick() => match self.take().await {
                    Ok(true) => {}
                    Ok(false) => return Err("the job's lock was lost to another worker".into()),
                    // A store hiccup: the claim still has most of its TTL.
                    Err(e) => tracing::warn!(job_id = %self.job_id, error = %e, "cannot renew the job lock"),
                },
            }
        }
    }

    async fn release(&self) {
        if let Err(e) = self
            .store
            .release_held(ClaimKind::JobLock, self.job_id, self.owner)
            .await
        {
            tracing::warn!(job_id = %self.job_id, error = %e, "cannot release the job lock");
        }
    }
}

/// What a job runs: a repository window of an org, or a Copilot report.
enum Work<'a> {
    Activity(&'a OrgConfig, &'a GithubClient),
    Copilot(Scope, &'a CopilotScraper, &'a GithubClient),
}

/// How long a worker trusts what it read of an org's cooldown and budget.
pub const HOLD_BACK_CACHE: Duration = Duration::from_secs(1);

/// How long a worker's claim on a running job outlives the worker if it
/// dies holding it; a live worker renews it every [`JOB_LOCK_RENEW`].
pub const JOB_LOCK_TTL: Duration = Duration::from_secs(30);

/// How often a running job renews its claim.
pub const JOB_LOCK_RENEW: Duration = Duration::from_secs(10);

impl JobContext {
    pub fn new(
        store: Arc<dyn Store>,
        orgs: HashMap<String, (OrgConfig, GithubClient)>,
        attribution: Attribution,
        max_message_age: Duration,
        min_remaining: u64,
    ) -> Self {
        Self {
            store,
            orgs,
            attribution,
            max_message_age,
            min_remaining,
            held: std::sync::Mutex::default(),
            writes: WriteTally::default(),
            copilot: None,
            pull_flow: Some(FlowRules::default()),
        }
    }

    /// Records pull-request flow by `rules` (`None`: not at all).
    pub fn with_pull_flow(mut self, rules: Option<FlowRules>) -> Self {
        self.pull_flow = rules;
        self
    }

    /// Runs Copilot jobs with `copilot` (`None`: they are dead-lettered).
    pub fn with_copilot(mut self, copilot: Option<Arc<CopilotScraper>>) -> Self {
        self.copilot = copilot;
        self
    }

    /// What `job` runs, or why it never can.
    fn work_of(&self, job: &BackfillJob) -> Result<Work<'_>, Verdict> {
        let org = self.orgs.get(&job.org.to_ascii_lowercase());
        let Some(scope) = Scope::from_job_repo(&job.repo) else {
            return org
                .map(|(o, c)| Work::Activity(o, c))
                .ok_or_else(|| Verdict::Dead(format!("org {:?} is not configured", job.org)));
        };
        let Some(copilot) = self.copilot.as_deref() else {
            return Err(Verdict::Dead(
                "copilot is not enabled in this worker's config".into(),
            ));
        };
        let client = if scope.is_enterprise() {
            copilot
                .enterprise_client()
                .filter(|_| job.org.eq_ignore_ascii_case(copilot.enterprise_slug()))
        } else {
            org.map(|(_, c)| c)
        };
        client
            .map(|c| Work::Copilot(scope, copilot, c))
            .ok_or_else(|| {
                Verdict::Dead(format!(
                    "no GitHub client for the copilot {} report of {:?}",
                    scope.key(),
                    job.org
                ))
            })
    }

    pub async fn process(&self, job: &BackfillJob, now: DateTime<Utc>) -> Verdict {
        let age = (now - job.created_at).to_std().unwrap_or_default();
        if age > self.max_message_age {
            return Verdict::Expired;
        }
        let work = match self.work_of(job) {
            Ok(w) => w,
            Err(verdict) => return verdict,
        };
        match self.store.is_claimed(ClaimKind::JobDone, &job.job_id).await {
            Ok(true) => return Verdict::Duplicate,
            Ok(false) => {}
            Err(e) => return Verdict::Retry(format!("store: {e}")),
        }
        if let Some(reason) = self.held_back(&job.org, now).await {
            return Verdict::Defer(reason);
        }
        let owner = run_owner();
        let lock = JobLock {
            store: &*self.store,
            job_id: &job.job_id,
            owner: &owner,
        };
        match lock.take().await {
            Ok(true) => {}
            // Not this job's failure: look again later, same attempt.
            Ok(false) => return Verdict::Defer("another worker is running this job".into()),
            Err(e) => return Verdict::Retry(format!("store: {e}")),
        }
        let run = async {
            match work {
                Work::Activity(org, client) => self.scrape(job, org, client, now).await,
                Work::Copilot(scope, copilot, client) => {
                    copilot_day(copilot, client, job, scope, now).await
                }
            }
        };
        let verdict = match lock.held_while(run).await {
            Ok(v) => v,
            Err(lost) => return Verdict::Retry(lost),
        };
        if matches!(verdict, Verdict::Done { .. })
            && let Err(e) = self
                .store
                .claim(ClaimKind::JobDone, &job.job_id, self.max_message_age)
                .await
        {
            // Written but not marked: a redelivery would run it again,
            // harmlessly (writes are idempotent), so still done.
            tracing::warn!(job_id = %job.job_id, error = %e, "cannot mark the job done");
        }
        lock.release().await;
        verdict
    }

    /// Why the org's jobs must wait, if they must: the leader shared a
    /// GitHub cooldown, or the org's rate budget is below the threshold.
    async fn held_back(&self, org: &str, now: DateTime<Utc>) -> Option<String> {
        let cached = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(org)
            .filter(|(at, _)| at.elapsed() < HOLD_BACK_CACHE)
            .map(|(_, reason)| reason.clone());
        if let Some(reason) = cached {
            return reason;
        }
        let reason = self.read_hold_back(org, now).await;
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(org.to_owned(), (std::time::Instant::now(), reason.clone()));
        reason
    }

    async fn read_hold_back(&self, org: &str, now: DateTime<Utc>) -> Option<String> {
        let store = &*self.store;
        if let Ok(Some(until)) = ghstats_scrape::org_state::shared_cooldown(store, org, now).await {
            return Some(format!("GitHub cooldown of {org} until {until}"));
        }
        match ghstats_scrape::org_state::shared(store, org).await {
            Ok(Some(b)) if b.remaining < self.min_remaining && b.reset > now => Some(format!(
                "rate budget of {org} at {} (below {}) until {}",
                b.remaining, self.min_remaining, b.reset
            )),
            _ => None,
        }
    }

    async fn scrape(
        &self,
        job: &BackfillJob,
        org: &OrgConfig,
        client: &GithubClient,
        now: DateTime<Utc>,
    ) -> Verdict {
        let repos: Vec<String> = if job.repo == "*" {
            match client.list_org_repos().await {
                Ok(l) => ghstats_scrape::repos::select(org, l.items)
                    .into_iter()
                    .map(|r| r.name)
                    .collect(),
                Err(e) if e.is_transient() => return Verdict::Retry(e.to_string()),
                Err(e) => return Verdict::Dead(e.to_string()),
            }
        } else {
            vec![job.repo.clone()]
        };
        let mut events = 0;
        let mut transient = Vec::new();
        for repo in &repos {
            let mut scrape = scrape_activity(
                client,
                &self.attribution,
                repo,
                job.window,
                Fetch::Window,
                false,
            )
            .await;
            events += scrape.events.len();
            let recorder = Recorder {
                store: &*self.store,
                writes: &self.writes,
                flow: self.pull_flow.as_ref(),
                ctx: WriteCtx::worker(),
            };
            if let Err(e) = recorder
                .record(client, &job.org, repo, &mut scrape, None, now)
                .await
            {
                return Verdict::Retry(format!("store: {e}"));
            }
            let failed: Vec<String> = scrape
                .failures
                .iter()
                .filter(|f| f.error.is_transient())
                .map(|f| f.error.to_string())
                .collect();
            // A checkpoint records only what was read: never past `now`
            // (a coalesced window can end in the future).
            let read_up_to = job.window.end().min(now);
            if failed.is_empty()
                && let Err(e) = self
                    .store
                    .advance_checkpoint(WriteCtx::worker(), &job.org, repo, read_up_to)
                    .await
            {
                return Verdict::Retry(format!("store: {e}"));
            }
            transient.extend(failed);
        }
        if transient.is_empty() {
            Verdict::Done { events }
        } else {
            Verdict::Retry(transient.join("; "))
        }
    }
}

/// A Copilot job: the 1-day report of the day before the window's end
/// (the newest day GitHub can have published when the scheduled read failed).
async fn copilot_day(
    copilot: &CopilotScraper,
    client: &GithubClient,
    job: &BackfillJob,
    scope: Scope,
    now: DateTime<Utc>,
) -> Verdict {
    let day = (job.window.end() - chrono::Duration::days(1)).date_naive();
    let run = copilot
        .run_report(
            client,
            &job.org,
            scope,
            Window::Day(day),
            WriteCtx::worker(),
            now,
        )
        .await;
    match run {
        Ok(run) => match run.error {
            None => Verdict::Done { events: run.series },
            Some(e) if e.is_transient() => Verdict::Retry(e.to_string()),
            Some(e) => Verdict::Dead(e.to_string()),
        },
        Err(e) => Verdict::Retry(format!("store: {e}")),
    }
}
