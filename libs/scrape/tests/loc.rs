//! The LOC state machine against the simulator: warming then ready; stale
//! keeps the last values; zeroed stats switch to capped commit-detail
//! sampling, whose budget running out flags the estimate incomplete; after
//! the cooldown, healthy stats bring the repository back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ghstats_config::LocConfig;
use ghstats_core::Shutdown;
use ghstats_github::{ClientOptions, Credentials, GithubClient, MemoryEtagCache};
use ghstats_scrape::Attribution;
use ghstats_scrape::loc::{FallbackBudget, LocContext, LocMode, refresh};
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator};
use ghstats_store::{Family, MemoryStore, SeriesKey, Store, StoreSettings, WriteCtx};

struct Setup {
    sim: Simulator,
    client: GithubClient,
    store: MemoryStore,
    config: LocConfig,
    _shutdown: Shutdown,
}

async fn setup() -> Setup {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(SimConfig::default(), listener, &shutdown).unwrap();
    let client = GithubClient::new(
        ClientOptions::with_defaults(
            "org-a",
            sim.api_base().parse().unwrap(),
            Credentials::Token(ghstats_config::Secret::new(DEMO_TOKEN)),
            Arc::new(MemoryEtagCache::default()),
            shutdown.token().clone(),
        )
        .quick(),
    )
    .unwrap();
    let config = LocConfig {
        refresh_interval: "1h".parse().unwrap(),
        large_repo_cooldown: "2h".parse().unwrap(),
        large_repo_zero_detection_windows: 2,
        ..LocConfig::default()
    };
    let store = MemoryStore::new(StoreSettings::from_config(
        &ghstats_config::StoreConfig::default(),
    ));
    Setup {
        sim,
        client,
        store,
        config,
        _shutdown: shutdown,
    }
}

async fn step(s: &Setup, budget: &FallbackBudget, repo: &str, now: DateTime<Utc>) -> LocMode {
    let attribution = Attribution::from_config(&ghstats_config::GithubConfig::default());
    let lc = LocContext {
        client: &s.client,
        store: &s.store,
        ctx: WriteCtx::leader(0),
        attribution: &attribution,
        config: &s.config,
        budget,
    };
    let outcome = refresh(&lc, repo, now).await.unwrap();
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    outcome.mode
}

