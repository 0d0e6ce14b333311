//! Memory of reading a large Copilot users report: the simulator serves a
//! 28-day users report of about 100,000 NDJSON lines (split over two
//! links, one gzip), ghstats reads it into the real Redis through the
//! store crate, and the program prints the lines, series, time and the
//! process's peak resident-memory growth. As a baseline it then downloads
//! the same links whole into memory (what a reader that buffers the
//! report needs) and prints the ratio.
//!
//! `cargo run --release -p ghstats-benches --bin copilot_report [-- LINES]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use ghstats_core::Shutdown;
use ghstats_scrape::copilot::{CopilotScraper, Scope, Window};
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator};
use ghstats_store::{RedisAuth, RedisStore, RedisTarget, Store, StoreSettings, WriteCtx};

fn rss_bytes() -> u64 {
    ghstats_runtime::process_metrics::read_proc_stat().map_or(0, |p| p.resident_bytes)
}

/// Samples the resident size every 5 ms while `work` runs; returns its
/// output and the peak growth over the size before it started.
async fn peak_growth<T>(work: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = rss_bytes();
    let peak = Arc::new(AtomicU64::new(before));
    let stop = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while stop.load(Ordering::Relaxed) == 0 {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let out = work.await;
    peak.fetch_max(rss_bytes(), Ordering::Relaxed);
    stop.store(1, Ordering::Relaxed);
    let _ = sampler.await;
    (out, peak.load(Ordering::Relaxed).saturating_sub(before))
}

fn mb(b: u64) -> f64 {
    b as f64 / 1_048_576.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let lines: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()
        .context("LINES must be a number")?
        .unwrap_or(100_000);
    let shutdown = Shutdown::new();
    // 28 days, each user active on about 70 % of them.
    let users = (f64::from(lines) / (28.0 * 0.7)).ceil() as u32;
    let sim_config = SimConfig {
        copilot_extra_users: users,
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim = Simulator::start(sim_config, listener, &shutdown).map_err(anyhow::Error::msg)?;
    let dir = tempfile::tempdir()?;
    let token = dir.path().join("token");
    std::fs::write(&token, DEMO_TOKEN)?;
    let yaml = format!(
        "github:\n  orgs:\n    - org: org-a\n      token_file: {}\n      api_base_url: {}\n\
         copilot:\n  enabled: true\n  include_org_28d: false\n  include_org_users_28d: true\n  \
         download_host_allowlist: [localhost]\n",
        token.display(),
        sim.api_base()
    );
    let config = Arc::new(ghstats_config::load_str(&yaml, "bench.yaml", Vec::new())?);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let settings = StoreSettings {
        prefix: format!("bench:copilot:{nanos}:"),
        ..StoreSettings::from_config(&config.store)
    };
    let target = RedisTarget::Standalone {
        addr: "127.0.0.1:6379".into(),
        tls: false,
    };
    let redis = Arc::new(RedisStore::connect(&target, &RedisAuth::default(), settings).await?);
    let store: Arc<dyn Store> = redis.clone();
    let (_, client) =
        ghstats_scrape::clients::org_clients(&config, &store, shutdown.token())?.remove(0);
    let copilot = CopilotScraper::new(store.clone(), None, config.clone(), None)?;

    let started = Instant::now();
    let (run, growth) = peak_growth(copilot.run_report(
        &client,
        "org-a",
        Scope::OrgUsers,
        Window::Days28,
        WriteCtx::leader(0),
        Utc::now(),
    ))
    .await;
    let run = run?;
    let elapsed = started.elapsed();
    anyhow::ensure!(run.error.is_none(), "report failed: {:?}", run.error);
    let parsed = ghstats_store::SeriesKey::new(
        ghstats_store::Family::CopilotRecordsParsed,
        ["org-a", "users"],
    );
    let records = store
        .snapshot()
        .await?
        .series
        .into_iter()
        .find(|(k, _)| *k == parsed)
        .map_or(0.0, |(_, v)| v);

    // Baseline: the same links downloaded whole.
    let links = client
        .copilot_report_links(
            &Scope::OrgUsers.path("org-a", Window::Days28),
            None,
            Duration::from_secs(30),
        )
        .await?;
    let http = reqwest::Client::new();
    let (bodies, baseline) = peak_growth(async {
        let mut kept = Vec::new();
        for link in &links.download_links {
            kept.push(http.get(link).send().await?.bytes().await?);
        }
        Ok::<_, reqwest::Error>(kept)
    })
    .await;
    let bytes: usize = bodies?.iter().map(|b| b.len()).sum();

    println!("Copilot users report, {users} users x 28 days");
    println!("  records read            {records:>12.0}");
    println!("  series written          {:>12}", run.series);
    println!(
        "  time                    {:>10.2} s",
        elapsed.as_secs_f64()
    );
    println!("  resident growth (peak)  {:>10.1} MB", mb(growth));
    println!(
        "  baseline: download whole ({} MB of NDJSON)",
        bytes / 1_048_576
    );
    println!("  baseline growth (peak)  {:>10.1} MB", mb(baseline));
    println!(
        "  ratio ours / baseline   {:>10.2}",
        growth as f64 / baseline.max(1) as f64
    );
    redis.delete_all_keys().await?;
    shutdown.trigger();
    Ok(())
}
