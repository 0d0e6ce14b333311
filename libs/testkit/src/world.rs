//! A simulated world for the end-to-end tests (feature `world`): the
//! simulator with an org config pointing at it, stores and queues isolated
//! by unique names on the shared Redis and RabbitMQ, and the ground truth
//! as gauges.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ghstats_config::Config;
use ghstats_core::Shutdown;
use ghstats_core::retry::RetryPolicy;
use ghstats_queue::{RabbitQueue, Topology};
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator, TruthOptions, WorldSpec};
use ghstats_store::{Family, RedisAuth, RedisStore, RedisTarget, SeriesKey, Store, StoreSettings};

use crate::unique;

/// The simulator, and a config whose org `org-a` uses it with a token
/// file; `extra` is appended YAML (top-level sections).
#[allow(missing_debug_implementations)]
pub struct World {
    pub sim: Simulator,
    pub config: Arc<Config>,
    _dir: tempfile::TempDir,
}

/// A simulator on a port of its own, until `shutdown`.
pub fn simulator(config: SimConfig, shutdown: &Shutdown) -> Simulator {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    Simulator::start(config, listener, shutdown).unwrap()
}

pub fn world(shutdown: &Shutdown, extra: &str) -> World {
    world_with(shutdown, SimConfig::default(), "", extra)
}

/// [`world`] with its own simulator config and `github_extra` YAML lines
/// under `github:` (indented by two spaces).
pub fn world_with(shutdown: &Shutdown, sim: SimConfig, github_extra: &str, extra: &str) -> World {
    let sim = simulator(sim, shutdown);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, DEMO_TOKEN).unwrap();
    let yaml = format!(
        "github:\n{github_extra}  orgs:\n    - org: org-a\n      token_file: {}\n      api_base_url: {}\n{extra}",
        token.display(),
        sim.api_base()
    );
    let config = Arc::new(ghstats_config::load_str(&yaml, "test.yaml", Vec::new()).unwrap());
    World {
        sim,
        config,
        _dir: dir,
    }
}

/// A simulator config of one org ([`WorldSpec::one_org`]).
pub fn one_org_of(repos: u32, users: u32, days: u32) -> SimConfig {
    SimConfig {
        world: WorldSpec::one_org(repos, users, days),
        ..SimConfig::default()
    }
}

/// Top-level YAML for the simulated-days tests: one attempt per GitHub
/// call, contributor stats re-read hourly, backfill retried after 50 ms.
pub const DAYS_EXTRA: &str = "retry:\n  max_attempts: 1\n  initial_backoff: 1ms\n  max_backoff: 1ms\nloc:\n  refresh_interval: 1h\nbackfill:\n  requeue_delays: [50ms]\n";

/// The webhook secret of [`hook_world`]'s org and simulator.
pub const HOOK_SECRET: &str = "webhook-secret-for-tests";

/// A world whose org `org-a` uses the simulator's demo GitHub App (so the
/// App API of webhook deliveries answers), with webhooks on and the
/// webhook secret [`HOOK_SECRET`] (`org_extra`: more YAML lines of the
/// org, indented by six spaces; `extra`: top-level sections).
pub fn hook_world(shutdown: &Shutdown, sim: SimConfig, org_extra: &str, extra: &str) -> World {
    let sim = simulator(sim, shutdown);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(&key, ghstats_simulator::DEMO_APP_PRIVATE_KEY).unwrap();
    let yaml = format!(
        "github:\n  orgs:\n    - org: org-a\n      app_id: {app}\n      installation_id: {inst}\n      private_key_path: {key}\n      api_base_url: {api}\n      webhook_secret: {HOOK_SECRET}\n{org_extra}webhooks:\n  enabled: true\n{extra}",
        app = ghstats_simulator::DEMO_APP_ID,
        inst = ghstats_simulator::FIRST_INSTALLATION_ID,
        key = key.display(),
        api = sim.api_base(),
    );
    let config = Arc::new(ghstats_config::load_str(&yaml, "test.yaml", Vec::new()).unwrap());
    World {
        sim,
        config,
        _dir: dir,
    }
}

