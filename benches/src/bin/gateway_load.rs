//! The gateway at scale, against the real Redis (127.0.0.1:6379): loads N
//! series through the store crate, starts a gateway, and prints the full
//! load time, `/metrics` latency percentiles under 4 concurrent scrapers
//! (plain and gzip), body sizes, resident memory per series, and the lag
//! from a store write to the exposition. The same bytes are served by a
//! minimal static HTTP server in the same run; the ratio of the p95s is
//! printed.
//!
//! `cargo run --release -p ghstats-benches --bin gateway_load -- 100000 1000000`

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use chrono::Utc;
use ghstats_core::{HealthRegistry, Shutdown};
use ghstats_gateway::cache::Published;
use ghstats_gateway::refresh::{RefreshMetrics, Refresher};
use ghstats_gateway::render::Format;
use ghstats_runtime::ServiceListeners;
use ghstats_store::{
    Family, RedisAuth, RedisStore, RedisTarget, SeriesKey, Store, StoreSettings, WriteCtx,
};

const SCRAPERS: usize = 4;

fn rss_bytes() -> u64 {
    ghstats_runtime::process_metrics::read_proc_stat().map_or(0, |p| p.resident_bytes)
}

fn series(i: usize) -> SeriesKey {
    // 10 orgs x 1,000 repositories x 100 users spread the labels like a
    // large installation.
    let (org, rest) = (i % 10, i / 10);
    SeriesKey::new(
        Family::Commits24h,
        [
            format!("org-{org}"),
            format!("repo-{:04}", rest % 1000),
            format!("user-{:05}", rest / 1000),
        ],
    )
}

async fn load(store: &RedisStore, n: usize) -> Result<()> {
    let now = Utc::now();
    let mut batch = Vec::with_capacity(5000);
    for i in 0..n {
        batch.push((series(i), (i % 17) as f64));
        if batch.len() == 5000 {
            store.set_gauges(WriteCtx::worker(), &batch, now).await?;
            batch.clear();
        }
    }
    store.set_gauges(WriteCtx::worker(), &batch, now).await?;
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// p50, p95, p99 of GETs from `SCRAPERS` concurrent clients.
async fn latencies(
    url: &str,
    gzip: bool,
    requests_each: usize,
) -> Result<(Duration, Duration, Duration, usize)> {
    let mut tasks = Vec::new();
    for _ in 0..SCRAPERS {
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut times = Vec::new();
            let mut size = 0;
            for _ in 0..requests_each {
                let mut req = client
                    .get(&url)
                    .header("accept", "application/openmetrics-text;version=1.0.0");
                if gzip {
                    req = req.header("accept-encoding", "gzip");
                }
                let started = Instant::now();
                let body = req.send().await?.bytes().await?;
                times.push(started.elapsed());
                size = body.len();
            }
            Ok::<_, reqwest::Error>((times, size))
        }));
    }
    let mut all = Vec::new();
    let mut size = 0;
    for t in tasks {
        let (times, s) = t.await??;
        all.extend(times);
        size = s;
    }
    all.sort();
    Ok((
        percentile(&all, 0.5),
        percentile(&all, 0.95),
        percentile(&all, 0.99),
        size,
    ))
}

