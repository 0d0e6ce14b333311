//! Rate-limited GitHub requests per scrape cycle for a 500-repository org
//! in which 5% of the repositories change between cycles, for ghstats'
//! scrape engine and for the naive pattern (re-list every pull request,
//! review and comment of every repository each cycle), both against the
//! same simulator in the same run; and what the pull-request flow's open
//! listing adds, next to the same engine with `pull_requests.enabled: false`.
//!
//! `cargo run --release -p ghstats-benches --bin scrape_cost [repos] [cycles]`

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use ghstats_backfill::MemoryProducer;
use ghstats_config::{Config, OrgConfig};
use ghstats_core::Shutdown;
use ghstats_github::{ClientOptions, Credentials, EtagCache, GithubClient, Validator};
use ghstats_scrape::{OrgScraper, StoreEtagCache};
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator, WorldSpec};
use ghstats_store::{MemoryStore, Store, StoreSettings, WriteCtx};

/// A cache that forgets: the naive pattern sends no `If-None-Match`.
#[derive(Debug)]
struct NoCache;

#[ghstats_github::async_trait]
impl EtagCache for NoCache {
    async fn get(&self, _: &str) -> Option<Validator> {
        None
    }
    async fn put(&self, _: &str, _: Validator) {}
}

fn client(sim: &Simulator, etags: Arc<dyn EtagCache>, shutdown: &Shutdown) -> Result<GithubClient> {
    Ok(GithubClient::new(
        ClientOptions::with_defaults(
            "org-a",
            sim.api_base().parse()?,
            Credentials::Token(ghstats_config::Secret::new(DEMO_TOKEN)),
            etags,
            shutdown.token().clone(),
        )
        .quick(),
    )?)
}

fn counted(sim: &Simulator) -> usize {
    sim.requests().iter().filter(|r| r.counted).count()
}