async fn value(store: &dyn Store, key: &SeriesKey) -> Option<f64> {
    store
        .snapshot()
        .await
        .unwrap()
        .series
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

async fn loc_total(store: &dyn Store, repo: &str) -> f64 {
    store
        .snapshot()
        .await
        .unwrap()
        .series
        .iter()
        .filter(|(k, _)| k.family == Family::LocAddedWeekly && k.labels[1] == repo)
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn warming_then_ready_then_stale_keeps_values() {
    let s = setup().await;
    let budget = FallbackBudget::new(100);
    let t0 = s.sim.now();
    assert_eq!(
        step(&s, &budget, "repo-000", t0).await,
        LocMode::Warming,
        "202 is warming"
    );
    s.sim.clear_requests();
    assert_eq!(
        step(&s, &budget, "repo-000", t0 + chrono::Duration::seconds(20)).await,
        LocMode::Warming,
        "no recheck within half a minute"
    );
    assert!(s.sim.requests().is_empty(), "nothing asked meanwhile");
    assert_eq!(
        step(&s, &budget, "repo-000", t0 + chrono::Duration::seconds(31)).await,
        LocMode::Ready,
        "asked again after half a minute: the demo shows LOC soon"
    );
    let ready_total = loc_total(&s.store, "repo-000").await;
    assert!(ready_total > 0.0);
    assert_eq!(step(&s, &budget, "slow-stats", t0).await, LocMode::Warming);

    // New activity makes GitHub recompute; long past twice the refresh
    // interval the repository is stale and keeps its last values.
    s.sim.add_activity("org-a", "repo-000", "commit").unwrap();
    assert_eq!(
        step(&s, &budget, "repo-000", t0 + chrono::Duration::hours(3)).await,
        LocMode::Stale
    );
    assert_eq!(
        loc_total(&s.store, "repo-000").await,
        ready_total,
        "stale keeps the last values"
    );
}

#[tokio::test]
async fn zeroed_stats_fall_back_within_budget_and_recover_after_cooldown() {
    let s = setup().await;
    let budget = FallbackBudget::new(5);
    let t0 = s.sim.now();
    let mode = |m: &str| SeriesKey::new(Family::LocSourceMode, ["org-a", "monorepo", m]);
    let incomplete = SeriesKey::new(Family::LocFallbackIncomplete, ["org-a", "monorepo"]);
    let exhausted = SeriesKey::new(Family::LocFallbackBudgetExhausted, ["org-a"]);

    assert_eq!(step(&s, &budget, "monorepo", t0).await, LocMode::Warming);
    // First zeroed answer: below the detection threshold.
    assert_ne!(
        step(&s, &budget, "monorepo", t0 + chrono::Duration::minutes(11)).await,
        LocMode::Fallback
    );
    // Second: sampling starts and runs out of its 5-call budget.
    s.sim.clear_requests();
    assert_eq!(
        step(&s, &budget, "monorepo", t0 + chrono::Duration::minutes(22)).await,
        LocMode::Fallback
    );
    let details = s
        .sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == "get_commit")
        .count();
    assert_eq!(details, 5, "the budget caps commit-detail calls");
    assert_eq!(
        value(&s.store, &mode("sampled_commit_stats")).await,
        Some(1.0)
    );
    assert_eq!(value(&s.store, &incomplete).await, Some(1.0));
    assert_eq!(value(&s.store, &exhausted).await, Some(1.0));
    assert!(
        loc_total(&s.store, "monorepo").await > 0.0,
        "a partial estimate is kept"
    );

    // After the cooldown, stats that are fine again bring the repo back.
    s.sim.set_stats_zeroed("org-a", "monorepo", false);
    let later = t0 + chrono::Duration::hours(3);
    let first = step(&s, &budget, "monorepo", later).await;
    let mode_now = if first == LocMode::Ready {
        first
    } else {
        step(
            &s,
            &budget,
            "monorepo",
            later + chrono::Duration::minutes(11),
        )
        .await
    };
    assert_eq!(mode_now, LocMode::Ready);
    assert_eq!(
        value(&s.store, &mode("stats_contributors")).await,
        Some(1.0)
    );
    assert_eq!(
        value(&s.store, &mode("sampled_commit_stats")).await,
        Some(0.0)
    );
    assert_eq!(value(&s.store, &incomplete).await, Some(0.0));
}

#[tokio::test]
async fn unchanged_stats_give_the_next_weeks_loc_from_the_digest_alone() {
    let s = setup().await;
    let budget = FallbackBudget::new(100);
    let t0 = s.sim.now();
    assert_eq!(step(&s, &budget, "repo-000", t0).await, LocMode::Warming);
    let ready_at = t0 + chrono::Duration::seconds(31);
    assert_eq!(
        step(&s, &budget, "repo-000", ready_at).await,
        LocMode::Ready
    );

    // GitHub's answer does not change (no push), but a week later the
    // last complete week is another one: the 304 is read from the digest
    // kept with the validator, and gives what the whole body would.
    let later = t0 + chrono::Duration::days(8);
    s.sim.clear_requests();
    assert_eq!(step(&s, &budget, "repo-000", later).await, LocMode::Ready);
    let requests = s.sim.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].status, 304);
    assert!(!requests[0].counted);
    let truth: std::collections::BTreeMap<String, f64> = s
        .sim
        .loc_truth(later, &ghstats_simulator::TruthOptions::default())
        .into_iter()
        .filter(|l| l.org == "org-a" && l.repo == "repo-000" && l.additions > 0)
        .map(|l| (l.user, l.additions as f64))
        .collect();
    let got: std::collections::BTreeMap<String, f64> = s
        .store
        .snapshot()
        .await
        .unwrap()
        .series
        .into_iter()
        .filter(|(k, v)| {
            k.family == Family::LocAddedWeekly && k.labels[1] == "repo-000" && *v > 0.0
        })
        .map(|(k, v)| (k.labels[2].clone(), v))
        .collect();
    assert!(!truth.is_empty(), "the week of the answer had commits");
    assert_eq!(got, truth);
}