/// A minimal server answering every GET with `body` (the baseline).
async fn static_server(
    body: Bytes,
    gz: Bytes,
    shutdown: &Shutdown,
) -> Result<std::net::SocketAddr> {
    use axum::http::{HeaderMap, header};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: HeaderMap| {
            let gzip = headers
                .get(header::ACCEPT_ENCODING)
                .is_some_and(|v| v.to_str().unwrap_or("").contains("gzip"));
            let body = if gzip { gz.clone() } else { body.clone() };
            async move { body }
        }),
    );
    let stop = shutdown.clone();
    shutdown.spawn("static_server", async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.triggered().await })
            .await
    });
    Ok(addr)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run(n: usize) -> Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let settings = StoreSettings {
        prefix: format!("bench:gateway:{nanos}:"),
        shards: 128,
        retention: Duration::from_secs(86400),
        max_series: 100_000_000,
        change_log_len: 100_000,
    };
    let target = RedisTarget::Standalone {
        addr: "127.0.0.1:6379".into(),
        tls: false,
    };
    let store = Arc::new(RedisStore::connect(&target, &RedisAuth::default(), settings).await?);
    let started = Instant::now();
    load(&store, n).await?;
    println!(
        "\n== {n} series (written through the store crate in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let shutdown = Shutdown::new();
    // The gateway's cache, as `ghstats_gateway::serve_with` builds it.
    let rss_before = rss_bytes();
    let published = Published::default();
    let health = HealthRegistry::new("gateway");
    let replica = ghstats_gateway::cache::ReplicaBlock::default();
    let refresher = Refresher {
        replica: replica.clone(),
        store: store.clone(),
        published: published.clone(),
        health: health.clone(),
        metrics: RefreshMetrics::default(),
        full_every: None,
        control: Default::default(),
    };
    let started = Instant::now();
    let mut cache = None;
    refresher
        .step(&mut cache)
        .await
        .map_err(anyhow::Error::msg)?;
    let full_load = started.elapsed();
    let rss_after = rss_bytes();
    println!(
        "full load: {:.2} s; gateway memory: {:.0} bytes per series (resident growth)",
        full_load.as_secs_f64(),
        (rss_after.saturating_sub(rss_before)) as f64 / n as f64
    );

    // Serve it through the real HTTP handler.
    let listeners = ServiceListeners::ephemeral().await?;
    let addr = listeners.http_addr();
    let mut host = ghstats_runtime::ServiceHost::new("gateway", "/metrics/process");
    host.http = ghstats_gateway::http::routes(ghstats_gateway::http::MetricsState {
        published: published.clone(),
        replica,
    });
    let s = shutdown.clone();
    shutdown.spawn("gateway", async move { host.serve(listeners, s).await });
    let exposition = published.current();
    let plain = Bytes::from(exposition.concat(Format::OpenMetrics));
    let gz = Bytes::from(
        exposition
            .gzipped(Format::OpenMetrics)
            .ok_or_else(|| anyhow::anyhow!("the exposition could not be compressed"))?,
    );
    let baseline = static_server(plain.clone(), gz.clone(), &shutdown).await?;
    let requests_each = if n >= 500_000 { 10 } else { 40 };

    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>12}",
        "/metrics", "p50 ms", "p95 ms", "p99 ms", "body bytes"
    );
    for gzip in [false, true] {
        let label = if gzip { "gzip" } else { "plain" };
        let g = latencies(&format!("http://{addr}/metrics"), gzip, requests_each).await?;
        let b = latencies(&format!("http://{baseline}/metrics"), gzip, requests_each).await?;
        println!(
            "{:<22} {:>10.1} {:>10.1} {:>10.1} {:>12}",
            format!("gateway ({label})"),
            ms(g.0),
            ms(g.1),
            ms(g.2),
            g.3
        );
        println!(
            "{:<22} {:>10.1} {:>10.1} {:>10.1} {:>12}",
            format!("static ({label})"),
            ms(b.0),
            ms(b.1),
            ms(b.2),
            b.3
        );
        println!(
            "p95 ratio gateway / static ({label}): {:.2}",
            g.1.as_secs_f64() / b.1.as_secs_f64().max(1e-9)
        );
    }

    // Lag: 1,000 writes, each watched until the exposition carries it.
    let stop = shutdown.clone();
    let refresher_task = tokio::spawn(refresher_loop(refresher, cache, stop));
    let mut lags = Vec::new();
    for round in 0..10 {
        let mut pending = Vec::new();
        for j in 0..100 {
            let key = series((round * 100 + j) * 997 % n);
            let value = 1000.0 + (round * 100 + j) as f64;
            store
                .set_gauges(WriteCtx::worker(), &[(key.clone(), value)], Utc::now())
                .await?;
            pending.push((
                format!("user=\"{}\"}} {}\n", key.labels[2], value),
                key,
                Instant::now(),
            ));
        }
        // Note when a new exposition is published (a cheap pointer check),
        // then see which writes it carries; a write's lag ends at the first
        // publication that carries it.
        let mut last = published.current();
        while !pending.is_empty() {
            let current = published.current();
            if Arc::ptr_eq(&current, &last) {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            let seen_at = Instant::now();
            last = current.clone();
            let body = String::from_utf8(current.concat(Format::Text))?;
            let lines: std::collections::HashSet<&str> = body.split_inclusive('\n').collect();
            pending.retain(|(needle, key, at)| {
                let line = format!(
                    "gh_activity_commits_24h{{org=\"{}\",repo=\"{}\",{}",
                    key.labels[0], key.labels[1], needle
                );
                if lines.contains(line.as_str()) {
                    lags.push(seen_at - *at);
                    false
                } else {
                    true
                }
            });
        }
    }
    lags.sort();
    println!(
        "write-to-exposition lag over {} writes: p50 {:.0} ms, p99 {:.0} ms",
        lags.len(),
        ms(percentile(&lags, 0.5)),
        ms(percentile(&lags, 0.99))
    );
    shutdown.trigger();
    refresher_task.abort();
    store.delete_all_keys().await.context("cleanup")?;
    Ok(())
}

async fn refresher_loop(
    refresher: Refresher,
    mut cache: Option<ghstats_gateway::cache::MetricsCache>,
    shutdown: Shutdown,
) {
    while !shutdown.is_triggered() {
        let _ = refresher.step(&mut cache).await;
        tokio::time::sleep(ghstats_gateway::refresh::POLL).await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    for n in if sizes.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        sizes
    } {
        run(n).await?;
    }
    Ok(())
}
