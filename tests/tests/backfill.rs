//! A window the scheduler missed because GitHub answered 503 comes back:
//! it is asked for as a backfill, a worker re-runs it once GitHub is back,
//! and the gauges then equal the simulator's ground truth.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DurationRound, Utc};
use ghstats_queue::MemoryQueue;
use ghstats_runtime::Shutdown;
use ghstats_scrape::OrgScraper;
use ghstats_simulator::{DEMO_TOKEN, FaultRule, SimConfig, Simulator};
use ghstats_store::{Family, MemoryStore, Store, StoreSettings, WriteCtx};
use ghstats_worker::consume::{self, Counts};
use ghstats_worker::job::JobContext;

/// (metric, org, repo, user) -> value.
type Gauges = BTreeMap<(String, String, String, String), f64>;

async fn gauges(store: &dyn Store) -> Gauges {
    store
        .snapshot()
        .await
        .unwrap()
        .series
        .into_iter()
        .filter(|(k, v)| Family::ACTIVITY_24H.contains(&k.family) && *v > 0.0)
        .map(|(k, v)| {
            (
                (
                    k.family.name().to_owned(),
                    k.labels[0].clone(),
                    k.labels[1].clone(),
                    k.labels[2].clone(),
                ),
                v,
            )
        })
        .collect()
}

fn truth(sim: &Simulator, now: chrono::DateTime<Utc>) -> Gauges {
    sim.expected_24h(now, |r| {
        r.org == "org-a"
            && !r.user.is_empty()
            && !r.user.ends_with("[bot]")
            && r.repo != "old-archive"
    })
}

#[tokio::test]
async fn a_missed_window_is_backfilled_to_the_ground_truth() {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(SimConfig::default(), listener, &shutdown).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, DEMO_TOKEN).unwrap();
    let yaml = format!(
        "github:\n  orgs:\n    - org: org-a\n      token_file: {}\n      api_base_url: {}\nretry:\n  max_attempts: 2\n  initial_backoff: 1ms\n  max_backoff: 2ms\nbackfill:\n  requeue_delays: [10ms, 20ms]\n",
        token.display(),
        sim.api_base()
    );
    let config = Arc::new(ghstats_config::load_str(&yaml, "t.yaml", Vec::new()).unwrap());
    let store: Arc<dyn Store> =
        Arc::new(MemoryStore::new(StoreSettings::from_config(&config.store)));
    let queue = MemoryQueue::new(
        config
            .backfill
            .requeue_delays
            .iter()
            .map(|d| d.get())
            .collect(),
        3,
    );

    // GitHub fails the pull-request listings during the scheduled cycle.
    sim.set_fault(FaultRule {
        endpoint: "list_pulls".into(),
        status: 503,
        fail_every: 1,
        ..FaultRule::default()
    });
    let (org, client) = ghstats_scrape::clients::org_clients(&config, &store, shutdown.token())
        .unwrap()
        .remove(0);
    let scraper = OrgScraper::new(
        client,
        store.clone(),
        Arc::new(queue.clone()),
        org,
        config.clone(),
    );
    let now = sim
        .now()
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap();
    let report = scraper.run_cycle(WriteCtx::leader(0), now).await.unwrap();
    assert!(!report.failures.is_empty());
    let asked = queue.depth();
    assert_eq!(
        asked, report.repos,
        "one backfill job per repository whose pulls failed"
    );
    let want = truth(&sim, now);
    assert_ne!(gauges(&*store).await, want, "the missed window is missing");
    assert_eq!(
        store.checkpoint("org-a", "repo-000").await.unwrap(),
        None,
        "no checkpoint past a failure"
    );

    // GitHub is back; the worker re-runs the windows.
    sim.clear_faults();
    let orgs = ghstats_scrape::clients::org_clients(&config, &store, shutdown.token())
        .unwrap()
        .into_iter()
        .map(|(o, c)| (o.org.to_ascii_lowercase(), (o, c)))
        .collect();
    let jobs = Arc::new(JobContext {
        store: store.clone(),
        orgs,
        attribution: ghstats_scrape::Attribution::from_config(&config.github),
        max_message_age: Duration::from_secs(3600),
    });
    let counts = Arc::new(Counts::default());
    consume::spawn(2, jobs, Arc::new(queue.clone()), counts.clone(), &shutdown);
    for _ in 0..500 {
        if counts.processed.load(Ordering::Relaxed) as usize == asked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(counts.processed.load(Ordering::Relaxed) as usize, asked);
    assert_eq!(
        gauges(&*store).await,
        want,
        "after the backfill the gauges equal the ground truth"
    );
    assert!(
        store
            .checkpoint("org-a", "repo-000")
            .await
            .unwrap()
            .is_some(),
        "the worker moved the checkpoint"
    );
    assert!(queue.dead_letters().is_empty());
    let processed =
        ghstats_store::SeriesKey::new(Family::BackfillJobsProcessed, ["org-a", "processed"]);
    let snapshot = store.snapshot().await.unwrap();
    assert_eq!(
        snapshot
            .series
            .iter()
            .find(|(k, _)| *k == processed)
            .map(|(_, v)| *v),
        Some(asked as f64),
        "jobs are counted in the store"
    );
    shutdown.trigger();
}