/// A store on the shared Redis under its own key prefix.
pub async fn redis_store(config: &Config, name: &str) -> Arc<RedisStore> {
    let target = RedisTarget::Standalone {
        addr: "127.0.0.1:6379".into(),
        tls: false,
    };
    let settings = StoreSettings {
        prefix: format!("{}:", unique(name)),
        ..StoreSettings::from_config(&config.store)
    };
    Arc::new(
        RedisStore::connect(&target, &RedisAuth::default(), settings)
            .await
            .expect("Redis answers on 127.0.0.1:6379"),
    )
}

/// The config's queue topology with every name made unique.
pub fn unique_topology(config: &Config, name: &str) -> Topology {
    let u = unique(name);
    Topology::new(
        &format!("{u}.x"),
        &format!("{u}.jobs"),
        &format!("{u}.dlq"),
        &format!("{u}.retry"),
        &config.backfill.requeue_delays,
    )
}

/// Quick reconnects for tests.
pub fn quick_backoff() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 1,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
        jitter: true,
    }
}

/// A RabbitMQ queue at `url` with the config's delays and unique names.
pub fn rabbit_queue(config: &Config, url: &str, name: &str) -> RabbitQueue {
    RabbitQueue::new(
        url.to_owned(),
        unique_topology(config, name),
        quick_backoff(),
    )
}

/// (metric, org, repo, user) -> value.
pub type Gauges = BTreeMap<(String, String, String, String), f64>;

/// The non-zero 24-hour activity gauges of the store.
pub async fn activity_gauges(store: &dyn Store) -> Gauges {
    activity_series(store, |v| v > 0.0).await
}

