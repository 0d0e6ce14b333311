//! Webhooks against polling, in one run on this machine:
//! 1. event-to-`/metrics` lag (p50, p99) through the simulator's signed
//!    deliveries, the workers' intake, the store and a gateway, next to
//!    the polling path's lag at the default 5-minute interval (events at
//!    uniform times in the interval, each read by the next cycle, plus
//!    the measured cycle and the gateway's refresh);
//! 2. intake throughput with signature checks (deliveries/s), next to a
//!    minimal HTTP handler that only verifies the HMAC;
//! 3. counted GitHub requests in an hour for 500 repositories with 5%
//!    changing every 5 minutes: polling every 5 minutes, against
//!    webhooks with one reconciling scrape an hour.
//!
//! `cargo run --release -p ghstats-benches --bin webhooks`

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ghstats_core::Shutdown;
use ghstats_runtime::ServiceListeners;
use ghstats_simulator::hooks::HookKnobs;
use ghstats_simulator::{
    DEMO_APP_ID, DEMO_APP_PRIVATE_KEY, FIRST_INSTALLATION_ID, SimConfig, Simulator, WorldSpec,
};
use ghstats_store::{MemoryStore, Store, StoreSettings, WriteCtx};

const SECRET: &str = "bench-webhook-secret";

struct Setup {
    sim: Simulator,
    config: ghstats_config::Config,
    _dir: tempfile::TempDir,
}

async fn setup(repos: u32, shutdown: &Shutdown) -> Result<Setup> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim = Simulator::start(
        SimConfig {
            world: WorldSpec::one_org(repos, 30, 3),
            rate_limit: Some(100_000_000),
            ..SimConfig::default()
        },
        listener,
        shutdown,
    )
    .map_err(anyhow::Error::msg)?;
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("app.pem");
    std::fs::write(&key, DEMO_APP_PRIVATE_KEY)?;
    let yaml = format!(
        "github:\n  orgs:\n    - org: org-a\n      app_id: {DEMO_APP_ID}\n      installation_id: {FIRST_INSTALLATION_ID}\n      private_key_path: {}\n      api_base_url: {}\n      webhook_secret: {SECRET}\n      per_org_concurrency: 8\nwebhooks:\n  enabled: true\n",
        key.display(),
        sim.api_base()
    );
    let config = ghstats_config::load_str(&yaml, "bench.yaml", Vec::new())?;
    Ok(Setup {
        sim,
        config,
        _dir: dir,
    })
}

