//! Several simulated days against real Redis: activity of every kind GitHub
//! has (late pushes, rebases, merges, web-flow squashes, unlinked authors,
//! bots, pull requests with reviews and author replies, comments),
//! repository listing failures, a GitHub outage long enough for a cooldown,
//! one repository failing on its own, a leader change, worker backfills
//! through the coalescing enqueuer, a renamed, an archived and a deleted
//! repository, a renamed user and a week boundary. After every step every
//! `(org, repo, user)` value of the eight activity families (the five 24h
//! gauges, the last event, weekly LOC added and removed) equals the
//! simulator's truth: nothing filtered out, absent and 0 alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod days_rig;
mod leader;

use std::sync::Arc;

use chrono::{DateTime, Datelike, DurationRound, TimeZone, Utc};
use ghstats_core::Shutdown;
use ghstats_scheduler::cooldown::GithubState;
use ghstats_scheduler::org_loop::TickOutcome;
use ghstats_scrape::CycleResult;
use ghstats_simulator::{ACTIVITY_KINDS, Departure, FaultRule, TruthOptions};
use ghstats_store::{Family, Store, StoreError, WriteCtx};
use ghstats_testkit::Dice;
use ghstats_testkit::{
    DAYS_EXTRA, Gauges, activity_gauges, gauge_diff, loc_gauges, loc_truth, one_org_of,
    series_where, world_with,
};
use leader::controller;

const STEP: chrono::Duration = chrono::Duration::hours(2);
const STEPS: u32 = 40;

/// (family, org, repo, user) -> value of every non-zero last-event series.
async fn last_events(store: &dyn Store) -> Gauges {
    series_where(store, |k| k.family == Family::LastEvent)
        .await
        .into_iter()
        .filter(|(_, v)| *v > 0.0)
        .map(|(k, v)| {
            let [org, repo, user] = [&k.labels[0], &k.labels[1], &k.labels[2]].map(Clone::clone);
            ((Family::LastEvent.name().to_owned(), org, repo, user), v)
        })
        .collect()
}

