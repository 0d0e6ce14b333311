//! A real Prometheus scrapes the gateway after a scrape cycle over a
//! simulated org with days of merged and reviewed pull requests: it
//! accepts the histograms (OpenMetrics first, as it negotiates), and
//! `histogram_quantile` over them returns the truth's median lead time and
//! time to first review within the bucket that holds it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod leader;

use std::sync::Arc;
use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_runtime::ServiceListeners;
use ghstats_simulator::TruthOptions;
use ghstats_store::{FlowHistogram, FlowRules, MemoryStore, Store, StoreSettings, WriteCtx};
use ghstats_testkit::{one_org_of, spare_port, world_with};

/// Prometheus on a spare port, scraping `target` every second; killed when dropped.
struct Prometheus {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: std::net::SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ghstats\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = spare_port();
        let child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus is installed (scripts/test installs it)");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// The values of an instant query, by their `org` label.
    async fn query(&self, promql: &str) -> Vec<(String, f64)> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let Ok(resp) = reqwest::Client::new()
            .get(format!("{}/api/v1/query?query={encoded}", self.url))
            .send()
            .await
        else {
            return Vec::new();
        };
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        body["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let org = r["metric"]["org"].as_str().unwrap_or_default().to_owned();
                let v: f64 = r["value"][1].as_str()?.parse().ok()?;
                Some((org, v))
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bucket (lower, upper bound) that holds `value`.
fn bucket_of(bounds: &[u64], value: f64) -> (f64, f64) {
    let mut lower = 0.0;
    for b in bounds {
        if value <= *b as f64 {
            return (lower, *b as f64);
        }
        lower = *b as f64;
    }
    (lower, f64::INFINITY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_histograms_and_their_median_is_the_truths() {
    let shutdown = Shutdown::new();
    let sim = one_org_of(8, 6, 2);
    let w = world_with(&shutdown, sim, "", "");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &w.config.store,
    )));
    let leader = leader::controller(&w, &store, None, &shutdown);
    let now = w.sim.now();
    leader.tick(WriteCtx::leader(0), now).await;

    let listeners = ServiceListeners::ephemeral().await.unwrap();
    let gateway = listeners.http_addr();
    tokio::spawn(ghstats_gateway::serve_with(
        (*w.config).clone(),
        store.clone(),
        listeners,
        shutdown.clone(),
    ));
    let prometheus = Prometheus::start(gateway);

    let rules = FlowRules::from_config(&w.config.pull_requests);
    let truth = TruthOptions {
        org: Some("org-a".into()),
        observed_since: Some(now - chrono::Duration::hours(24)),
        ..TruthOptions::default()
    };
    let flow = w
        .sim
        .flow_truth(now + chrono::Duration::seconds(1), now, &truth);
    for histogram in FlowHistogram::ALL {
        let mut values: Vec<u64> = flow
            .iter()
            .flat_map(|r| match histogram {
                FlowHistogram::LeadTime => r.lead_time_seconds.clone(),
                FlowHistogram::FirstReview => r.first_review_seconds.clone(),
            })
            .collect();
        values.sort_unstable();
        assert!(
            values.len() >= 4,
            "{histogram:?}: the world has observations: {values:?}"
        );
        // Prometheus's rank is q * count; the truth's median is the value
        // at that rank.
        let rank = (values.len() as f64 * 0.5).ceil() as usize;
        let median = values[rank.saturating_sub(1)] as f64;
        let name = histogram.family().name();
        let promql = format!("histogram_quantile(0.5, sum by (le, org) ({name}_bucket))");
        let mut answer = Vec::new();
        for _ in 0..600 {
            answer = prometheus.query(&promql).await;
            if !answer.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!answer.is_empty(), "Prometheus never returned {promql}");
        let (org, estimate) = answer[0].clone();
        assert_eq!(org, "org-a");
        let (lower, upper) = bucket_of(rules.buckets(histogram), median);
        assert!(
            estimate >= lower && estimate <= upper,
            "{name}: Prometheus's median {estimate} is outside the bucket ({lower}, {upper}] of the truth's {median}"
        );
        let count = prometheus
            .query(&format!("sum by (org) ({name}_count)"))
            .await;
        assert_eq!(count, [("org-a".to_owned(), values.len() as f64)]);
    }
    // The scrape was accepted whole.
    let up = prometheus.query("up").await;
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].1, 1.0);
    drop(prometheus);
    shutdown.trigger();
}