/// The 24-hour activity series of the store whose value `keep` accepts
/// (`|_| true`: the zeros too).
pub async fn activity_series(store: &dyn Store, keep: impl Fn(f64) -> bool) -> Gauges {
    store
        .snapshot()
        .await
        .unwrap()
        .series
        .into_iter()
        .filter(|(k, v)| Family::ACTIVITY_24H.contains(&k.family) && keep(*v))
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

/// The truth options of an exporter configured by default for `org`
/// (forks included, archived repositories and bots not).
pub fn default_truth(org: &str) -> TruthOptions {
    TruthOptions {
        org: Some(org.into()),
        include_forks: true,
        ..TruthOptions::default()
    }
}

/// What `org-a`'s 24-hour gauges must be at `now`, configured by default.
pub fn truth(sim: &Simulator, now: chrono::DateTime<chrono::Utc>) -> Gauges {
    sim.expected_24h(now, &default_truth("org-a"), |_| true)
}

/// The series in the store that `wanted` picks.
pub async fn series_where(
    store: &dyn Store,
    wanted: impl Fn(&SeriesKey) -> bool,
) -> Vec<(SeriesKey, f64)> {
    store
        .snapshot()
        .await
        .unwrap()
        .series
        .into_iter()
        .filter(|(k, _)| wanted(k))
        .collect()
}

/// The value of one series in the store (0 when absent).
pub async fn series_value(store: &dyn Store, family: Family, labels: &[&str]) -> f64 {
    series_where(store, |k| {
        k.family == family
            && k.labels
                .iter()
                .map(String::as_str)
                .eq(labels.iter().copied())
    })
    .await
    .first()
    .map_or(0.0, |(_, v)| *v)
}

/// Polls `done` every 50 ms for up to `limit`; true once it held.
pub async fn eventually<F, Fut>(limit: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done().await
}

/// (family, org, repo, user) -> value of the non-zero weekly LOC series.
pub async fn loc_gauges(store: &dyn Store) -> Gauges {
    series_where(store, |k| {
        matches!(k.family, Family::LocAddedWeekly | Family::LocRemovedWeekly)
    })
    .await
    .into_iter()
    .filter(|(_, v)| *v > 0.0)
    .map(|(k, v)| {
        let [org, repo, user] = [&k.labels[0], &k.labels[1], &k.labels[2]].map(Clone::clone);
        ((k.family.name().to_owned(), org, repo, user), v)
    })
    .collect()
}

/// The same from the simulator's truth at `now`.
pub fn loc_truth(
    sim: &Simulator,
    now: chrono::DateTime<chrono::Utc>,
    options: &TruthOptions,
) -> Gauges {
    let mut out = Gauges::new();
    for l in sim.loc_truth(now, options) {
        for (family, v) in [
            (Family::LocAddedWeekly, l.additions),
            (Family::LocRemovedWeekly, l.deletions),
        ] {
            if v > 0 {
                out.insert(
                    (
                        family.name().to_owned(),
                        l.org.clone(),
                        l.repo.clone(),
                        l.user.clone(),
                    ),
                    v as f64,
                );
            }
        }
    }
    out
}

/// The pull-request flow families of the store, keyed (family, org, repo,
/// third label: `le` of a histogram sample, `draft` of `gh_pr_open`, empty
/// for the age); non-zero values only.
pub async fn flow_gauges(store: &dyn Store) -> Gauges {
    const FLOW: [Family; 4] = [
        Family::PrLeadTime,
        Family::PrTimeToFirstReview,
        Family::PrOpen,
        Family::PrOldestOpenAge,
    ];
    series_where(store, |k| FLOW.contains(&k.family))
        .await
        .into_iter()
        .filter(|(_, v)| *v > 0.0)
        .map(|(k, v)| {
            let third = k.labels.get(2).cloned().unwrap_or_default();
            let key = (
                k.family.name().to_owned(),
                k.labels[0].clone(),
                k.labels[1].clone(),
                third,
            );
            (key, v)
        })
        .collect()
}

/// The same from the simulator's truth: observations in
/// `[options.observed_since, until)` bucketed by `rules`, open pull
/// requests at `now`.
pub fn flow_truth(
    sim: &Simulator,
    until: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    options: &TruthOptions,
    rules: &ghstats_store::FlowRules,
) -> Gauges {
    use ghstats_store::{FlowHistogram, HISTOGRAM_COUNT, HISTOGRAM_INF, HISTOGRAM_SUM};
    let mut out = Gauges::new();
    for row in sim.flow_truth(until, now, options) {
        let mut put = |family: Family, third: &str, v: u64| {
            if v > 0 {
                let key = (
                    family.name().to_owned(),
                    row.org.clone(),
                    row.repo.clone(),
                    third.to_owned(),
                );
                out.insert(key, v as f64);
            }
        };
        for (h, values) in [
            (FlowHistogram::LeadTime, &row.lead_time_seconds),
            (FlowHistogram::FirstReview, &row.first_review_seconds),
        ] {
            for b in rules.buckets(h) {
                let n = values.iter().filter(|v| **v <= *b).count() as u64;
                put(h.family(), &b.to_string(), n);
            }
            put(h.family(), HISTOGRAM_INF, values.len() as u64);
            put(h.family(), HISTOGRAM_COUNT, values.len() as u64);
            put(h.family(), HISTOGRAM_SUM, values.iter().sum());
        }
        put(Family::PrOpen, "false", row.open_ready);
        put(Family::PrOpen, "true", row.open_draft);
        put(Family::PrOldestOpenAge, "", row.oldest_open_age_seconds);
    }
    out
}

/// A key whose value differs: (series, got, wanted).
pub type GaugeDiff = ((String, String, String, String), Option<f64>, Option<f64>);

/// Where `got` and `want` differ, absent on either side included.
pub fn gauge_diff(got: &Gauges, want: &Gauges) -> Vec<GaugeDiff> {
    got.iter()
        .filter(|(k, v)| want.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), Some(*v), want.get(k).copied()))
        .chain(
            want.iter()
                .filter(|(k, _)| !got.contains_key(*k))
                .map(|(k, v)| (k.clone(), None, Some(*v))),
        )
        .collect()
}
