//! The conformance suite every `Store` backend must pass. Each case gets a
//! fresh store from `make` (a real Redis backend isolates itself with its
//! own key prefix) and panics with a message when the backend misbehaves.
//! `libs/store/tests/` runs it against the memory and the Redis backend.

// A test suite: a panic is how it reports a failing backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::model::*;
use crate::{Family, SeriesKey, Store};

/// Settings for most cases: roomy budget and log.
pub fn default_settings() -> StoreSettings {
    StoreSettings {
        prefix: String::new(),
        shards: 8,
        retention: Duration::from_secs(30 * 24 * 3600),
        max_series: 1_000_000,
        change_log_len: 100_000,
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn ev(kind: ActivityKind, id: &str, user: &str, minutes_before: i64) -> ActivityEvent {
    ActivityEvent {
        kind,
        id: id.into(),
        user: user.into(),
        at: t0() - chrono::Duration::minutes(minutes_before),
    }
}

async fn value(store: &dyn Store, key: &SeriesKey) -> Option<f64> {
    let snap = store
        .snapshot()
        .await
        .unwrap_or_else(|e| panic!("snapshot: {e}"));
    snap.series
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

fn commits(user: &str) -> SeriesKey {
    SeriesKey::new(Family::Commits24h, ["org", "repo", user])
}

/// Runs every case; `make` builds a fresh, empty store for `settings`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn(StoreSettings) -> Fut,
    Fut: Future<Output = Box<dyn Store>>,
{
    replayed_window_counts_each_event_once(&*make(default_settings()).await).await;
    overlapping_windows_count_each_event_once(&*make(default_settings()).await).await;
    gauges_fall_to_zero_when_events_age_out(&*make(default_settings()).await).await;
    series_disappear_after_retention(&*make(default_settings()).await).await;
    last_event_only_moves_forward(&*make(default_settings()).await).await;
    counters_only_increase(&*make(default_settings()).await).await;
    unchanged_gauges_write_nothing(&*make(default_settings()).await).await;
    change_log_carries_every_write(&*make(default_settings()).await).await;
    reader_behind_a_trimmed_log_must_reload(
        &*make(StoreSettings {
            change_log_len: 4,
            ..default_settings()
        })
        .await,
    )
    .await;
    series_budget_refuses_new_series_only(
        &*make(StoreSettings {
            max_series: 3,
            ..default_settings()
        })
        .await,
    )
    .await;
    stale_leader_terms_are_fenced(&*make(default_settings()).await).await;
    checkpoints_only_move_forward(&*make(default_settings()).await).await;
    claims_are_exclusive_until_released_or_expired(&*make(default_settings()).await).await;
    blobs_round_trip_and_expire(&*make(default_settings()).await).await;
    blobs_swap_only_from_what_was_read(&*make(default_settings()).await).await;
    loc_is_replaced_per_repository(&*make(default_settings()).await).await;
    batched_snapshot_equals_the_snapshot(&*make(default_settings()).await).await;
    an_event_seen_under_two_labels_counts_once_under_the_latest(&*make(default_settings()).await)
        .await;
    aging_recounts_due_repositories_without_a_write(&*make(default_settings()).await).await;
    held_claims_are_renewed_by_their_owner_only(&*make(default_settings()).await).await;
    each_pull_request_is_observed_once_in_cumulative_buckets(&*make(default_settings()).await)
        .await;
    pull_requests_before_the_lookback_or_retention_are_not_observed(
        &*make(default_settings()).await,
    )
    .await;
    open_pull_requests_age_between_reads(&*make(default_settings()).await).await;
}

fn flow_rules() -> FlowRules {
    FlowRules {
        lead_time_buckets: vec![3600, 86_400],
        first_review_buckets: vec![600],
        lookback: Duration::from_secs(24 * 3600),
    }
}

fn observation(
    histogram: FlowHistogram,
    number: u64,
    hours_before: i64,
    seconds: u64,
) -> PullObservation {
    PullObservation {
        histogram,
        number,
        at: t0() - chrono::Duration::hours(hours_before),
        seconds,
    }
}

async fn histogram(store: &dyn Store, family: Family) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = store
        .snapshot()
        .await
        .unwrap()
        .series
        .into_iter()
        .filter(|(k, _)| k.family == family)
        .map(|(k, v)| (k.labels[2].clone(), v))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

async fn record_flow(
    store: &dyn Store,
    ctx: WriteCtx,
    observations: &[PullObservation],
    open: Option<OpenPulls>,
    at: DateTime<Utc>,
) -> WriteReport {
    let rules = flow_rules();
    let flow = PullFlow {
        observations,
        open,
        rules: &rules,
    };
    store
        .record_pull_flow(ctx, "org", "repo", flow, at)
        .await
        .unwrap_or_else(|e| panic!("record_pull_flow: {e}"))
}

pub async fn each_pull_request_is_observed_once_in_cumulative_buckets(store: &dyn Store) {
    let lead = |n, s| observation(FlowHistogram::LeadTime, n, 1, s);
    record_flow(store, WriteCtx::leader(0), &[lead(1, 1800)], None, t0()).await;
    // The same pull request again (a replay, a backfill, another leader),
    // even with another value: observed once.
    record_flow(
        store,
        WriteCtx::worker(),
        &[lead(1, 1800), lead(1, 99)],
        None,
        t0(),
    )
    .await;
    record_flow(
        store,
        WriteCtx::leader(0),
        &[lead(2, 7200), lead(3, 100_000)],
        None,
        t0(),
    )
    .await;
    let expect = |pairs: &[(&str, f64)]| {
        let mut v: Vec<(String, f64)> = pairs.iter().map(|(l, v)| ((*l).to_owned(), *v)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(
        histogram(store, Family::PrLeadTime).await,
        expect(&[
            ("3600", 1.0),
            ("86400", 2.0),
            ("+Inf", 3.0),
            ("count", 3.0),
            ("sum", 109_000.0),
        ]),
        "cumulative buckets, each pull request once"
    );
    assert!(
        histogram(store, Family::PrTimeToFirstReview)
            .await
            .is_empty(),
        "the other histogram is untouched"
    );
    // The first review of pull request 1 is another observation.
    record_flow(
        store,
        WriteCtx::worker(),
        &[observation(FlowHistogram::FirstReview, 1, 2, 60)],
        None,
        t0(),
    )
    .await;
    assert_eq!(
        histogram(store, Family::PrTimeToFirstReview).await,
        expect(&[("600", 1.0), ("+Inf", 1.0), ("count", 1.0), ("sum", 60.0)])
    );
    // A stale leader records nothing.
    let rules = flow_rules();
    let flow = PullFlow {
        observations: &[lead(9, 1)],
        open: None,
        rules: &rules,
    };
    store.raise_term(5).await.unwrap();
    assert!(
        store
            .record_pull_flow(WriteCtx::leader(4), "org", "repo", flow, t0())
            .await
            .is_err(),
        "a stale leader is fenced"
    );
    let count = histogram(store, Family::PrLeadTime).await;
    assert!(count.contains(&("count".into(), 3.0)), "{count:?}");
}

pub async fn pull_requests_before_the_lookback_or_retention_are_not_observed(store: &dyn Store) {
    let ctx = WriteCtx::leader(0);
    // First seen at t0: merges up to 24 hours before count, older ones not.
    let merges = [
        observation(FlowHistogram::LeadTime, 1, 24, 10),
        observation(FlowHistogram::LeadTime, 2, 25, 10),
    ];
    record_flow(store, ctx, &merges, None, t0()).await;
    let count = |h: Vec<(String, f64)>| h.iter().find(|(l, _)| l == "count").map(|(_, v)| *v);
    assert_eq!(count(histogram(store, Family::PrLeadTime).await), Some(1.0));
    // A day later a backfill finds an even older one: still before the look-back.
    let later = t0() + chrono::Duration::days(1);
    let older = [PullObservation {
        at: t0() - chrono::Duration::hours(30),
        ..merges[0].clone()
    }];
    record_flow(store, ctx, &older, None, later).await;
    assert_eq!(count(histogram(store, Family::PrLeadTime).await), Some(1.0));
    // Past the retention (30 days) nothing is observed: its record would be gone.
    let far = t0() + chrono::Duration::days(31);
    let stale = [PullObservation {
        number: 3,
        at: far - chrono::Duration::days(30),
        ..merges[0].clone()
    }];
    record_flow(store, ctx, &stale, None, far).await;
    assert_eq!(count(histogram(store, Family::PrLeadTime).await), Some(1.0));
}

pub async fn open_pull_requests_age_between_reads(store: &dyn Store) {
    let ctx = WriteCtx::leader(0);
    let gauge = |family, labels: &[&str]| {
        SeriesKey::new(family, ["org", "repo"].iter().chain(labels).copied())
    };
    let ready = gauge(Family::PrOpen, &["false"]);
    let draft = gauge(Family::PrOpen, &["true"]);
    let age = gauge(Family::PrOldestOpenAge, &[]);
    let open = OpenPulls {
        ready: 2,
        draft: 1,
        oldest_ready: Some(t0() - chrono::Duration::hours(1)),
    };
    record_flow(store, ctx, &[], Some(open), t0()).await;
    assert_eq!(value(store, &ready).await, Some(2.0));
    assert_eq!(value(store, &draft).await, Some(1.0));
    assert_eq!(value(store, &age).await, Some(3600.0));
    // Not due yet: nothing rewritten.
    let soon = t0() + chrono::Duration::seconds(30);
    store.age_activity(ctx, soon, 100).await.unwrap();
    assert_eq!(value(store, &age).await, Some(3600.0));
    // Due: the age grows without a read (GitHub may be failing meanwhile).
    let later = t0() + OPEN_AGE_STEP + chrono::Duration::seconds(1);
    let aged = store.age_activity(ctx, later, 100).await.unwrap();
    assert_eq!(aged.repos, 1);
    assert_eq!(value(store, &age).await, Some(3661.0));
    // A read without a listing (a backfill) keeps the open counts and the age going.
    record_flow(store, WriteCtx::worker(), &[], None, later).await;
    assert_eq!(value(store, &ready).await, Some(2.0));
    // All closed: the counts and the age fall to 0, and nothing is due any more.
    record_flow(store, ctx, &[], Some(OpenPulls::default()), later).await;
    assert_eq!(value(store, &ready).await, Some(0.0));
    assert_eq!(value(store, &draft).await, Some(0.0));
    assert_eq!(value(store, &age).await, Some(0.0));
    let much_later = later + chrono::Duration::hours(1);
    let aged = store.age_activity(ctx, much_later, 100).await.unwrap();
    assert_eq!((aged.repos, aged.changed), (0, 0));
    // A repository without open pull requests writes no zero series.
    let rules = flow_rules();
    let none = PullFlow {
        observations: &[],
        open: Some(OpenPulls::default()),
        rules: &rules,
    };
    store
        .record_pull_flow(ctx, "org", "quiet", none, t0())
        .await
        .unwrap();
    let snap = store.snapshot().await.unwrap();
    assert!(
        !snap
            .series
            .iter()
            .any(|(k, _)| k.labels.get(1).is_some_and(|r| r == "quiet")),
        "no series for a repository with nothing open"
    );
}

pub async fn an_event_seen_under_two_labels_counts_once_under_the_latest(store: &dyn Store) {
    let first = [ev(ActivityKind::Commit, "sha1", "old-login", 30)];
    store
        .record_activity(WriteCtx::leader(0), "org", "repo", &first, t0())
        .await
        .unwrap();
    assert_eq!(value(store, &commits("old-login")).await, Some(1.0));
    // The same commit again, its author renamed (or linked later).
    let again = [ev(ActivityKind::Commit, "sha1", "new-login", 30)];
    store
        .record_activity(WriteCtx::worker(), "org", "repo", &again, t0())
        .await
        .unwrap();
    assert_eq!(
        value(store, &commits("new-login")).await,
        Some(1.0),
        "counted under its latest label"
    );
    assert_eq!(
        value(store, &commits("old-login")).await,
        Some(0.0),
        "and no longer under the old one"
    );
    // A review with the same id as the commit's sha is another event.
    let review = [ev(ActivityKind::Review, "sha1", "new-login", 20)];
    store
        .record_activity(WriteCtx::worker(), "org", "repo", &review, t0())
        .await
        .unwrap();
    assert_eq!(value(store, &commits("new-login")).await, Some(1.0));
}

pub async fn aging_recounts_due_repositories_without_a_write(store: &dyn Store) {
    let ctx = WriteCtx::leader(0);
    store
        .record_activity(
            ctx,
            "org",
            "repo",
            &[
                ev(ActivityKind::Commit, "old", "alice", 60),
                ev(ActivityKind::Commit, "new", "bob", 10),
            ],
            t0(),
        )
        .await
        .unwrap();
    store
        .record_activity(
            ctx,
            "org",
            "quiet",
            &[ev(ActivityKind::Review, "9", "carol", 5)],
            t0(),
        )
        .await
        .unwrap();
    let nothing_due = store
        .age_activity(ctx, t0() + chrono::Duration::hours(1), 100)
        .await
        .unwrap();
    assert_eq!(
        nothing_due,
        AgingReport::default(),
        "no repository is touched before an event leaves its window"
    );
    // alice's commit (60 min before t0) has left the window 23h30 later.
    let at = t0() + chrono::Duration::minutes(23 * 60 + 30);
    let aged = store.age_activity(ctx, at, 100).await.unwrap();
    assert_eq!(aged.repos, 1, "only the due repository is recounted");
    assert_eq!(aged.changed, 1);
    assert_eq!(value(store, &commits("alice")).await, Some(0.0));
    assert_eq!(value(store, &commits("bob")).await, Some(1.0));
    assert_eq!(
        store.age_activity(ctx, at, 100).await.unwrap().repos,
        0,
        "a recounted repository is due again only at its next expiry"
    );
    // A bounded pass leaves the rest for the next one.
    let later = t0() + chrono::Duration::hours(25);
    let first = store.age_activity(ctx, later, 1).await.unwrap();
    assert_eq!((first.repos, first.remaining), (1, 1));
    let second = store.age_activity(ctx, later, 1).await.unwrap();
    assert_eq!((second.repos, second.remaining), (1, 0));
    assert_eq!(value(store, &commits("bob")).await, Some(0.0));
    assert_eq!(
        value(
            store,
            &SeriesKey::new(Family::ReviewsSubmitted24h, ["org", "quiet", "carol"])
        )
        .await,
        Some(0.0)
    );
    assert_eq!(
        store.age_activity(ctx, later, 100).await.unwrap(),
        AgingReport::default(),
        "a repository without events leaves the index"
    );
    // Aging is a leader write: a stale term is refused.
    store.raise_term(5).await.unwrap();
    assert!(matches!(
        store.age_activity(WriteCtx::leader(4), later, 100).await,
        Err(crate::StoreError::Fenced { .. })
    ));
}

pub async fn held_claims_are_renewed_by_their_owner_only(store: &dyn Store) {
    let ttl = Duration::from_secs(60);
    let kind = ClaimKind::JobLock;
    assert!(store.hold(kind, "job", "worker-a", ttl).await.unwrap());
    assert!(
        !store.hold(kind, "job", "worker-b", ttl).await.unwrap(),
        "another owner cannot take a held claim"
    );
    assert!(
        store.hold(kind, "job", "worker-a", ttl).await.unwrap(),
        "its owner renews it"
    );
    store.release_held(kind, "job", "worker-b").await.unwrap();
    assert!(
        store.is_claimed(kind, "job").await.unwrap(),
        "only the owner releases"
    );
    store.release_held(kind, "job", "worker-a").await.unwrap();
    assert!(!store.is_claimed(kind, "job").await.unwrap());
    // A holder that stops renewing loses the claim after its TTL.
    assert!(
        store
            .hold(kind, "job", "worker-a", Duration::from_millis(50))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(store.hold(kind, "job", "worker-b", ttl).await.unwrap());
}

pub async fn batched_snapshot_equals_the_snapshot(store: &dyn Store) {
    let gauges: Vec<(SeriesKey, f64)> = (0..300)
        .map(|i| {
            (
                SeriesKey::new(Family::ScrapeDuration, [format!("org-{i}")]),
                i as f64,
            )
        })
        .collect();
    store
        .set_gauges(WriteCtx::leader(0), &gauges, t0())
        .await
        .unwrap();
    let whole = store.snapshot().await.unwrap();
    let mut batches = 0;
    let mut series = Vec::new();
    let cursor = store
        .snapshot_batches(&mut |b| {
            batches += 1;
            series.extend(b);
        })
        .await
        .unwrap();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(series, whole.series);
    assert_eq!(cursor, whole.cursor);
    assert!(batches >= 1);
}

pub async fn replayed_window_counts_each_event_once(store: &dyn Store) {
    let events = [
        ev(ActivityKind::Commit, "aaa", "alice", 60),
        ev(ActivityKind::Commit, "bbb", "alice", 30),
        ev(ActivityKind::Review, "7", "bob", 10),
    ];
    let first = store
        .record_activity(WriteCtx::leader(0), "org", "repo", &events, t0())
        .await
        .unwrap();
    assert!(first.changed >= 3, "first write changed {first:?}");
    let again = store
        .record_activity(WriteCtx::worker(), "org", "repo", &events, t0())
        .await
        .unwrap();
    assert_eq!(again.changed, 0, "a replay must change nothing");
    assert_eq!(value(store, &commits("alice")).await, Some(2.0));
    assert_eq!(
        value(
            store,
            &SeriesKey::new(Family::ReviewsSubmitted24h, ["org", "repo", "bob"])
        )
        .await,
        Some(1.0)
    );
}

pub async fn overlapping_windows_count_each_event_once(store: &dyn Store) {
    let a = [
        ev(ActivityKind::Commit, "c1", "alice", 300),
        ev(ActivityKind::Commit, "c2", "alice", 200),
    ];
    let b = [
        ev(ActivityKind::Commit, "c2", "alice", 200),
        ev(ActivityKind::Commit, "c3", "alice", 100),
    ];
    store
        .record_activity(WriteCtx::leader(0), "org", "repo", &a, t0())
        .await
        .unwrap();
    store
        .record_activity(WriteCtx::worker(), "org", "repo", &b, t0())
        .await
        .unwrap();
    assert_eq!(value(store, &commits("alice")).await, Some(3.0));
    // Same ids in another repository are other events.
    store
        .record_activity(WriteCtx::worker(), "org", "other", &a, t0())
        .await
        .unwrap();
    assert_eq!(value(store, &commits("alice")).await, Some(3.0));
    assert_eq!(
        value(
            store,
            &SeriesKey::new(Family::Commits24h, ["org", "other", "alice"])
        )
        .await,
        Some(2.0)
    );
}

pub async fn gauges_fall_to_zero_when_events_age_out(store: &dyn Store) {
    let events = [
        ev(ActivityKind::Commit, "c1", "alice", 60),
        ev(ActivityKind::PrOpened, "12", "alice", 600),
    ];
    store
        .record_activity(WriteCtx::leader(0), "org", "repo", &events, t0())
        .await
        .unwrap();
    // 20 hours later the PR (opened 10 h earlier) is still in the window.
    let later = t0() + chrono::Duration::hours(20);
    store
        .record_activity(WriteCtx::leader(0), "org", "repo", &[], later)
        .await
        .unwrap();
    assert_eq!(
        value(
            store,
            &SeriesKey::new(Family::PrsOpened24h, ["org", "repo", "alice"])
        )
        .await,
        Some(0.0)
    );
    assert_eq!(value(store, &commits("alice")).await, Some(1.0));
    // 25 hours later nothing is.
    let much_later = t0() + chrono::Duration::hours(25);
    let aged = store
        .record_activity(WriteCtx::leader(0), "org", "repo", &[], much_later)
        .await
        .unwrap();
    assert!(aged.changed >= 1);
    assert_eq!(
        value(store, &commits("alice")).await,
        Some(0.0),
        "an aged-out gauge reads 0, not its last value"
    );
    // A later recompute leaves the zero alone (no churn in the log).
    let idle = store
        .record_activity(
            WriteCtx::leader(0),
            "org",
            "repo",
            &[],
            much_later + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(idle.changed, 0);
}

pub async fn series_disappear_after_retention(store: &dyn Store) {
    store
        .record_activity(
            WriteCtx::leader(0),
            "org",
            "repo",
            &[ev(ActivityKind::Commit, "c1", "alice", 5)],
            t0(),
        )
        .await
        .unwrap();
    store
        .record_activity(
            WriteCtx::leader(0),
            "org",
            "repo",
            &[],
            t0() + chrono::Duration::days(2),
        )
        .await
        .unwrap();
    let cursor = store.snapshot().await.unwrap().cursor;
    let report = store.gc(t0() + chrono::Duration::days(20)).await.unwrap();
    assert_eq!(
        report.expired_series, 0,
        "nothing is older than the retention yet"
    );
    let report = store.gc(t0() + chrono::Duration::days(40)).await.unwrap();
    assert!(report.expired_series >= 2, "{report:?}");
    assert_eq!(value(store, &commits("alice")).await, None);
    let Changes::Delta { changes, .. } = store.changes_since(&cursor, 100).await.unwrap() else {
        panic!("behind")
    };
    assert!(
        changes
            .iter()
            .any(|c| c.series == commits("alice") && c.value.is_none()),
        "removal is logged"
    );
}

pub async fn last_event_only_moves_forward(store: &dyn Store) {
    let key = SeriesKey::new(Family::LastEvent, ["org", "repo", "alice"]);
    store
        .record_activity(
            WriteCtx::leader(0),
            "org",
            "repo",
            &[ev(ActivityKind::Commit, "new", "alice", 10)],
            t0(),
        )
        .await
        .unwrap();
    let newest = (t0() - chrono::Duration::minutes(10)).timestamp() as f64;
    assert_eq!(value(store, &key).await, Some(newest));
    // A backfill of an older window does not move it back.
    store
        .record_activity(
            WriteCtx::worker(),
            "org",
            "repo",
            &[ev(ActivityKind::Commit, "old", "alice", 3000)],
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(value(store, &key).await, Some(newest));
}

pub async fn counters_only_increase(store: &dyn Store) {
    let key = SeriesKey::new(Family::ScrapeRuns, ["org", "success"]);
    store
        .add_counters(WriteCtx::leader(0), &[(key.clone(), 2)], t0())
        .await
        .unwrap();
    store
        .add_counters(WriteCtx::leader(0), &[(key.clone(), 3)], t0())
        .await
        .unwrap();
    assert_eq!(value(store, &key).await, Some(5.0));
}

pub async fn unchanged_gauges_write_nothing(store: &dyn Store) {
    let key = SeriesKey::new(Family::RateLimitRemaining, ["org", "42"]);
    for (value, changed) in [(4999.0, 1), (4999.0, 0), (0.0, 1)] {
        let report = store
            .set_gauges(WriteCtx::leader(0), &[(key.clone(), value)], t0())
            .await
            .unwrap();
        assert_eq!(report.changed, changed, "setting {value}");
    }
    assert_eq!(
        value(store, &key).await,
        Some(0.0),
        "0 remaining is a value, not an absence"
    );
}

pub async fn change_log_carries_every_write(store: &dyn Store) {
    let start = store.snapshot().await.unwrap();
    store
        .record_activity(
            WriteCtx::leader(0),
            "org",
            "repo",
            &[ev(ActivityKind::IssueComment, "9", "carol", 1)],
            t0(),
        )
        .await
        .unwrap();
    store
        .set_gauges(
            WriteCtx::leader(0),
            &[(SeriesKey::new(Family::ScrapeDuration, ["org"]), 1.5)],
            t0(),
        )
        .await
        .unwrap();
    // Replaying the log on the first snapshot gives the latest snapshot.
    let mut view: std::collections::BTreeMap<SeriesKey, f64> = start.series.into_iter().collect();
    let Changes::Delta { changes, cursor } =
        store.changes_since(&start.cursor, 1000).await.unwrap()
    else {
        panic!("behind")
    };
    assert!(changes.len() >= 3, "{changes:?}");
    for c in changes {
        match c.value {
            Some(v) => view.insert(c.series, v),
            None => view.remove(&c.series),
        };
    }
    let now: std::collections::BTreeMap<SeriesKey, f64> =
        store.snapshot().await.unwrap().series.into_iter().collect();
    assert_eq!(view, now);
    let Changes::Delta { changes, .. } = store.changes_since(&cursor, 1000).await.unwrap() else {
        panic!("behind")
    };
    assert!(changes.is_empty(), "nothing after the last cursor");
}

pub async fn reader_behind_a_trimmed_log_must_reload(store: &dyn Store) {
    let start = store.snapshot().await.unwrap();
    for i in 0..400 {
        let key = SeriesKey::new(Family::ScrapeDuration, [format!("org-{i}")]);
        store
            .set_gauges(WriteCtx::leader(0), &[(key, f64::from(i))], t0())
            .await
            .unwrap();
    }
    assert!(
        matches!(
            store.changes_since(&start.cursor, 10).await.unwrap(),
            Changes::Behind
        ),
        "a trimmed log must say so"
    );
    let fresh = store.snapshot().await.unwrap();
    assert!(matches!(
        store.changes_since(&fresh.cursor, 10).await.unwrap(),
        Changes::Delta { .. }
    ));
}

pub async fn series_budget_refuses_new_series_only(store: &dyn Store) {
    let gauge = |org: &str| SeriesKey::new(Family::ScrapeDuration, [org]);
    let report = store
        .set_gauges(
            WriteCtx::leader(0),
            &[
                (gauge("a"), 1.0),
                (gauge("b"), 1.0),
                (gauge("c"), 1.0),
                (gauge("d"), 1.0),
            ],
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(report.refused, 1, "{report:?}");
    assert_eq!(value(store, &gauge("d")).await, None);
    // Existing series keep updating.
    assert_eq!(
        store
            .set_gauges(WriteCtx::leader(0), &[(gauge("a"), 2.0)], t0())
            .await
            .unwrap()
            .changed,
        1
    );
    let refused = SeriesKey::new(Family::SeriesRefused, [Family::ScrapeDuration.name()]);
    assert_eq!(
        value(store, &refused).await,
        Some(1.0),
        "refusals are counted"
    );
}

pub async fn stale_leader_terms_are_fenced(store: &dyn Store) {
    assert_eq!(store.raise_term(5).await.unwrap(), 5);
    assert_eq!(store.raise_term(3).await.unwrap(), 5, "terms never go back");
    let events = [ev(ActivityKind::Commit, "c", "alice", 1)];
    let err = store
        .record_activity(WriteCtx::leader(4), "org", "repo", &events, t0())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            crate::StoreError::Fenced {
                term: 4,
                current: 5
            }
        ),
        "{err}"
    );
    assert_eq!(
        value(store, &commits("alice")).await,
        None,
        "a fenced write leaves nothing"
    );
    let err = store
        .advance_checkpoint(WriteCtx::leader(4), "org", "repo", t0())
        .await
        .unwrap_err();
    assert!(matches!(err, crate::StoreError::Fenced { .. }));
    store
        .record_activity(WriteCtx::leader(5), "org", "repo", &events, t0())
        .await
        .unwrap();
    store
        .record_activity(WriteCtx::worker(), "org", "repo", &events, t0())
        .await
        .unwrap();
    assert_eq!(value(store, &commits("alice")).await, Some(1.0));
}

pub async fn checkpoints_only_move_forward(store: &dyn Store) {
    assert_eq!(store.checkpoint("org", "repo").await.unwrap(), None);
    let later = t0() + chrono::Duration::hours(1);
    assert_eq!(
        store
            .advance_checkpoint(WriteCtx::leader(0), "org", "repo", later)
            .await
            .unwrap(),
        later
    );
    assert_eq!(
        store
            .advance_checkpoint(WriteCtx::worker(), "org", "repo", t0())
            .await
            .unwrap(),
        later
    );
    assert_eq!(store.checkpoint("org", "repo").await.unwrap(), Some(later));
}

pub async fn claims_are_exclusive_until_released_or_expired(store: &dyn Store) {
    let ttl = Duration::from_secs(60);
    assert!(
        store
            .claim(ClaimKind::Dedup, "org:repo:w1", ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim(ClaimKind::Dedup, "org:repo:w1", ttl)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim(ClaimKind::JobLock, "org:repo:w1", ttl)
            .await
            .unwrap(),
        "namespaces are separate"
    );
    assert!(
        store
            .is_claimed(ClaimKind::JobLock, "org:repo:w1")
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_claimed(ClaimKind::JobDone, "org:repo:w1")
            .await
            .unwrap(),
        "looking does not take"
    );
    assert!(
        store
            .claim(ClaimKind::JobDone, "org:repo:w1", ttl)
            .await
            .unwrap()
    );
    store
        .release(ClaimKind::Dedup, "org:repo:w1")
        .await
        .unwrap();
    assert!(
        store
            .claim(ClaimKind::Dedup, "org:repo:w1", ttl)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim(ClaimKind::Dedup, "short", Duration::from_millis(50))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!store.is_claimed(ClaimKind::Dedup, "short").await.unwrap());
    assert!(
        store.claim(ClaimKind::Dedup, "short", ttl).await.unwrap(),
        "an expired claim can be taken again"
    );
}

pub async fn blobs_round_trip_and_expire(store: &dyn Store) {
    store
        .put_blob(
            BlobKind::LocState,
            "org/repo",
            b"{\"mode\":\"ready\"}",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_blob(BlobKind::LocState, "org/repo")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"{\"mode\":\"ready\"}"[..])
    );
    assert_eq!(
        store.get_blob(BlobKind::Etag, "org/repo").await.unwrap(),
        None,
        "kinds are separate"
    );
    store
        .put_blob(BlobKind::Etag, "u", b"x", Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(store.get_blob(BlobKind::Etag, "u").await.unwrap(), None);
}

pub async fn blobs_swap_only_from_what_was_read(store: &dyn Store) {
    let ttl = Duration::from_secs(60);
    let swap = |expected: Option<&'static [u8]>, value: &'static [u8]| async move {
        store
            .swap_blob(BlobKind::Etag, "org/repo", expected, value, ttl)
            .await
            .unwrap()
    };
    let read = || async {
        store
            .get_blob(BlobKind::Etag, "org/repo")
            .await
            .unwrap()
            .unwrap_or_default()
    };
    assert!(swap(None, b"a\x00a").await, "from absent");
    assert!(!swap(None, b"b").await, "someone wrote it since");
    assert_eq!(read().await, b"a\x00a");
    assert!(!swap(Some(b"a"), b"b").await, "not what was read");
    assert!(swap(Some(b"a\x00a"), b"b").await);
    assert_eq!(read().await, b"b");
    assert!(
        !store
            .swap_blob(BlobKind::LocState, "org/repo", Some(b"b"), b"c", ttl)
            .await
            .unwrap(),
        "kinds are separate"
    );
    // An expired blob is absent.
    store
        .put_blob(BlobKind::Etag, "gone", b"x", Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        store
            .swap_blob(BlobKind::Etag, "gone", None, b"y", ttl)
            .await
            .unwrap()
    );
}

pub async fn loc_is_replaced_per_repository(store: &dyn Store) {
    let added = |u: &str| SeriesKey::new(Family::LocAddedWeekly, ["org", "repo", u]);
    let loc = |user: &str, added, removed| UserLoc {
        user: user.into(),
        added,
        removed,
    };
    let week1 = [
        loc("alice", 10, 2),
        loc("bob", 5, 0),
        loc("carol", 0, 0),
        loc("dave", 3, 0),
    ];
    store
        .replace_loc(WriteCtx::leader(0), "org", "repo", &week1, t0())
        .await
        .unwrap();
    assert_eq!(value(store, &added("bob")).await, Some(5.0));
    assert_eq!(
        value(store, &added("carol")).await,
        None,
        "a contributor without lines that week has no series"
    );
    let week2 = [loc("alice", 7, 1), loc("carol", 0, 0), loc("dave", 0, 0)];
    store
        .replace_loc(WriteCtx::leader(0), "org", "repo", &week2, t0())
        .await
        .unwrap();
    assert_eq!(value(store, &added("alice")).await, Some(7.0));
    assert_eq!(
        value(store, &added("bob")).await,
        Some(0.0),
        "a user absent from the new week falls to 0"
    );
    assert_eq!(
        value(store, &added("dave")).await,
        Some(0.0),
        "a user listed without lines falls to 0 too"
    );
    assert_eq!(value(store, &added("carol")).await, None);
}
