//! The producer side of backfill: missed windows are coalesced per repo
//! into `coalesce_window` buckets, held in a pending list, and published by
//! sweeps. A sweep publishes each pending window unless its org reached
//! `max_enqueues_per_org_per_minute` (counted as dropped with `org_rate_cap`
//! and kept for the next sweep) or the same window was enqueued within
//! `dedup_ttl` (counted as deduped). The dedup claim is released again when
//! the broker does not confirm, so a failed publish never loses the window.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use ghstats_config::Config;
use ghstats_core::Shutdown;
use ghstats_proto::TimeWindow;
use ghstats_store::{ClaimKind, Family, SeriesKey, Store, WriteCtx};

use ghstats_backfill::{BackfillError, BackfillProducer, BackfillRequest, SweepReport};
use ghstats_queue::JobQueue;

/// Pending windows held at most; beyond it new windows are dropped and
/// counted with `global_safety_cap` (a broker outage long enough to fill it
/// is an incident: the alert on dropped enqueues fires).
pub const GLOBAL_PENDING_CAP: usize = 10_000;

/// How often pending windows are swept when nothing new arrives.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct EnqueueSettings {
    pub coalesce_window: Duration,
    pub dedup_ttl: Duration,
    pub max_per_org_per_minute: u32,
    /// Written into each job (`retry.max_attempts`).
    pub max_attempts: u32,
    /// `backfill.enabled`: when false every window is dropped (counted with
    /// `disabled`) and nothing is published.
    pub enabled: bool,
}

impl EnqueueSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            coalesce_window: config.backfill.coalesce_window.get(),
            dedup_ttl: config.backfill.dedup_ttl.get(),
            max_per_org_per_minute: config.backfill.max_enqueues_per_org_per_minute,
            max_attempts: config.retry.max_attempts,
            enabled: config.backfill.enabled,
        }
    }
}

#[derive(Debug)]
struct State {
    /// Coalesced windows by `(org, repo, start)`.
    pending: BTreeMap<(String, String, i64), BackfillRequest>,
    /// Enqueues per org in the current minute.
    minute: i64,
    sent: HashMap<String, u32>,
    /// The writer of the last request, for sweeps on the timer.
    ctx: Option<WriteCtx>,
    /// Pending windows already counted as held back by the org cap: a
    /// window is counted once, however many sweeps it waits through.
    capped: std::collections::HashSet<(String, String, i64)>,
}

/// Coalesces, dedups, caps and publishes backfill requests.
#[derive(Debug)]
pub struct Enqueuer {
    queue: Arc<dyn JobQueue>,
    store: Arc<dyn Store>,
    settings: EnqueueSettings,
    state: Mutex<State>,
    /// One sweep at a time.
    sweeping: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
    id_prefix: String,
}

