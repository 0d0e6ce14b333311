//! GitHub cooldown of an org controller against the simulator: threshold
//! failures pause scraping and send the missed windows to the backfill as
//! `github_unhealthy`; after the cooldown scraping resumes and GitHub turns
//! healthy after the recovery threshold.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use ghstats_backfill::{BackfillProducer, MemoryProducer};
use ghstats_config::Config;
use ghstats_core::Shutdown;
use ghstats_proto::BackfillReason;
use ghstats_scheduler::cooldown::GithubState;
use ghstats_scheduler::org_loop::TickOutcome;
use ghstats_scrape::CycleResult;
use ghstats_simulator::{DEMO_TOKEN, FaultRule, SimConfig, Simulator};
use ghstats_store::{Family, MemoryStore, SeriesKey, Store, StoreSettings, WriteCtx};

struct Setup {
    sim: Simulator,
    controller: Arc<ghstats_scheduler::org_loop::OrgController>,
    store: Arc<dyn Store>,
    queue: Arc<MemoryProducer>,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

/// An org controller over the simulator: cooldown after 2 failed cycles,
/// healthy again after 2 successes.
async fn setup() -> Setup {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(SimConfig::default(), listener, &shutdown).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, DEMO_TOKEN).unwrap();

    let yaml = format!(
        "github:\n  unhealthy_failure_threshold: 2\n  unhealthy_cooldown: 10m\n  orgs:\n    - org: org-a\n      token_file: {}\n      api_base_url: {}\nhealth:\n  github_recover_success_threshold: 2\nretry:\n  max_attempts: 1\n  initial_backoff: 1ms\n  max_backoff: 1ms\n",
        token.display(),
        sim.api_base()
    );
    let config = Arc::new(ghstats_config::load_str(&yaml, "t.yaml", Vec::new()).unwrap());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &Config::default().store,
    )));
    let queue = Arc::new(MemoryProducer::default());
    let backfill: Arc<dyn BackfillProducer> = queue.clone();
    let controller = ghstats_scheduler::leader::controllers(
        &config,
        &store,
        &backfill,
        &ghstats_core::Tenure::default(),
        &shutdown,
    )
    .unwrap()
    .remove(0);
    Setup {
        sim,
        controller,
        store,
        queue,
        shutdown,
        _dir: dir,
    }
}

/// GitHub goes down and two failed cycles start the cooldown.
async fn cool_down(s: &Setup, ctx: WriteCtx, t0: chrono::DateTime<Utc>) {
    s.sim.set_fault(FaultRule {
        endpoint: "*".into(),
        status: 503,
        fail_every: 1,
        ..FaultRule::default()
    });
    for at in [t0, t0 + Duration::minutes(5)] {
        assert_eq!(
            s.controller.tick(ctx, at).await,
            TickOutcome::Scraped(CycleResult::Failure)
        );
    }
    assert!(matches!(
        s.controller.github_state(),
        GithubState::CoolingDown(_)
    ));
}

#[tokio::test]
async fn probes_end_the_cooldown_early_once_github_answers_again() {
    let s = setup().await;
    let ctx = WriteCtx::leader(0);
    let t0 = Utc::now();
    cool_down(&s, ctx, t0).await;
    // Still down: a probe fails and the cooldown holds.
    s.sim.clear_requests();
    s.controller.probe(t0 + Duration::minutes(6)).await;
    assert!(matches!(
        s.controller.github_state(),
        GithubState::CoolingDown(_)
    ));
    // Back: two answered probes in a row end it, long before its 10 minutes.
    s.sim.clear_faults();
    s.controller.probe(t0 + Duration::minutes(6)).await;
    assert!(matches!(
        s.controller.github_state(),
        GithubState::CoolingDown(_)
    ));
    s.controller.probe(t0 + Duration::minutes(6)).await;
    assert_eq!(
        s.controller.github_state(),
        GithubState::Recovering { successes: 0 }
    );
    let probes = s.sim.requests();
    assert_eq!(probes.len(), 3, "{probes:#?}");
    assert!(
        probes
            .iter()
            .all(|r| r.endpoint == "rate_limit" && !r.counted),
        "probes are free: {probes:#?}"
    );
    assert_eq!(
        ghstats_scrape::org_state::shared_cooldown(&*s.store, "org-a", t0 + Duration::minutes(6))
            .await
            .unwrap(),
        None,
        "workers hold the org's jobs back no longer"
    );
    // Scraping resumes at once (the next tick is not skipped).
    assert_eq!(
        s.controller.tick(ctx, t0 + Duration::minutes(7)).await,
        TickOutcome::Scraped(CycleResult::Success)
    );
    // A healthy org is never probed.
    s.controller.tick(ctx, t0 + Duration::minutes(8)).await;
    assert_eq!(s.controller.github_state(), GithubState::Healthy);
    s.sim.clear_requests();
    s.controller.probe(t0 + Duration::minutes(9)).await;
    assert!(s.sim.requests().is_empty());
    s.shutdown.trigger();
}

#[tokio::test]
async fn failures_pause_scraping_and_recovery_needs_clean_cycles() {
    let s = setup().await;
    let (sim, controller, store, queue, shutdown) =
        (&s.sim, &s.controller, &s.store, &s.queue, &s.shutdown);
    let ctx = WriteCtx::leader(0);
    let t0 = Utc::now();

    // GitHub is down: every request fails.
    sim.set_fault(FaultRule {
        endpoint: "*".into(),
        status: 503,
        fail_every: 1,
        ..FaultRule::default()
    });
    assert_eq!(
        controller.tick(ctx, t0).await,
        TickOutcome::Scraped(CycleResult::Failure)
    );
    assert_eq!(
        controller.github_state(),
        GithubState::Healthy,
        "one failure is below the threshold"
    );
    assert_eq!(
        controller.tick(ctx, t0 + Duration::minutes(5)).await,
        TickOutcome::Scraped(CycleResult::Failure)
    );
    assert!(matches!(
        controller.github_state(),
        GithubState::CoolingDown(_)
    ));

    // While cooling down nothing is asked of GitHub; the windows go to the backfill.
    sim.clear_requests();
    queue.drain();
    assert_eq!(
        controller.tick(ctx, t0 + Duration::minutes(10)).await,
        TickOutcome::SkippedUnhealthy
    );
    assert!(
        sim.requests().is_empty(),
        "no GitHub request during the cooldown"
    );
    let asked = queue.drain();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        (asked[0].reason, asked[0].repo.as_str()),
        (BackfillReason::GithubUnhealthy, "*")
    );
    assert_eq!(
        asked[0].window.end() - asked[0].window.start(),
        Duration::minutes(5)
    );
    let skipped = SeriesKey::new(Family::ScrapeRuns, ["org-a", "skipped_unhealthy"]);
    let snap = store.snapshot().await.unwrap();
    assert_eq!(
        snap.series
            .iter()
            .find(|(k, _)| k == &skipped)
            .map(|(_, v)| *v),
        Some(1.0)
    );

    // GitHub is back; after the cooldown scraping resumes and two clean
    // cycles make it healthy again.
    sim.clear_faults();
    assert_eq!(
        controller.tick(ctx, t0 + Duration::minutes(16)).await,
        TickOutcome::Scraped(CycleResult::Success)
    );
    assert_eq!(
        controller.github_state(),
        GithubState::Recovering { successes: 1 }
    );
    assert_eq!(
        controller.tick(ctx, t0 + Duration::minutes(21)).await,
        TickOutcome::Scraped(CycleResult::Success)
    );
    assert_eq!(controller.github_state(), GithubState::Healthy);
    shutdown.trigger();
}