/// A worker (intake) and a gateway on `store`: (webhook, gateway HTTP).
async fn fleet(
    s: &Setup,
    store: &Arc<dyn Store>,
    shutdown: &Shutdown,
) -> Result<(std::net::SocketAddr, std::net::SocketAddr)> {
    let listeners = ServiceListeners::ephemeral()
        .await?
        .with_ephemeral_webhook()
        .await?;
    let hook = listeners.webhook_addr().context("webhook listener")?;
    let queue: Arc<dyn ghstats_queue::JobQueue> = Arc::new(ghstats_queue::MemoryQueue::new(
        ghstats_queue::Topology::from_config(&s.config.amqp, &s.config.backfill),
    ));
    let deps = ghstats_worker::Deps {
        store: store.clone(),
        queue,
        link: None,
    };
    tokio::spawn(ghstats_worker::serve_with(
        s.config.clone(),
        deps,
        listeners,
        shutdown.clone(),
    ));
    let g = ServiceListeners::ephemeral().await?;
    let gateway = g.http_addr();
    tokio::spawn(ghstats_gateway::serve_with(
        s.config.clone(),
        store.clone(),
        g,
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok((hook, gateway))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn scraper(
    s: &Setup,
    store: &Arc<dyn Store>,
    shutdown: &Shutdown,
) -> Result<Arc<ghstats_scheduler::org_loop::OrgController>> {
    let backfill: Arc<dyn ghstats_backfill::BackfillProducer> =
        Arc::new(ghstats_backfill::MemoryProducer::default());
    Ok(ghstats_scheduler::leader::controllers(
        &Arc::new(s.config.clone()),
        store,
        &backfill,
        &ghstats_core::Tenure::default(),
        shutdown,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?
    .remove(0))
}

async fn comments(gateway: std::net::SocketAddr, repo: &str, user: &str) -> f64 {
    let Ok(r) = reqwest::get(format!("http://{gateway}/metrics")).await else {
        return 0.0;
    };
    let body = r.text().await.unwrap_or_default();
    let needle =
        format!("gh_activity_issue_comments_24h{{org=\"org-a\",repo=\"{repo}\",user=\"{user}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn lag(shutdown: &Shutdown) -> Result<()> {
    let s = setup(8, shutdown).await?;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &s.config.store,
    )));
    let (hook, gateway) = fleet(&s, &store, shutdown).await?;
    let leader = scraper(&s, &store, shutdown)?;
    let started = Instant::now();
    leader.tick(WriteCtx::leader(0), s.sim.now()).await;
    let cycle = started.elapsed().as_secs_f64();
    s.sim.set_hooks(HookKnobs {
        urls: vec![format!("http://{hook}/webhooks/github")],
        secret: SECRET.into(),
        ..HookKnobs::default()
    });
    let user = s.sim.user_logins()[0].clone();
    let mut lags = Vec::new();
    for i in 0..100 {
        let repo = format!("repo-{:03}", i % 8);
        let before = comments(gateway, &repo, &user).await;
        let t = Instant::now();
        s.sim
            .add_event(&ghstats_simulator::Event {
                org: "org-a",
                repo: &repo,
                kind: "comment",
                user: Some(&user),
                ..Default::default()
            })
            .map_err(anyhow::Error::msg)?;
        while comments(gateway, &repo, &user).await <= before {
            if t.elapsed() > Duration::from_secs(30) {
                anyhow::bail!("event {i} never reached /metrics");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        lags.push(t.elapsed().as_secs_f64());
    }
    lags.sort_by(f64::total_cmp);
    // Polling: an event at a uniform time in the 300 s interval waits for
    // the next cycle, then that cycle and a gateway refresh (0.25 s).
    let mut polled: Vec<f64> = (0..1000)
        .map(|i| 300.0 * (1.0 - (f64::from(i) + 0.5) / 1000.0) + cycle + 0.25)
        .collect();
    polled.sort_by(f64::total_cmp);
    println!(
        "event-to-/metrics lag ({} events)      p50        p99",
        lags.len()
    );
    println!(
        "  webhooks                       {:>8.3} s {:>8.3} s",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99)
    );
    println!(
        "  polling every 5 min            {:>8.1} s {:>8.1} s  (cycle measured: {cycle:.3} s)",
        percentile(&polled, 0.5),
        percentile(&polled, 0.99)
    );
    Ok(())
}

/// Signed comment deliveries, each a new comment and delivery id.
fn deliveries(n: usize) -> Vec<(String, Vec<u8>, String)> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    (0..n)
        .map(|i| {
            let body = serde_json::json!({
                "action": "created",
                "comment": { "id": 50_000_000 + i, "user": { "login": format!("u{}", i % 50), "id": i % 50 + 1, "type": "User" }, "created_at": now, "updated_at": now },
                "issue": { "number": 1 },
                "repository": { "name": format!("repo-{:03}", i % 8), "owner": { "login": "org-a" }, "default_branch": "main" },
                "organization": { "login": "org-a" },
            })
            .to_string()
            .into_bytes();
            let sig = ghstats_simulator::hooks::sign(SECRET, &body);
            (format!("bench-{i}"), body, sig)
        })
        .collect()
}

async fn blast(url: &str, load: &Arc<Vec<(String, Vec<u8>, String)>>) -> Result<f64> {
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (client, load, next, url) =
            (client.clone(), load.clone(), next.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((id, body, sig)) = load.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                let r = client
                    .post(&url)
                    .header("x-github-event", "issue_comment")
                    .header("x-github-delivery", id)
                    .header("x-hub-signature-256", sig)
                    .body(body.clone())
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "status {}", r.status());
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(load.len() as f64 / started.elapsed().as_secs_f64())
}

async fn throughput(shutdown: &Shutdown) -> Result<()> {
    let s = setup(8, shutdown).await?;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &s.config.store,
    )));
    let (hook, _) = fleet(&s, &store, shutdown).await?;
    let load = Arc::new(deliveries(20_000));
    // The baseline: verify the HMAC, answer 200.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let minimal = listener.local_addr()?;
    let key = ghstats_github::webhook::Signatures::new([SECRET]);
    let app = axum::Router::new().route(
        "/webhooks/github",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
            let key = key.clone();
            async move {
                let sig = headers
                    .get("x-hub-signature-256")
                    .and_then(|v| v.to_str().ok());
                match key.verify(sig, &body) {
                    Ok(_) => axum::http::StatusCode::OK,
                    Err(_) => axum::http::StatusCode::UNAUTHORIZED,
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let ours = blast(&format!("http://{hook}/webhooks/github"), &load).await?;
    let base = blast(&format!("http://{minimal}/webhooks/github"), &load).await?;
    println!("intake throughput (20,000 signed deliveries, 32 connections, memory store)");
    println!("  ghstats intake                 {ours:>8.0} deliveries/s");
    println!(
        "  minimal HMAC handler           {base:>8.0} deliveries/s  ({:.2}x of it)",
        ours / base
    );
    Ok(())
}

fn counted(sim: &Simulator) -> usize {
    sim.requests().iter().filter(|r| r.counted).count()
}

async fn hour(webhooks: bool, shutdown: &Shutdown) -> Result<usize> {
    let s = setup(500, shutdown).await?;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &s.config.store,
    )));
    let leader = scraper(&s, &store, shutdown)?;
    for _ in 0..3 {
        leader.tick(WriteCtx::leader(0), s.sim.now()).await;
        s.sim.advance_clock(chrono::Duration::minutes(6));
    }
    if webhooks {
        let (hook, _) = fleet(&s, &store, shutdown).await?;
        s.sim.set_hooks(HookKnobs {
            urls: vec![format!("http://{hook}/webhooks/github")],
            secret: SECRET.into(),
            ..HookKnobs::default()
        });
    }
    s.sim.clear_requests();
    let kinds = ["commit", "pull", "comment"];
    let mut pick: u64 = 7;
    for period in 0..12 {
        for i in 0..25 {
            pick = pick
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let repo = format!("repo-{:03}", (pick >> 33) % 500);
            s.sim
                .add_activity("org-a", &repo, kinds[(period + i) % 3])
                .map_err(anyhow::Error::msg)?;
        }
        if !webhooks {
            leader.tick(WriteCtx::leader(0), s.sim.now()).await;
        }
        s.sim.advance_clock(chrono::Duration::minutes(5));
    }
    if webhooks {
        // Every delivery answered, then the hour's reconciling scrape.
        let mut seen = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = s.sim.hook_deliveries().len();
            if now == seen {
                break;
            }
            seen = now;
        }
        leader.tick(WriteCtx::leader(0), s.sim.now()).await;
    }
    Ok(counted(&s.sim))
}

#[tokio::main]
async fn main() -> Result<()> {
    let shutdown = Shutdown::new();
    lag(&shutdown).await?;
    throughput(&shutdown).await?;
    let off = hour(false, &shutdown).await?;
    let on = hour(true, &shutdown).await?;
    println!("counted GitHub requests in one hour, 500 repositories, 25 changing every 5 minutes");
    println!("  polling every 5 minutes        {off:>8}");
    println!(
        "  webhooks, reconciling hourly   {on:>8}  ({:.0}% of polling)",
        100.0 * on as f64 / off as f64
    );
    shutdown.trigger();
    Ok(())
}