#[tokio::test]
async fn several_days_with_faults_and_changes_equal_the_truth_after_every_step() {
    let shutdown = Shutdown::new();
    let sim = one_org_of(6, 8, 3);
    let w = world_with(
        &shutdown,
        sim,
        "  user_label_mode: id\n  unhealthy_failure_threshold: 2\n  unhealthy_cooldown: 3h\n",
        DAYS_EXTRA,
    );
    let redis = ghstats_testkit::redis_store(&w.config, "days").await;
    let store: Arc<dyn Store> = redis.clone();
    let rig = days_rig::Backfill::new(&w, &store, &shutdown);
    let (enqueuer, backfill) = (rig.enqueuer.clone(), rig.producer.clone());

    // Start on a Saturday at 08:00 UTC, so the run crosses Sunday 00:00.
    let real = w.sim.now();
    let days = (6 - i64::from(real.weekday().num_days_from_sunday())).rem_euclid(7);
    let saturday = Utc.from_utc_datetime(
        &(real.date_naive() + chrono::Duration::days(days))
            .and_hms_opt(8, 0, 0)
            .unwrap(),
    );
    if saturday > real {
        w.sim.advance_clock(saturday - real);
    }
    let now = || {
        w.sim
            .now()
            .duration_trunc(chrono::Duration::seconds(1))
            .unwrap()
    };
    let start = now();
    let truth = TruthOptions {
        org: Some("org-a".into()),
        label_by_id: true,
        observed_since: Some(start - chrono::Duration::hours(24) + chrono::Duration::seconds(1)),
        ..TruthOptions::default()
    };
    let mut term = 1;
    store.raise_term(term).await.unwrap();
    let mut leader = controller(&w, &store, Some(&backfill), &shutdown);
    let mut dice = Dice(7);
    let mut renamed_at: Option<DateTime<Utc>> = None;
    let quiet = [6, 7]; // GitHub is down, then cooling down: nothing happens.
    let mut backfilled: Vec<String> = Vec::new();

    for step in 0..STEPS {
        // What changes in the world (before the step's own activity, so a
        // repository that leaves had been read up to then).
        match step {
            5 => {
                w.sim
                    .depart("org-a", "repo-001", Departure::Renamed, Some("repo-001-b"))
                    .unwrap();
                renamed_at = Some(now());
            }
            9 => w
                .sim
                .depart("org-a", "repo-002", Departure::Archived, None)
                .unwrap(),
            11 => w
                .sim
                .depart("org-a", "repo-003", Departure::Deleted, None)
                .unwrap(),
            14 => w.sim.rename_user("user-004", "user-004-renamed").unwrap(),
            _ => {}
        }
        if !quiet.contains(&step) {
            let repos: Vec<String> = w
                .sim
                .repo_names("org-a")
                .into_iter()
                .filter(|r| r != "repo-002")
                .collect();
            for _ in 0..8 {
                let repo = &repos[dice.below(repos.len())];
                let kind = ACTIVITY_KINDS[dice.below(ACTIVITY_KINDS.len())];
                w.sim.add_activity("org-a", repo, kind).unwrap();
            }
        }
        // Faults of this step.
        match step {
            4 => w.sim.set_fault(FaultRule {
                endpoint: "list_org_repos".into(),
                status: 502,
                fail_every: 1,
                ..FaultRule::default()
            }),
            6 => w.sim.set_fault(FaultRule {
                endpoint: "*".into(),
                status: 503,
                fail_every: 1,
                ..FaultRule::default()
            }),
            20 | 21 => w.sim.set_fault(FaultRule {
                endpoint: "list_issue_comments".into(),
                path_contains: Some("/repo-000/".into()),
                status: 500,
                fail_every: 1,
                ..FaultRule::default()
            }),
            _ => {}
        }
        // A leader change: the new leader raises the term; the old one is fenced.
        if step == 16 {
            days_rig::hand_over(&rig, &w, &store, &shutdown, &mut leader, &mut term, now()).await;
        }
        let ctx = WriteCtx::leader(term);
        let first = leader.tick(ctx, now()).await;
        if step != 6 {
            w.sim.clear_faults();
        }
        // Half a minute later (stats GitHub computed after the changes).
        w.sim.advance_clock(chrono::Duration::seconds(31));
        let second = leader.tick(ctx, now()).await;
        w.sim.clear_faults();
        assert!(
            !matches!(first, TickOutcome::Fenced | TickOutcome::StoreFailed)
                && !matches!(second, TickOutcome::Fenced | TickOutcome::StoreFailed),
            "step {step}: {first:?}, {second:?}"
        );
        // The faults did what they are for.
        match step {
            4 => assert_eq!(first, TickOutcome::Scraped(CycleResult::Failure)),
            6 => assert!(
                second == TickOutcome::Scraped(CycleResult::Failure)
                    && matches!(leader.github_state(), GithubState::CoolingDown(_)),
                "step 6: two failed cycles cool the org down"
            ),
            7 => assert_eq!(first, TickOutcome::SkippedUnhealthy),
            20 => assert_eq!(first, TickOutcome::Scraped(CycleResult::Partial)),
            _ => {}
        }
        // Workers run the missed windows (they hold an org's jobs back
        // while it cools down).
        let at = now();
        enqueuer.sweep(Some(ctx), at).await;
        let cooling = matches!(leader.github_state(), GithubState::CoolingDown(_));
        if !cooling {
            backfilled.extend(rig.run_jobs(at, step).await);
        }
        assert!(
            enqueuer.pending().is_empty(),
            "step {step}: windows left pending"
        );
        ghstats_scheduler::leader::age_activity(&*store, ctx, at).await;

        // Every value equals the truth.
        let mut step_truth = truth.clone();
        let mut got = activity_gauges(&*store).await;
        let mut want = w.sim.expected_24h(at, &step_truth, |_| true);
        got.extend(last_events(&*store).await);
        let since = at - chrono::Duration::hours(24) + chrono::Duration::seconds(1);
        let until = at + chrono::Duration::seconds(1);
        for row in w.sim.truth(since, until, &step_truth) {
            // The renamed repository is read under its new name from its
            // first scrape on, 24 hours back.
            let observed_from = match (&renamed_at, row.repo.as_str()) {
                (Some(r), "repo-001-b") => {
                    (*r - chrono::Duration::hours(24) + chrono::Duration::seconds(1)).timestamp()
                }
                _ => 0,
            };
            if row.last_event_unixtime > 0 && row.last_event_unixtime >= observed_from {
                want.insert(
                    (
                        Family::LastEvent.name().to_owned(),
                        row.org.clone(),
                        row.repo.clone(),
                        row.user.clone(),
                    ),
                    row.last_event_unixtime as f64,
                );
            }
        }
        got.extend(loc_gauges(&*store).await);
        step_truth.observed_since = None;
        want.extend(loc_truth(&w.sim, at, &step_truth));
        let diff = gauge_diff(&got, &want);
        assert!(
            diff.is_empty(),
            "step {step} at {at}: (series, exporter, truth) differ: {diff:#?}"
        );
        assert!(!want.is_empty());
        w.sim.advance_clock(STEP - chrono::Duration::seconds(31));
    }
    assert!(
        backfilled.iter().any(|r| r == "*") && backfilled.iter().any(|r| r == "repo-000"),
        "workers ran the org's and the failing repository's windows: {backfilled:?}"
    );
    assert!(matches!(
        store
            .record_activity(WriteCtx::leader(term - 1), "org-a", "repo-000", &[], now())
            .await,
        Err(StoreError::Fenced { .. })
    ));
    redis.delete_all_keys().await.unwrap();
    shutdown.trigger();
}