/// The naive cycle: every PR, review and comment of every repository.
async fn naive_cycle(c: &GithubClient, now: DateTime<Utc>) -> Result<()> {
    let repos = c.list_org_repos().await?.items;
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    for r in repos {
        c.list_commits(&r.name, now - chrono::Duration::hours(24), now)
            .await?;
        for pr in c.list_pulls_updated_since(&r.name, epoch).await?.items {
            c.list_reviews(&r.name, pr.number, epoch).await?;
        }
        c.list_issue_comments(&r.name, epoch).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let repos: u32 = args
        .get(1)
        .map_or(Ok(500), |a| a.parse())
        .context("repos")?;
    let cycles: usize = args.get(2).map_or(Ok(3), |a| a.parse()).context("cycles")?;
    let changed_per_cycle = (repos as usize).div_ceil(20);
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim_config = SimConfig {
        world: WorldSpec::one_org(repos, 30, 3),
        rate_limit: Some(100_000_000),
        ..SimConfig::default()
    };
    let sim = Simulator::start(sim_config, listener, &shutdown).map_err(anyhow::Error::msg)?;

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &Config::default().store,
    )));
    let ours = client(
        &sim,
        Arc::new(StoreEtagCache::new(
            store.clone(),
            Duration::from_secs(86400),
        )),
        &shutdown,
    )?;
    let org = OrgConfig {
        org: "org-a".into(),
        token_env: Some("UNUSED".into()),
        per_org_concurrency: 8,
        ..OrgConfig::default()
    };
    let scraper = OrgScraper::new(
        ours,
        store.clone(),
        Arc::new(MemoryProducer::default()),
        org.clone(),
        Arc::new(Config::default()),
    );
    // The same engine without the pull-request flow, on a store of its own.
    let flowless_store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &Config::default().store,
    )));
    let mut flowless_config = Config::default();
    flowless_config.pull_requests.enabled = false;
    let flowless = OrgScraper::new(
        client(
            &sim,
            Arc::new(StoreEtagCache::new(
                flowless_store.clone(),
                Duration::from_secs(86400),
            )),
            &shutdown,
        )?,
        flowless_store,
        Arc::new(MemoryProducer::default()),
        org,
        Arc::new(flowless_config),
    );
    let naive = client(&sim, Arc::new(NoCache), &shutdown)?;

    // Warm-up: the first cycle lists everything; GitHub computes
    // contributor stats, which are fetched again ten minutes later and
    // then once a day (`loc.refresh_interval`).
    let mut now = sim.now();
    for _ in 0..3 {
        scraper.run_cycle(WriteCtx::leader(0), now).await?;
        flowless.run_cycle(WriteCtx::leader(0), now).await?;
        sim.advance_clock(chrono::Duration::minutes(6));
        now = sim.now();
    }

    let names: Vec<String> = (0..repos).map(|i| format!("repo-{i:03}")).collect();
    let kinds = ["commit", "pull", "comment"];
    let (mut ours_total, mut naive_total, mut list_pages) = (0usize, 0usize, 0usize);
    let (mut open_listings, mut flowless_total) = (0usize, 0usize);
    for cycle in 0..cycles {
        for (i, name) in names
            .iter()
            .cycle()
            .skip(cycle * changed_per_cycle)
            .take(changed_per_cycle)
            .enumerate()
        {
            sim.add_activity("org-a", name, kinds[i % kinds.len()])
                .map_err(anyhow::Error::msg)?;
        }
        sim.clear_requests();
        scraper.run_cycle(WriteCtx::leader(0), now).await?;
        let c = counted(&sim);
        list_pages += sim
            .requests()
            .iter()
            .filter(|r| r.endpoint == "list_org_repos" && r.counted)
            .count();
        open_listings += sim
            .requests()
            .iter()
            .filter(|r| r.counted && r.path.contains("state=open"))
            .count();
        ours_total += c;
        sim.clear_requests();
        flowless.run_cycle(WriteCtx::leader(0), now).await?;
        flowless_total += counted(&sim);
        sim.clear_requests();
        naive_cycle(&naive, now).await?;
        naive_total += counted(&sim);
        sim.advance_clock(chrono::Duration::minutes(5));
        now = sim.now();
    }
    // Nothing changed since the last cycle (and its pushes are over a
    // minute old): an unchanged org.
    sim.advance_clock(chrono::Duration::minutes(5));
    now = sim.now();
    scraper.run_cycle(WriteCtx::leader(0), now).await?;
    sim.advance_clock(chrono::Duration::minutes(5));
    now = sim.now();
    sim.clear_requests();
    scraper.run_cycle(WriteCtx::leader(0), now).await?;
    let unchanged = counted(&sim);
    let unchanged_free_open = sim
        .requests()
        .iter()
        .filter(|r| !r.counted && r.path.contains("state=open"))
        .count();
    let ours_per_cycle = ours_total as f64 / cycles as f64;
    let naive_per_cycle = naive_total as f64 / cycles as f64;
    println!(
        "scrape cost: {repos} repositories, {changed_per_cycle} changed per cycle, {cycles} measured cycles"
    );
    println!("{:<34} {:>14} {:>16}", "", "per cycle", "per hour (5 min)");
    println!(
        "{:<34} {:>14.1} {:>16.0}",
        "ghstats (rate-limited requests)",
        ours_per_cycle,
        ours_per_cycle * 12.0
    );
    println!(
        "{:<34} {:>14.1} {:>16.0}",
        "naive re-listing (same simulator)",
        naive_per_cycle,
        naive_per_cycle * 12.0
    );
    println!(
        "per changed repository: {:.2} requests (+ {:.1} counted repo-list pages per cycle)",
        (ours_per_cycle - list_pages as f64 / cycles as f64) / changed_per_cycle as f64,
        list_pages as f64 / cycles as f64
    );
    println!(
        "{:<34} {:>14.1} {:>16.0}",
        "ghstats, pull_requests off",
        flowless_total as f64 / cycles as f64,
        flowless_total as f64 / cycles as f64 * 12.0
    );
    println!(
        "pull-request flow adds {:.2} counted requests per changed repository ({:.1} open listings per cycle, {:.2} per changed repository)",
        (ours_total as f64 - flowless_total as f64) / (cycles * changed_per_cycle) as f64,
        open_listings as f64 / cycles as f64,
        open_listings as f64 / (cycles * changed_per_cycle) as f64
    );
    println!(
        "unchanged org: {unchanged} counted requests per cycle ({unchanged_free_open} open listings answered 304)"
    );
    println!(
        "ratio naive / ghstats: {:.1}x",
        naive_per_cycle / ours_per_cycle.max(1.0)
    );
    shutdown.trigger();
    Ok(())
}
