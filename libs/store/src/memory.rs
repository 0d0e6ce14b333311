//! The process-local store: the reference semantics of every operation,
//! for the all-in-one binary and tests.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::catalog::{Family, HISTOGRAM_COUNT, HISTOGRAM_INF, HISTOGRAM_SUM, Kind};
use crate::model::*;
use crate::series::SeriesKey;
use crate::{Result, Store, StoreError};

/// The longest change log the memory store keeps. Its readers are in the
/// same process and follow within a poll (250 ms), so a longer log only
/// holds memory (each entry keeps its series' labels); a reader that falls
/// behind it reloads a snapshot, as from Redis.
pub const MEMORY_CHANGE_LOG_LEN: u64 = 100_000;

#[derive(Debug)]
pub struct MemoryStore {
    settings: StoreSettings,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// series -> (value, last write)
    series: BTreeMap<SeriesKey, (f64, i64)>,
    events: HashMap<(String, String), RepoEvents>,
    active: HashMap<(String, String), BTreeSet<String>>,
    loc_users: HashMap<(String, String), BTreeSet<String>>,
    changes: VecDeque<(u64, Change)>,
    next_seq: u64,
    /// Highest sequence trimmed away.
    trimmed_upto: u64,
    checkpoints: HashMap<(String, String), DateTime<Utc>>,
    blobs: HashMap<(BlobKind, String), (Vec<u8>, Instant)>,
    /// claim -> (expiry, owner; empty for plain claims)
    claims: HashMap<(ClaimKind, String), (Instant, String)>,
    term: u64,
    /// Repository -> when its 24h gauges next change without a write, and
    /// the same ordered by time (what the aging pass pops).
    due: HashMap<(String, String), i64>,
    due_order: BTreeSet<(i64, (String, String))>,
    flow: HashMap<(String, String), FlowState>,
    /// Repositories whose open-age gauge is next rewritten at a time.
    age_due: BTreeSet<(i64, (String, String))>,
}

/// One repository's pull-request flow: when it was first seen, what was
/// observed (kept for the retention), the oldest ready open pull request.
#[derive(Debug, Default)]
struct FlowState {
    first_seen: i64,
    written: i64,
    observed: HashMap<(FlowHistogram, u64), i64>,
    oldest_ready: Option<i64>,
    age_due: Option<i64>,
}

/// One repository's events: (kind, id) -> (user, time).
type RepoEvents = HashMap<(ActivityKind, String), (String, i64)>;

fn fence(inner: &Inner, ctx: WriteCtx) -> Result<()> {
    if ctx.source == WriteSource::LeaderScrape && ctx.term < inner.term {
        return Err(StoreError::Fenced {
            term: ctx.term,
            current: inner.term,
        });
    }
    Ok(())
}

