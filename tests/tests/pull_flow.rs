//! Several simulated days of pull requests against real Redis: opened
//! (drafts too), reviewed by others, by bots and by their author (a reply),
//! marked ready, merged, closed and reopened, with bot-authored pull
//! requests, a leader change and backfills of windows that overlap what
//! the scheduled scrape read (one reaching before the look-back). After
//! every step the four pull-request flow families equal the simulator's
//! truth (histogram buckets, counts and sums, open pull requests, the
//! oldest one's age), and no histogram counter ever went down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod days_rig;
mod leader;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::DurationRound;
use ghstats_backfill::BackfillRequest;
use ghstats_core::Shutdown;
use ghstats_proto::{BackfillReason, TimeWindow};
use ghstats_scheduler::org_loop::TickOutcome;
use ghstats_simulator::{Event, TruthOptions};
use ghstats_store::{FlowRules, Kind, Store, StoreError, WriteCtx};
use ghstats_testkit::Dice;
use ghstats_testkit::{DAYS_EXTRA, flow_gauges, flow_truth, gauge_diff, one_org_of, world_with};
use leader::controller;

const STEP: chrono::Duration = chrono::Duration::hours(2);
const STEPS: u32 = 30;

/// The pull-request actions of a step, and who acts (`None`: anyone).
const ACTIONS: [(&str, Option<&str>); 12] = [
    ("open_pull", None),
    ("draft_pull", None),
    ("review", None),
    ("review", None),
    ("review", Some("Copilot")),
    ("ready_pull", None),
    ("merge_pull", None),
    ("merge_pull", None),
    ("close_pull", None),
    ("reopen_pull", None),
    ("open_pull", Some("dependabot[bot]")),
    ("pull", None),
];

#[tokio::test]
async fn pull_request_flow_equals_the_truth_through_days_of_reviews_merges_and_a_leader_change() {
    let shutdown = Shutdown::new();
    let sim = one_org_of(4, 6, 3);
    let w = world_with(&shutdown, sim, "", DAYS_EXTRA);
    let rules = FlowRules::from_config(&w.config.pull_requests);
    let redis = ghstats_testkit::redis_store(&w.config, "pull-flow").await;
    let store: Arc<dyn Store> = redis.clone();
    let rig = days_rig::Backfill::new(&w, &store, &shutdown);
    let backfill = rig.producer.clone();
    let now = || {
        w.sim
            .now()
            .duration_trunc(chrono::Duration::seconds(1))
            .unwrap()
    };
    let start = now();
    // The first cycle reads 24 hours back, the look-back is 24 hours.
    let truth = TruthOptions {
        org: Some("org-a".into()),
        observed_since: Some(start - chrono::Duration::hours(24)),
        ..TruthOptions::default()
    };
    let mut term = 1;
    store.raise_term(term).await.unwrap();
    let mut leader = controller(&w, &store, Some(&backfill), &shutdown);
    let mut dice = Dice(11);
    let mut highest: BTreeMap<(String, String, String, String), f64> = BTreeMap::new();
    let mut seen_families = std::collections::BTreeSet::new();
    let repos = w.sim.repo_names("org-a");

    for step in 0..STEPS {
        for _ in 0..6 {
            let repo = &repos[dice.below(repos.len())];
            let (kind, user) = ACTIONS[dice.below(ACTIONS.len())];
            w.sim
                .add_event(&Event {
                    org: "org-a",
                    repo,
                    kind,
                    user,
                    ..Event::default()
                })
                .unwrap();
        }
        if step == 10 {
            days_rig::hand_over(&rig, &w, &store, &shutdown, &mut leader, &mut term, now()).await;
        }
        let ctx = WriteCtx::leader(term);
        let first = leader.tick(ctx, now()).await;
        w.sim.advance_clock(chrono::Duration::seconds(31));
        // Everything after this tick writes as of its time (the simulator's
        // clock runs on), so the ages are compared to the second.
        let at = now();
        let second = leader.tick(ctx, at).await;
        for outcome in [&first, &second] {
            assert!(
                matches!(
                    outcome,
                    TickOutcome::Scraped(ghstats_scrape::CycleResult::Success)
                ),
                "step {step}: {outcome:?}"
            );
        }
        // Backfills over windows the scrape read: the first one reaches
        // before the look-back, the second one is read twice.
        let windows: &[(i64, i64)] = match step {
            8 => &[(48, 1)],
            16 | 17 => &[(20, 0)],
            _ => &[],
        };
        for (from, to) in windows {
            let window = TimeWindow::ordered(
                at - chrono::Duration::hours(*from),
                at - chrono::Duration::hours(*to),
            );
            let request = BackfillRequest {
                org: "org-a".into(),
                repo: "*".into(),
                window,
                reason: BackfillReason::Manual,
            };
            backfill.request(ctx, request).await.unwrap();
        }
        rig.enqueuer.sweep(Some(ctx), at).await;
        rig.run_jobs(at, step).await;
        ghstats_scheduler::leader::age_activity(&*store, ctx, at).await;

        let got = flow_gauges(&*store).await;
        let want = flow_truth(
            &w.sim,
            at + chrono::Duration::seconds(1),
            at,
            &truth,
            &rules,
        );
        let diff = gauge_diff(&got, &want);
        assert!(
            diff.is_empty(),
            "step {step} at {at}: (series, exporter, truth) differ: {diff:#?}"
        );
        for (key, v) in &got {
            let family = ghstats_store::Family::from_name(&key.0).unwrap();
            if family.kind() == Kind::Histogram {
                let before = highest.insert(key.clone(), *v).unwrap_or(0.0);
                assert!(
                    *v >= before,
                    "step {step}: {key:?} fell from {before} to {v}"
                );
            }
            seen_families.insert(key.0.clone());
        }
        w.sim.advance_clock(STEP - chrono::Duration::seconds(31));
    }
    assert_eq!(
        seen_families.len(),
        4,
        "every family had values: {seen_families:?}"
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