fn floor_to(t: DateTime<Utc>, step: i64) -> i64 {
    t.timestamp().div_euclid(step) * step
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

impl Enqueuer {
    pub fn new(queue: Arc<dyn JobQueue>, store: Arc<dyn Store>, settings: EnqueueSettings) -> Self {
        let id_prefix = format!(
            "{:08x}",
            (ghstats_core::retry::unit_random() * f64::from(u32::MAX)) as u32
        );
        Self {
            queue,
            store,
            settings,
            state: Mutex::new(State {
                pending: BTreeMap::new(),
                minute: 0,
                sent: HashMap::new(),
                ctx: None,
                capped: std::collections::HashSet::new(),
            }),
            sweeping: tokio::sync::Mutex::new(()),
            next_id: AtomicU64::new(1),
            id_prefix,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Windows waiting to be published.
    pub fn pending(&self) -> Vec<BackfillRequest> {
        self.lock().pending.values().cloned().collect()
    }

    /// The request's window widened to whole `coalesce_window` buckets.
    fn coalesce(&self, mut r: BackfillRequest) -> BackfillRequest {
        let step = i64::try_from(self.settings.coalesce_window.as_secs())
            .unwrap_or(i64::MAX)
            .max(1);
        let start = floor_to(r.window.start(), step);
        let end_floor = floor_to(r.window.end(), step);
        let end = if end_floor == r.window.end().timestamp() && end_floor > start {
            end_floor
        } else {
            end_floor + step
        };
        r.window = TimeWindow::ordered(at(start), at(end));
        r
    }

    /// Adds a window to the pending list, merging it with an overlapping or
    /// adjacent pending window of the same repo. Returns false when the
    /// global cap refused it.
    fn add(&self, request: BackfillRequest) -> bool {
        let mut r = self.coalesce(request);
        let mut state = self.lock();
        let overlapping: Vec<_> = state
            .pending
            .range(
                (r.org.clone(), r.repo.clone(), i64::MIN)
                    ..=(r.org.clone(), r.repo.clone(), i64::MAX),
            )
            .filter(|(_, p)| {
                p.window.start() <= r.window.end() && r.window.start() <= p.window.end()
            })
            .map(|(k, _)| k.clone())
            .collect();
        if overlapping.is_empty() && state.pending.len() >= GLOBAL_PENDING_CAP {
            return false;
        }
        for k in overlapping {
            state.capped.remove(&k);
            if let Some(p) = state.pending.remove(&k) {
                r.window = TimeWindow::ordered(
                    p.window.start().min(r.window.start()),
                    p.window.end().max(r.window.end()),
                );
            }
        }
        let key = (r.org.clone(), r.repo.clone(), r.window.start().timestamp());
        state.pending.insert(key, r);
        true
    }

    /// Publishes what is pending, within the caps. Outcome counters go to
    /// the store as `ctx` (or as the last requester when `None`).
    pub async fn sweep(&self, ctx: Option<WriteCtx>, now: DateTime<Utc>) -> SweepReport {
        let _one = self.sweeping.lock().await;
        let (ctx, todo) = {
            let mut state = self.lock();
            if ctx.is_some() {
                state.ctx = ctx;
            }
            let minute = now.timestamp().div_euclid(60);
            if state.minute != minute {
                state.minute = minute;
                state.sent.clear();
            }
            (state.ctx, state.pending.clone())
        };
        let mut report = SweepReport::default();
        let mut counters: Vec<(SeriesKey, u64)> = Vec::new();
        let mut count = |family, org: &str, reason: &str| {
            counters.push((SeriesKey::new(family, [org, reason]), 1));
        };
        for (key, request) in todo {
            let sent = self.lock().sent.get(&request.org).copied().unwrap_or(0);
            if sent >= self.settings.max_per_org_per_minute {
                if self.lock().capped.insert(key.clone()) {
                    count(
                        Family::BackfillEnqueuesDropped,
                        &request.org,
                        "org_rate_cap",
                    );
                }
                report.capped += 1;
                continue;
            }
            let dedup_key = request.dedup_key();
            match self
                .store
                .claim(ClaimKind::Dedup, &dedup_key, self.settings.dedup_ttl)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    count(
                        Family::BackfillJobsDeduped,
                        &request.org,
                        request.reason.as_str(),
                    );
                    report.deduped += 1;
                    let mut state = self.lock();
                    state.pending.remove(&key);
                    state.capped.remove(&key);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check backfill dedup; keeping windows for the next sweep");
                    break;
                }
            }
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let job = request.clone().into_job(
                format!("{}-{}-{id}", self.id_prefix, now.timestamp()),
                self.settings.max_attempts,
                now,
            );
            match self.queue.publish(&job).await {
                Ok(()) => {
                    count(
                        Family::BackfillJobsEnqueued,
                        &request.org,
                        request.reason.as_str(),
                    );
                    report.enqueued += 1;
                    report.published.push(job.clone());
                    let mut state = self.lock();
                    state.pending.remove(&key);
                    state.capped.remove(&key);
                    *state.sent.entry(request.org.clone()).or_default() += 1;
                    tracing::info!(job_id = %job.job_id, org = %job.org, repo = %job.repo, reason = %job.reason, "backfill enqueued");
                }
                Err(e) => {
                    // Not confirmed: the window stays pending and may be
                    // published again.
                    let _ = self.store.release(ClaimKind::Dedup, &dedup_key).await;
                    tracing::warn!(error = %e, "backfill publish failed; keeping windows for the next sweep");
                    break;
                }
            }
        }
        report.pending = self.lock().pending.len();
        if let Some(ctx) = ctx
            && !counters.is_empty()
            && let Err(e) = self.store.add_counters(ctx, &counters, now).await
        {
            tracing::warn!(error = %e, "cannot count backfill enqueues");
        }
        report
    }

    /// Starts the named task that sweeps every [`SWEEP_INTERVAL`] while
    /// windows are pending.
    pub fn start_sweeping(self: &Arc<Self>, shutdown: &Shutdown) {
        let me = self.clone();
        shutdown.spawn_every("backfill_sweep", SWEEP_INTERVAL, move || {
            let me = me.clone();
            async move {
                if !me.lock().pending.is_empty() {
                    me.sweep(None, Utc::now()).await;
                }
            }
        });
    }
}

#[async_trait]
impl BackfillProducer for Enqueuer {
    async fn request(&self, ctx: WriteCtx, request: BackfillRequest) -> Result<(), BackfillError> {
        let org = request.org.clone();
        if !self.settings.enabled {
            tracing::info!(
                org,
                repo = %request.repo,
                window = ?request.window,
                reason = %request.reason,
                "backfill disabled (backfill.enabled: false): window not enqueued"
            );
            let dropped = [(
                SeriesKey::new(Family::BackfillEnqueuesDropped, [org.as_str(), "disabled"]),
                1,
            )];
            if let Err(e) = self.store.add_counters(ctx, &dropped, Utc::now()).await {
                tracing::warn!(org, error = %e, "cannot count a dropped backfill window");
            }
            return Ok(());
        }
        if !self.add(request) {
            tracing::error!(
                org,
                cap = GLOBAL_PENDING_CAP,
                "backfill window dropped: pending list full"
            );
            let dropped = [(
                SeriesKey::new(
                    Family::BackfillEnqueuesDropped,
                    [org.as_str(), "global_safety_cap"],
                ),
                1,
            )];
            let _ = self.store.add_counters(ctx, &dropped, Utc::now()).await;
            return Ok(());
        }
        self.sweep(Some(ctx), Utc::now()).await;
        Ok(())
    }

    async fn request_now(
        &self,
        ctx: WriteCtx,
        request: BackfillRequest,
    ) -> Result<SweepReport, BackfillError> {
        if !self.settings.enabled {
            return Err(BackfillError::Disabled);
        }
        if !self.add(request) {
            return Err(BackfillError::PendingFull {
                cap: GLOBAL_PENDING_CAP,
            });
        }
        let report = self.sweep(Some(ctx), Utc::now()).await;
        if report.enqueued == 0 && report.deduped == 0 && report.pending > 0 {
            return Err(BackfillError::NotTaken);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ghstats_proto::BackfillReason;
    use ghstats_queue::{MemoryQueue, Topology};
    use ghstats_store::{MemoryStore, StoreSettings};

    #[tokio::test]
    async fn a_disabled_backfill_enqueues_nothing_and_counts_each_window() {
        let mut config = ghstats_config::Config::default();
        config.backfill.enabled = false;
        let store: Arc<dyn Store> =
            Arc::new(MemoryStore::new(StoreSettings::from_config(&config.store)));
        let queue = Arc::new(MemoryQueue::new(Topology::from_config(
            &config.amqp,
            &config.backfill,
        )));
        let enqueuer = Enqueuer::new(
            queue.clone(),
            store.clone(),
            EnqueueSettings::from_config(&config),
        );
        let now = Utc::now();
        let request = |repo: &str| BackfillRequest {
            org: "org-a".into(),
            repo: repo.into(),
            window: TimeWindow::ordered(now - chrono::Duration::hours(1), now),
            reason: BackfillReason::ScrapeError,
        };
        let ctx = WriteCtx::leader(0);
        enqueuer.request(ctx, request("repo-1")).await.unwrap();
        enqueuer.request(ctx, request("repo-2")).await.unwrap();
        assert!(matches!(
            enqueuer.request_now(ctx, request("repo-3")).await,
            Err(BackfillError::Disabled)
        ));
        assert_eq!(queue.depth(), 0, "nothing published");
        assert!(enqueuer.lock().pending.is_empty(), "nothing held");
        let dropped = SeriesKey::new(Family::BackfillEnqueuesDropped, ["org-a", "disabled"]);
        let counted = store
            .snapshot()
            .await
            .unwrap()
            .series
            .into_iter()
            .find(|(k, _)| *k == dropped)
            .map(|(_, v)| v);
        assert_eq!(counted, Some(2.0));
    }

    /// Over the org cap, windows wait for the next minute and each is
    /// counted as held back once, however many sweeps it waits through.
    #[tokio::test]
    async fn the_org_cap_holds_windows_back_and_counts_each_once() {
        let config = ghstats_config::Config::default();
        let store: Arc<dyn Store> =
            Arc::new(MemoryStore::new(StoreSettings::from_config(&config.store)));
        let queue: Arc<dyn JobQueue> = Arc::new(MemoryQueue::new(Topology::from_config(
            &config.amqp,
            &config.backfill,
        )));
        let settings = EnqueueSettings {
            max_per_org_per_minute: 2,
            ..EnqueueSettings::from_config(&config)
        };
        let enqueuer = Enqueuer::new(queue, store.clone(), settings);
        let now = at(1_800_000_000);
        for i in 0..5 {
            enqueuer.add(BackfillRequest {
                org: "org-a".into(),
                repo: format!("repo-{i}"),
                window: TimeWindow::ordered(now - chrono::Duration::hours(1), now),
                reason: BackfillReason::ScrapeError,
            });
        }
        let ctx = Some(WriteCtx::leader(0));
        let first = enqueuer.sweep(ctx, now).await;
        assert_eq!((first.enqueued, first.capped, first.pending), (2, 3, 3));
        let again = enqueuer
            .sweep(ctx, now + chrono::Duration::seconds(10))
            .await;
        assert_eq!((again.enqueued, again.capped), (0, 3));
        let dropped = SeriesKey::new(Family::BackfillEnqueuesDropped, ["org-a", "org_rate_cap"]);
        let counted = |snapshot: ghstats_store::Snapshot| {
            snapshot
                .series
                .into_iter()
                .find(|(k, _)| *k == dropped)
                .map_or(0.0, |(_, v)| v)
        };
        assert_eq!(counted(store.snapshot().await.unwrap_or_default()), 3.0);
        let next_minute = enqueuer
            .sweep(ctx, now + chrono::Duration::seconds(70))
            .await;
        assert_eq!((next_minute.enqueued, next_minute.capped), (2, 1));
        assert_eq!(counted(store.snapshot().await.unwrap_or_default()), 3.0);
    }
}