impl MemoryStore {
    pub fn new(mut settings: StoreSettings) -> Self {
        settings.change_log_len = settings.change_log_len.min(MEMORY_CHANGE_LOG_LEN);
        Self {
            settings,
            inner: Mutex::new(Inner {
                next_seq: 1,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `value` to `key` if it changed; counts the change or refusal.
    fn write(
        &self,
        inner: &mut Inner,
        key: SeriesKey,
        value: f64,
        now: i64,
        report: &mut WriteReport,
    ) {
        match inner.series.get_mut(&key) {
            Some((old, seen)) => {
                *seen = now;
                if *old == value {
                    return;
                }
                *old = value;
            }
            None => {
                if inner.series.len() as u64 >= self.settings.max_series {
                    report.refused += 1;
                    self.bump_refused(inner, key.family, now);
                    return;
                }
                inner.series.insert(key.clone(), (value, now));
            }
        }
        report.changed += 1;
        self.log(inner, key, Some(value));
    }

    /// Stores `events` and recounts the repository (see `record_activity`).
    fn record(
        &self,
        inner: &mut Inner,
        org: &str,
        repo: &str,
        events: &[ActivityEvent],
        now: DateTime<Utc>,
    ) -> WriteReport {
        let mut report = WriteReport::default();
        let id = (org.to_owned(), repo.to_owned());
        let cutoff = (now - ACTIVITY_WINDOW).timestamp();
        let ts = now.timestamp();
        let mut latest: BTreeMap<String, i64> = BTreeMap::new();
        let stored = inner.events.entry(id.clone()).or_default();
        // Events already out of the window are not kept (nor do they move
        // the last-event series).
        for e in events.iter().filter(|e| e.at.timestamp() > cutoff) {
            let at = e.at.timestamp();
            stored.insert((e.kind, e.id.clone()), (e.user.clone(), at));
            let l = latest.entry(e.user.clone()).or_insert(at);
            *l = (*l).max(at);
        }
        stored.retain(|_, (_, at)| *at > cutoff);
        let mut counts: BTreeMap<(String, ActivityKind), u64> = BTreeMap::new();
        for ((kind, _), (user, at)) in stored.iter() {
            if *at <= ts {
                *counts.entry((user.clone(), *kind)).or_default() += 1;
            }
        }
        // The oldest counted event leaving the window, or a future-dated
        // one entering it.
        let next_due = stored
            .values()
            .map(|(_, at)| {
                if *at > ts {
                    *at
                } else {
                    *at + ACTIVITY_WINDOW.num_seconds()
                }
            })
            .min();
        let previous = match next_due {
            Some(at) => {
                inner.due_order.insert((at, id.clone()));
                inner.due.insert(id.clone(), at).filter(|p| *p != at)
            }
            None => inner.due.remove(&id),
        };
        if let Some(p) = previous {
            inner.due_order.remove(&(p, id.clone()));
        }
        let mut users: BTreeSet<String> = inner.active.get(&id).cloned().unwrap_or_default();
        users.extend(counts.keys().map(|(u, _)| u.clone()));
        let mut active = BTreeSet::new();
        for user in users {
            for kind in ActivityKind::ALL {
                let n = counts.get(&(user.clone(), kind)).copied().unwrap_or(0);
                let key = SeriesKey::new(kind.family(), [org, repo, user.as_str()]);
                if n == 0 && !inner.series.contains_key(&key) {
                    continue;
                }
                self.write(inner, key, n as f64, ts, &mut report);
            }
            if ActivityKind::ALL
                .iter()
                .any(|k| counts.contains_key(&(user.clone(), *k)))
            {
                active.insert(user);
            }
        }
        inner.active.insert(id, active);
        for (user, at) in latest {
            let key = SeriesKey::new(Family::LastEvent, [org, repo, user.as_str()]);
            let old = inner.series.get(&key).map(|(v, _)| *v);
            if old.is_none_or(|o| (at as f64) > o) {
                self.write(inner, key, at as f64, ts, &mut report);
            }
        }
        report
    }

    /// Records a read of the repository's pull requests, or with `flow`
    /// `None` only rewrites the open age (see `record_pull_flow`).
    fn flow(
        &self,
        inner: &mut Inner,
        org: &str,
        repo: &str,
        flow: Option<PullFlow<'_>>,
        now: DateTime<Utc>,
    ) -> WriteReport {
        let mut report = WriteReport::default();
        let id = (org.to_owned(), repo.to_owned());
        let ts = now.timestamp();
        let retention = self.settings.retention.as_secs() as i64;
        let state = inner.flow.entry(id.clone()).or_default();
        if state.written == 0 || ts - state.written > retention {
            // Never seen, or forgotten (as Redis lets the keys expire).
            *state = FlowState {
                first_seen: ts,
                ..FlowState::default()
            };
        }
        state.written = ts;
        state.observed.retain(|_, at| *at > ts - retention);
        let mut observed: Vec<(FlowHistogram, u64)> = Vec::new();
        if let Some(flow) = &flow {
            let from = state.first_seen - flow.rules.lookback.as_secs() as i64;
            for o in flow.observations {
                let at = o.at.timestamp();
                if at < from || at <= ts - retention {
                    continue;
                }
                if state.observed.insert((o.histogram, o.number), at).is_none() {
                    observed.push((o.histogram, o.seconds));
                }
            }
            if let Some(open) = flow.open {
                state.oldest_ready = open.oldest_ready.map(|t| t.timestamp());
            }
        }
        let oldest = state.oldest_ready;
        let previous_due = state.age_due.take();
        state.age_due = oldest.map(|_| ts + OPEN_AGE_STEP.num_seconds());
        if let Some(p) = previous_due {
            inner.age_due.remove(&(p, id.clone()));
        }
        if let Some(d) = oldest.map(|_| ts + OPEN_AGE_STEP.num_seconds()) {
            inner.age_due.insert((d, id));
        }
        for (histogram, seconds) in observed {
            let rules = flow.as_ref().map(|f| f.rules);
            let bounds = rules.map_or(&[][..], |r| r.buckets(histogram));
            let samples = bounds
                .iter()
                .map(|b| (bucket_label(*b), u64::from(seconds <= *b)))
                .chain([
                    (HISTOGRAM_INF.to_owned(), 1),
                    (HISTOGRAM_COUNT.to_owned(), 1),
                    (HISTOGRAM_SUM.to_owned(), seconds),
                ]);
            for (le, by) in samples {
                let key = SeriesKey::new(histogram.family(), [org, repo, le.as_str()]);
                let old = inner.series.get(&key).map_or(0.0, |(v, _)| *v);
                self.write(inner, key, old + by as f64, ts, &mut report);
            }
        }
        let mut gauges = Vec::new();
        if let Some(open) = flow.and_then(|f| f.open) {
            gauges.push((
                SeriesKey::new(Family::PrOpen, [org, repo, "false"]),
                open.ready,
            ));
            gauges.push((
                SeriesKey::new(Family::PrOpen, [org, repo, "true"]),
                open.draft,
            ));
        }
        let age = oldest.map_or(0, |o| (ts - o).max(0) as u64);
        gauges.push((SeriesKey::new(Family::PrOldestOpenAge, [org, repo]), age));
        for (key, v) in gauges {
            if v > 0 || inner.series.contains_key(&key) {
                self.write(inner, key, v as f64, ts, &mut report);
            }
        }
        report
    }

    fn bump_refused(&self, inner: &mut Inner, family: Family, now: i64) {
        let key = SeriesKey::new(Family::SeriesRefused, [family.name()]);
        let entry = inner.series.entry(key.clone()).or_insert((0.0, now));
        entry.0 += 1.0;
        entry.1 = now;
        let value = entry.0;
        self.log(inner, key, Some(value));
    }

    fn log(&self, inner: &mut Inner, series: SeriesKey, value: Option<f64>) {
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.changes.push_back((seq, Change { series, value }));
        while inner.changes.len() as u64 > self.settings.change_log_len {
            if let Some((seq, _)) = inner.changes.pop_front() {
                inner.trimmed_upto = seq;
            }
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn record_activity(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        events: &[ActivityEvent],
        now: DateTime<Utc>,
    ) -> Result<WriteReport> {
        let mut inner = self.lock();
        fence(&inner, ctx)?;
        Ok(self.record(&mut inner, org, repo, events, now))
    }

    async fn age_activity(
        &self,
        ctx: WriteCtx,
        now: DateTime<Utc>,
        max_repos: usize,
    ) -> Result<AgingReport> {
        let mut inner = self.lock();
        fence(&inner, ctx)?;
        let ts = now.timestamp();
        let due: Vec<(i64, (String, String))> = inner
            .due_order
            .iter()
            .take_while(|(at, _)| *at <= ts)
            .cloned()
            .collect();
        let mut out = AgingReport {
            remaining: due.len().saturating_sub(max_repos) as u64,
            ..AgingReport::default()
        };
        for (_, (org, repo)) in due.into_iter().take(max_repos) {
            let written = self.record(&mut inner, &org, &repo, &[], now);
            out.repos += 1;
            out.changed += written.changed;
        }
        let ages: Vec<(i64, (String, String))> = inner
            .age_due
            .iter()
            .take_while(|(at, _)| *at <= ts)
            .cloned()
            .collect();
        out.remaining += ages.len().saturating_sub(max_repos) as u64;
        for (_, (org, repo)) in ages.into_iter().take(max_repos) {
            let written = self.flow(&mut inner, &org, &repo, None, now);
            out.repos += 1;
            out.changed += written.changed;
        }
        Ok(out)
    }

    async fn record_pull_flow(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        flow: PullFlow<'_>,
        now: DateTime<Utc>,
    ) -> Result<WriteReport> {
        let mut inner = self.lock();
        fence(&inner, ctx)?;
        Ok(self.flow(&mut inner, org, repo, Some(flow), now))
    }

    async fn replace_loc(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        loc: &[UserLoc],
        now: DateTime<Utc>,
    ) -> Result<WriteReport> {
        let mut inner = self.lock();
        fence(&inner, ctx)?;
        let mut report = WriteReport::default();
        let id = (org.to_owned(), repo.to_owned());
        let ts = now.timestamp();
        let previous = inner.loc_users.remove(&id).unwrap_or_default();
        let mut current = BTreeSet::new();
        for l in loc.iter().filter(|l| l.has_lines()) {
            for (family, v) in [
                (Family::LocAddedWeekly, l.added),
                (Family::LocRemovedWeekly, l.removed),
            ] {
                self.write(
                    &mut inner,
                    SeriesKey::new(family, [org, repo, l.user.as_str()]),
                    v as f64,
                    ts,
                    &mut report,
                );
            }
            current.insert(l.user.clone());
        }
        for gone in previous.difference(&current) {
            for family in [Family::LocAddedWeekly, Family::LocRemovedWeekly] {
                self.write(
                    &mut inner,
                    SeriesKey::new(family, [org, repo, gone.as_str()]),
                    0.0,
                    ts,
                    &mut report,
                );
            }
        }
        inner.loc_users.insert(id, current);
        Ok(report)
    }

    async fn set_gauges(
        &self,
        ctx: WriteCtx,
        values: &[(SeriesKey, f64)],
        now: DateTime<Utc>,
    ) -> Result<WriteReport> {
        let mut inner = self.lock();
        fence(&inner, ctx)?;
        let mut report = WriteReport::default();
        for (key, v) in values {
            debug_assert_eq!(key.family.kind(), Kind::Gauge);
            self.write(&mut inner, key.clone(), *v, now.timestamp(), &mut report);
        }
        Ok(report)
    }

    async fn add_counters(
        &self,
        ctx: WriteCtx,
        increments: &[(SeriesKey, u64)],
        now: DateTime<Utc>,
    ) -> Result<WriteReport> {
        let mut inner = self.lock();
        fence(&inner, ctx)?;
        let mut report = WriteReport::default();
        for (key, by) in increments {
            debug_assert_eq!(key.family.kind(), Kind::Counter);
            let old = inner.series.get(key).map_or(0.0, |(v, _)| *v);
            self.write(
                &mut inner,
                key.clone(),
                old + *by as f64,
                now.timestamp(),
                &mut report,
            );
        }
        Ok(report)
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        let inner = self.lock();
        Ok(Snapshot {
            series: inner
                .series
                .iter()
                .map(|(k, (v, _))| (k.clone(), *v))
                .collect(),
            cursor: Cursor((inner.next_seq - 1).to_string()),
        })
    }

    async fn changes_since(&self, cursor: &Cursor, max: usize) -> Result<Changes> {
        let inner = self.lock();
        let after: u64 = cursor.0.parse().unwrap_or(0);
        if after < inner.trimmed_upto {
            return Ok(Changes::Behind);
        }
        let changes: Vec<(u64, Change)> = inner
            .changes
            .iter()
            .filter(|(s, _)| *s > after)
            .take(max)
            .cloned()
            .collect();
        let last = changes.last().map_or(after, |(s, _)| *s);
        Ok(Changes::Delta {
            changes: changes.into_iter().map(|(_, c)| c).collect(),
            cursor: Cursor(last.to_string()),
        })
    }

    async fn checkpoint(&self, org: &str, repo: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .lock()
            .checkpoints
            .get(&(org.to_owned(), repo.to_owned()))
            .copied())
    }

    async fn advance_checkpoint(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        to: DateTime<Utc>,
    ) -> Result<DateTime<Utc>> {
        let mut inner = self.lock();
        fence(&inner, ctx)?;
        let cp = inner
            .checkpoints
            .entry((org.to_owned(), repo.to_owned()))
            .or_insert(to);
        *cp = (*cp).max(to);
        Ok(*cp)
    }

    async fn get_blob(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>> {
        let inner = self.lock();
        Ok(inner
            .blobs
            .get(&(kind, key.to_owned()))
            .filter(|(_, exp)| *exp > Instant::now())
            .map(|(v, _)| v.clone()))
    }

    async fn put_blob(&self, kind: BlobKind, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.lock().blobs.insert(
            (kind, key.to_owned()),
            (value.to_vec(), Instant::now() + ttl),
        );
        Ok(())
    }

    async fn swap_blob(
        &self,
        kind: BlobKind,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        let mut inner = self.lock();
        let now = Instant::now();
        let k = (kind, key.to_owned());
        let current = inner
            .blobs
            .get(&k)
            .filter(|(_, exp)| *exp > now)
            .map(|(v, _)| v.as_slice());
        if current != expected {
            return Ok(false);
        }
        inner.blobs.insert(k, (value.to_vec(), now + ttl));
        Ok(true)
    }

    async fn claim(&self, kind: ClaimKind, key: &str, ttl: Duration) -> Result<bool> {
        let mut inner = self.lock();
        let now = Instant::now();
        let k = (kind, key.to_owned());
        if inner.claims.get(&k).is_some_and(|(exp, _)| *exp > now) {
            return Ok(false);
        }
        inner.claims.insert(k, (now + ttl, String::new()));
        Ok(true)
    }

    async fn hold(&self, kind: ClaimKind, key: &str, owner: &str, ttl: Duration) -> Result<bool> {
        let mut inner = self.lock();
        let now = Instant::now();
        let k = (kind, key.to_owned());
        if inner
            .claims
            .get(&k)
            .is_some_and(|(exp, held_by)| *exp > now && held_by != owner)
        {
            return Ok(false);
        }
        inner.claims.insert(k, (now + ttl, owner.to_owned()));
        Ok(true)
    }

    async fn release_held(&self, kind: ClaimKind, key: &str, owner: &str) -> Result<()> {
        let mut inner = self.lock();
        let k = (kind, key.to_owned());
        if inner
            .claims
            .get(&k)
            .is_some_and(|(_, held_by)| held_by == owner)
        {
            inner.claims.remove(&k);
        }
        Ok(())
    }

    async fn release(&self, kind: ClaimKind, key: &str) -> Result<()> {
        self.lock().claims.remove(&(kind, key.to_owned()));
        Ok(())
    }

    async fn is_claimed(&self, kind: ClaimKind, key: &str) -> Result<bool> {
        let now = Instant::now();
        Ok(self
            .lock()
            .claims
            .get(&(kind, key.to_owned()))
            .is_some_and(|(exp, _)| *exp > now))
    }

    async fn raise_term(&self, term: u64) -> Result<u64> {
        let mut inner = self.lock();
        inner.term = inner.term.max(term);
        Ok(inner.term)
    }

    async fn current_term(&self) -> Result<u64> {
        Ok(self.lock().term)
    }

    async fn gc(&self, now: DateTime<Utc>) -> Result<GcReport> {
        let mut inner = self.lock();
        let cutoff = now.timestamp() - self.settings.retention.as_secs() as i64;
        let expired: Vec<SeriesKey> = inner
            .series
            .iter()
            .filter(|(_, (_, seen))| *seen < cutoff)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &expired {
            inner.series.remove(key);
            self.log(&mut inner, key.clone(), None);
        }
        let instant = Instant::now();
        inner.claims.retain(|_, (exp, _)| *exp > instant);
        inner.blobs.retain(|_, (_, exp)| *exp > instant);
        Ok(GcReport {
            expired_series: expired.len() as u64,
        })
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
