//! The scrape engine against the simulator and a store: after one cycle the
//! 24h gauges equal the simulator's ground truth; a second cycle changes
//! nothing and spends no counted request, its 304s answered from stored
//! validators that hold no body; a replayed window changes
//! nothing; a day later every 24h gauge reads 0; bots never appear.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use ghstats_backfill::MemoryProducer;
use ghstats_config::{Config, OrgConfig};
use ghstats_core::Shutdown;
use ghstats_github::{ClientOptions, Credentials, EtagCache, GithubClient, Validator};
use ghstats_scrape::{OrgScraper, StoreEtagCache};
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator, TruthOptions};
use ghstats_store::{
    BlobKind, Family, MemoryStore, RedisAuth, RedisStore, RedisTarget, Store, StoreSettings,
    WriteCtx,
};
use ghstats_testkit::{Gauges, activity_series};

/// A user the deny list removes, besides the bots.
const DENIED: &str = "user-003";

/// The store's validator cache, noting every URL it keeps a validator for.
#[derive(Debug)]
struct Noted {
    inner: StoreEtagCache,
    urls: Mutex<BTreeSet<String>>,
}

#[ghstats_github::async_trait]
impl EtagCache for Noted {
    async fn get(&self, key: &str) -> Option<Validator> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, validator: Validator) {
        self.urls.lock().unwrap().insert(key.to_owned());
        self.inner.put(key, validator).await;
    }
}

struct World {
    sim: Simulator,
    validators: Arc<Noted>,
    store: Arc<dyn Store>,
    scrapers: Vec<OrgScraper>,
    backfill: Arc<MemoryProducer>,
    _shutdown: Shutdown,
}

fn settings(prefix: &str) -> StoreSettings {
    StoreSettings {
        prefix: prefix.into(),
        shards: 16,
        retention: Duration::from_secs(30 * 86400),
        max_series: 1_000_000,
        change_log_len: 100_000,
    }
}

async fn world(store: Arc<dyn Store>) -> World {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(SimConfig::default(), listener, &shutdown).unwrap();
    let mut config = Config::default();
    config.github.user_denylist.push(DENIED.into());
    config.loc.refresh_interval = "1h".parse().unwrap();
    let config = Arc::new(config);
    let backfill = Arc::new(MemoryProducer::default());
    let validators = Arc::new(Noted {
        inner: StoreEtagCache::new(store.clone(), Duration::from_secs(3600)),
        urls: Mutex::default(),
    });
    let scrapers = sim
        .installations()
        .into_iter()
        .map(|(org, _)| {
            let options = ClientOptions::with_defaults(
                &org,
                sim.api_base().parse().unwrap(),
                Credentials::Token(ghstats_config::Secret::new(DEMO_TOKEN)),
                validators.clone(),
                shutdown.token().clone(),
            )
            .quick();
            let org_config = OrgConfig {
                org,
                token_env: Some("UNUSED".into()),
                ..OrgConfig::default()
            };
            OrgScraper::new(
                GithubClient::new(options).unwrap(),
                store.clone(),
                backfill.clone(),
                org_config,
                config.clone(),
            )
        })
        .collect();
    World {
        sim,
        validators,
        store,
        scrapers,
        backfill,
        _shutdown: shutdown,
    }
}

fn now_of(sim: &Simulator) -> DateTime<Utc> {
    sim.now()
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap()
}

/// The 24h families in the store (zeros included).
async fn gauges(store: &dyn Store) -> Gauges {
    activity_series(store, |_| true).await
}

/// The truth options of this test's exporter (forks included, as by default).
fn options() -> TruthOptions {
    TruthOptions {
        include_forks: true,
        ..TruthOptions::default()
    }
}

/// The same map from the simulator's truth, without the denied user.
fn expected(sim: &Simulator, now: DateTime<Utc>) -> Gauges {
    sim.expected_24h(now, &options(), |r| r.user != DENIED)
}

async fn cycle(w: &World, now: DateTime<Utc>) {
    for s in &w.scrapers {
        let report = s.run_cycle(WriteCtx::leader(0), now).await.unwrap();
        assert!(report.failures.is_empty(), "{:?}", report.failures);
    }
}

