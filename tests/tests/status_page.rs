//! The gateway's status page in a real headless Chromium: loaded from a
//! running gateway with a scheduler and a worker, it shows the leader and
//! its term, every replica and the scraped org as `/healthz?full=1` and
//! the scheduler's status say; a phone-sized screenshot is saved to
//! `target/tmp/status-page.png`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_runtime::ServiceListeners;
use ghstats_store::{MemoryStore, Store, StoreSettings};
use ghstats_testkit::eventually;
use serde_json::Value;

async fn json(url: String) -> Value {
    match reqwest::get(url).await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    }
}

/// Chromium, headless, with a profile of its own, off the runtime's
/// threads (the services it loads from run on them).
async fn chromium(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().unwrap();
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(&args)
            .output()
            .expect("chromium is installed (scripts/test installs it)")
    })
    .await
    .unwrap()
}

mod fleet;

use fleet::{fleet_world, spawn_scheduler, spawn_worker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_what_the_fleet_reports() {
    let shutdown = Shutdown::new();
    let (scheduler_l, worker_l, gateway_l) = (
        ServiceListeners::ephemeral().await.unwrap(),
        ServiceListeners::ephemeral().await.unwrap(),
        ServiceListeners::ephemeral().await.unwrap(),
    );
    let (s_grpc, w_grpc, gateway) = (
        scheduler_l.grpc_addr(),
        worker_l.grpc_addr(),
        gateway_l.http_addr(),
    );
    let w = fleet_world(&shutdown, &[s_grpc], &[w_grpc]);
    let config = (*w.config).clone();
    let store: Arc<dyn Store> =
        Arc::new(MemoryStore::new(StoreSettings::from_config(&config.store)));
    spawn_scheduler(&config, &store, scheduler_l, &shutdown);
    spawn_worker(&config, &store, worker_l, &shutdown);
    tokio::spawn(ghstats_gateway::serve_with(
        config,
        store,
        gateway_l,
        shutdown.clone(),
    ));
    let full_url = format!("http://{gateway}/healthz?full=1");
    let ready = eventually(Duration::from_secs(30), || async {
        json(full_url.clone()).await["fleet"]["mode"] == "healthy"
    })
    .await;
    assert!(ready, "{:#}", json(full_url.clone()).await);
    let scraped = eventually(Duration::from_secs(30), || async {
        let body = reqwest::get(format!("http://{gateway}/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.contains("<td>org-a</td>") && !body.contains("not run yet")
    })
    .await;
    assert!(scraped, "the leader's first cycle shows");
    let full = json(full_url).await;

    let page = format!("http://{gateway}/");
    let dom = chromium(&["--dump-dom", &page]).await;
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8(dom.stdout).unwrap();
    assert!(dom.contains("<title>ghstats status</title>"), "{dom}");
    // The leader, its term and every replica, as the fleet view says.
    assert_eq!(full["fleet"]["leader"], "sched-1");
    let term = full["fleet"]["term"].as_u64().unwrap();
    assert!(
        dom.contains(&format!("<td>sched-1</td><td>leader</td><td>{term}</td>")),
        "{dom}"
    );
    for peer in full["fleet"]["peers"].as_array().unwrap() {
        let endpoint = peer["endpoint"].as_str().unwrap();
        let identity = peer["identity"].as_str().unwrap();
        assert!(
            dom.contains(&format!("<td>{endpoint}</td><td>{identity}</td>")),
            "{endpoint} {identity} missing: {dom}"
        );
    }
    // The worker's counters as it reports them over gRPC.
    assert!(dom.contains("<td>consuming</td>"), "{dom}");
    assert!(dom.contains("<td>org-a</td>"), "{dom}");
    assert!(dom.contains("id=\"rate\"") || dom.contains("Charts start after two samples"));

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let taken = chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=412,1600",
        &page,
    ])
    .await;
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    shutdown.trigger();
}