async fn scenario(store: Arc<dyn Store>) {
    let w = world(store).await;
    let now = now_of(&w.sim);
    cycle(&w, now).await;

    let got: BTreeMap<_, _> = gauges(&*w.store)
        .await
        .into_iter()
        .filter(|(_, v)| *v > 0.0)
        .collect();
    let want = expected(&w.sim, now);
    assert!(!want.is_empty());
    assert_eq!(got, want, "the 24h gauges equal the ground truth");
    let all = w.store.snapshot().await.unwrap().series;
    assert!(
        all.iter()
            .all(|(k, _)| !k.labels.iter().any(|l| l.ends_with("[bot]"))),
        "no bot series"
    );
    assert!(
        all.iter()
            .all(|(k, _)| !k.labels.iter().any(|l| l == DENIED)),
        "no series of a denied user"
    );

    // The leader shares each org's rate budget through the store.
    let budget = ghstats_scrape::org_state::shared(&*w.store, "org-a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(budget.limit, 5000);
    assert!(budget.remaining < 5000);

    // A second cycle over the unchanged world: nothing changes, nothing is counted.
    let before = w.store.snapshot().await.unwrap();
    w.sim.clear_requests();
    cycle(&w, now).await;
    let requests = w.sim.requests();
    let counted: Vec<_> = requests.iter().filter(|r| r.counted).collect();
    assert!(
        counted.is_empty(),
        "an unchanged org costs no counted request: {counted:#?}"
    );
    assert!(
        requests.iter().any(|r| r.status == 304),
        "the unchanged cycle was answered by 304s"
    );
    assert_eq!(
        gauges(&*w.store).await,
        before
            .series
            .iter()
            .filter(|(k, _)| Family::ACTIVITY_24H.contains(&k.family))
            .map(|(k, v)| (
                (
                    k.family.name().to_owned(),
                    k.labels[0].clone(),
                    k.labels[1].clone(),
                    k.labels[2].clone()
                ),
                *v
            ))
            .collect()
    );

    // Those 304s were answered from validators alone: a stored entry is a
    // validator with a small memo, never the body it validated.
    let urls = w.validators.urls.lock().unwrap().clone();
    assert!(
        urls.len() > w.scrapers.len(),
        "validators were kept: {urls:?}"
    );
    let client = w.scrapers[0].client();
    let mut large = 0;
    for url in &urls {
        let (entry, _) = StoreEtagCache::entry_of(url);
        let stored = w
            .store
            .get_blob(BlobKind::Etag, entry)
            .await
            .unwrap()
            .unwrap();
        let validator = w.validators.inner.get(url).await.expect("a validator");
        assert!(!validator.etag.is_empty());
        let whole = client
            .get_with("test", url.parse().unwrap(), false)
            .await
            .unwrap();
        let body = &whole.body[..];
        assert!(
            !stored.windows(body.len()).any(|w| w == body),
            "{url}: the stored entry holds the body"
        );
        if body.len() > 1024 {
            large += 1;
            let size = validator.encode().len();
            assert!(
                size * 4 < body.len(),
                "{url}: a {size}-byte validator for a {}-byte body",
                body.len()
            );
        }
    }
    assert!(large > 0, "some validated bodies were large");

    // Replaying an overlapping window (a worker's backfill) changes nothing.
    let scraper = &w.scrapers[0];
    let window = ghstats_proto::TimeWindow::new(
        now - chrono::Duration::hours(30),
        now + chrono::Duration::seconds(1),
    )
    .unwrap();
    let mut github = Config::default().github;
    github.user_denylist.push(DENIED.into());
    let attribution = ghstats_scrape::Attribution::from_config(&github);
    let replay = ghstats_scrape::scrape_activity(
        scraper.client(),
        &attribution,
        "repo-000",
        window,
        ghstats_scrape::Fetch::Window,
        false,
    )
    .await;
    assert!(!replay.events.is_empty());
    let report = w
        .store
        .record_activity(
            WriteCtx::worker(),
            scraper.org(),
            "repo-000",
            &replay.events,
            now,
        )
        .await
        .unwrap();
    assert_eq!(report.changed, 0, "a replayed window changes nothing");

    // Once GitHub has computed the stats, weekly LOC equals the truth of
    // the last complete week (zeroed and never-ready repositories aside).
    let loc_time = now + chrono::Duration::minutes(15);
    cycle(&w, loc_time).await;
    let loc: BTreeMap<(String, String, String), f64> = w
        .store
        .snapshot()
        .await
        .unwrap()
        .series
        .into_iter()
        .filter(|(k, v)| k.family == Family::LocAddedWeekly && *v > 0.0)
        .map(|(k, v)| {
            (
                (
                    k.labels[0].clone(),
                    k.labels[1].clone(),
                    k.labels[2].clone(),
                ),
                v,
            )
        })
        .collect();
    let want_loc: BTreeMap<(String, String, String), f64> = w
        .sim
        .loc_truth(loc_time, &options())
        .into_iter()
        .filter(|l| l.user != DENIED && l.additions > 0)
        .map(|l| ((l.org, l.repo, l.user), l.additions as f64))
        .collect();
    assert_eq!(loc, want_loc, "weekly LOC equals the ground truth");

    // 25 hours later with no new activity every 24h gauge reads 0.
    let later = now + chrono::Duration::hours(25);
    w.sim.advance_clock(chrono::Duration::hours(25));
    cycle(&w, later).await;
    let after = gauges(&*w.store).await;
    assert!(!after.is_empty());
    assert!(
        after.values().all(|v| *v == 0.0),
        "gauges fall to 0: {after:?}"
    );
    assert!(w.backfill.requests().is_empty());
}

#[tokio::test]
async fn scrape_matches_ground_truth_on_the_memory_store() {
    scenario(Arc::new(MemoryStore::new(settings("")))).await;
}

#[tokio::test]
async fn scrape_matches_ground_truth_on_redis() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("test:scrape:{}:{nanos}:", std::process::id());
    let target = RedisTarget::Standalone {
        addr: "127.0.0.1:6379".into(),
        tls: false,
    };
    let store = Arc::new(
        RedisStore::connect(&target, &RedisAuth::default(), settings(&prefix))
            .await
            .unwrap(),
    );
    scenario(store.clone()).await;
    store.delete_all_keys().await.unwrap();
}
