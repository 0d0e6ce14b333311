//! The gateway against the real Redis: both formats parse with an
//! independent parser and carry every family, type and label set; two
//! gateways give byte-identical bodies; a store write shows up without a
//! restart; gzip and bad requests behave; a Redis outage keeps the last
//! good body served and says `degraded`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ghstats_core::Shutdown;
use ghstats_runtime::ServiceListeners;
use ghstats_store::{
    ActivityEvent, ActivityKind, Family, FlowHistogram, FlowRules, PullFlow, PullObservation,
    RedisAuth, RedisStore, RedisTarget, SeriesKey, Store, StoreSettings, WriteCtx,
};

fn settings(prefix: &str) -> StoreSettings {
    StoreSettings {
        prefix: prefix.into(),
        shards: 8,
        retention: Duration::from_secs(86400 * 30),
        max_series: 1_000_000,
        change_log_len: 100_000,
    }
}

fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test:gateway:{test}:{}:{nanos}:", std::process::id())
}

async fn store(addr: &str, prefix: &str) -> Arc<RedisStore> {
    let target = RedisTarget::Standalone {
        addr: addr.into(),
        tls: false,
    };
    Arc::new(
        RedisStore::connect(&target, &RedisAuth::default(), settings(prefix))
            .await
            .unwrap(),
    )
}

async fn gateway(store: Arc<dyn Store>, shutdown: &Shutdown) -> SocketAddr {
    let listeners = ServiceListeners::ephemeral().await.unwrap();
    let http = listeners.http_addr();
    let config = ghstats_config::load_str("", "t", Vec::new()).unwrap();
    tokio::spawn(ghstats_gateway::serve_with(
        config,
        store,
        listeners,
        shutdown.clone(),
    ));
    for _ in 0..500 {
        if get(http, "/readyz", None).await.0 == 200 {
            return http;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("gateway never became ready");
}

async fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

const OM: &str = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";

async fn fill(store: &dyn Store) {
    let now = Utc::now();
    let events = [
        ActivityEvent {
            kind: ActivityKind::Commit,
            id: "a1".into(),
            user: "alice".into(),
            at: now,
        },
        ActivityEvent {
            kind: ActivityKind::Review,
            id: "9".into(),
            user: "bo\"b".into(),
            at: now,
        },
    ];
    store
        .record_activity(WriteCtx::leader(0), "org-a", "repo-x", &events, now)
        .await
        .unwrap();
    store
        .add_counters(
            WriteCtx::leader(0),
            &[(SeriesKey::new(Family::ScrapeRuns, ["org-a", "success"]), 3)],
            now,
        )
        .await
        .unwrap();
    store
        .set_gauges(
            WriteCtx::leader(0),
            &[(SeriesKey::new(Family::ScrapeDuration, ["org-a"]), 1.25)],
            now,
        )
        .await
        .unwrap();
    let rules = FlowRules {
        lead_time_buckets: vec![3600, 86_400],
        ..FlowRules::default()
    };
    let merged = |number, seconds| PullObservation {
        histogram: FlowHistogram::LeadTime,
        number,
        at: now,
        seconds,
    };
    let flow = PullFlow {
        observations: &[merged(1, 600), merged(2, 7200), merged(3, 100_000)],
        open: None,
        rules: &rules,
    };
    store
        .record_pull_flow(WriteCtx::leader(0), "org-a", "repo-x", flow, now)
        .await
        .unwrap();
}

/// family -> (type, label set -> value), from the independent parser.
/// Label set -> value.
type Samples = BTreeMap<Vec<(String, String)>, f64>;

fn parse_om(body: &str) -> BTreeMap<String, (String, Samples)> {
    let exposition = openmetrics_parser::openmetrics::parse_openmetrics(body).unwrap();
    exposition
        .families
        .into_iter()
        .map(|(name, family)| {
            let samples = family
                .iter_samples()
                .map(|s| {
                    let labels: Vec<(String, String)> = s
                        .get_labelset()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let value = match &s.value {
                        openmetrics_parser::OpenMetricsValue::Gauge(n) => n.as_f64(),
                        openmetrics_parser::OpenMetricsValue::Counter(c) => c.value.as_f64(),
                        // (the count; the buckets are checked on their own)
                        openmetrics_parser::OpenMetricsValue::Histogram(h) => {
                            h.count.unwrap_or_default() as f64
                        }
                        other => panic!("unexpected value {other:?}"),
                    };
                    (labels, value)
                })
                .collect();
            (name, (family.family_type.to_string(), samples))
        })
        .collect()
}

/// A body without the answering replica's own family.
fn others(body: &str) -> String {
    body.lines()
        .filter(|l| !l.contains(ghstats_gateway::cache::REFRESH_DURATION))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[tokio::test]
async fn both_formats_parse_and_two_gateways_agree() {
    let p = prefix("agree");
    let s = store("127.0.0.1:6379", &p).await;
    fill(&*s).await;
    let shutdown = Shutdown::new();
    let (g1, g2) = (
        gateway(s.clone(), &shutdown).await,
        gateway(s.clone(), &shutdown).await,
    );

    let (status, om) = get(g1, "/metrics", Some(OM)).await;
    assert_eq!(status, 200);
    let parsed = parse_om(&om);
    let commits = &parsed["gh_activity_commits_24h"];
    assert_eq!(commits.0, "gauge");
    let alice = vec![
        ("org".to_owned(), "org-a".to_owned()),
        ("repo".to_owned(), "repo-x".to_owned()),
        ("user".to_owned(), "alice".to_owned()),
    ];
    assert_eq!(commits.1.get(&alice), Some(&1.0), "{om}");
    let reviews = &parsed["gh_activity_reviews_submitted_24h"].1;
    assert!(
        reviews
            .keys()
            .any(|l| l.iter().any(|(k, v)| k == "user" && v == "bo\"b")),
        "escaped labels survive: {reviews:?}"
    );
    assert_eq!(parsed["gh_exporter_scrape_runs"].0, "counter");
    assert_eq!(
        parsed["gh_exporter_scrape_duration_seconds"]
            .1
            .values()
            .next(),
        Some(&1.25)
    );

    // A real histogram: cumulative buckets, +Inf, count and sum.
    let exposition = openmetrics_parser::openmetrics::parse_openmetrics(&om).unwrap();
    let lead = &exposition.families["gh_pr_lead_time_seconds"];
    assert_eq!(lead.family_type.to_string(), "histogram");
    let sample = lead.iter_samples().next().unwrap();
    let openmetrics_parser::OpenMetricsValue::Histogram(h) = &sample.value else {
        panic!("not a histogram: {:?}", sample.value)
    };
    let buckets: Vec<(f64, f64)> = h
        .buckets
        .iter()
        .map(|b| (b.upper_bound, b.count.as_f64()))
        .collect();
    assert_eq!(
        buckets,
        [(3600.0, 1.0), (86_400.0, 2.0), (f64::INFINITY, 3.0)]
    );
    assert_eq!(
        (h.count, h.sum.map(|s| s.as_f64())),
        (Some(3), Some(107_800.0))
    );

    let (_, text) = get(g1, "/metrics", None).await;
    let prom = openmetrics_parser::prometheus::parse_prometheus(&text).unwrap();
    assert_eq!(
        prom.families["gh_pr_lead_time_seconds"]
            .family_type
            .to_string(),
        "histogram"
    );
    assert!(prom.families.contains_key("gh_activity_commits_24h"));
    assert!(prom.families.contains_key("gh_exporter_scrape_runs_total"));

    // Each gateway's own refresh duration is on /metrics, a gauge of the
    // replica that answered; every other byte is the same on both.
    let refresh = &parsed["gh_exporter_metrics_cache_refresh_duration_seconds"];
    assert_eq!(refresh.0, "gauge");
    assert!(refresh.1.values().all(|v| *v >= 0.0) && refresh.1.len() == 1);
    assert!(
        prom.families
            .contains_key("gh_exporter_metrics_cache_refresh_duration_seconds")
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert_eq!(
        others(&get(g2, "/metrics", Some(OM)).await.1),
        others(&om),
        "replicas are byte-identical but for their own gauge"
    );
    assert_eq!(others(&get(g2, "/metrics", None).await.1), others(&text));

    // A write shows up without a restart.
    let now = Utc::now();
    let more = [ActivityEvent {
        kind: ActivityKind::Commit,
        id: "a2".into(),
        user: "alice".into(),
        at: now,
    }];
    s.record_activity(WriteCtx::worker(), "org-a", "repo-x", &more, now)
        .await
        .unwrap();
    let mut seen = false;
    for _ in 0..200 {
        let body = get(g1, "/metrics", Some(OM)).await.1;
        if body
            .contains("gh_activity_commits_24h{org=\"org-a\",repo=\"repo-x\",user=\"alice\"} 2\n")
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen, "the new commit reached /metrics");
    shutdown.trigger();
    s.delete_all_keys().await.unwrap();
}

#[tokio::test]
async fn gzip_and_bad_requests() {
    let s = store("127.0.0.1:6379", &prefix("gzip")).await;
    fill(&*s).await;
    let shutdown = Shutdown::new();
    let g = gateway(s.clone(), &shutdown).await;
    let plain = get(g, "/metrics", Some(OM)).await.1;
    let resp = reqwest::Client::new()
        .get(format!("http://{g}/metrics"))
        .header("accept", OM)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    let bytes = resp.bytes().await.unwrap();
    let mut unzipped = String::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    // The replica's own gauge may have moved between the two requests.
    assert_eq!(others(&unzipped), others(&plain));
    assert!(unzipped.contains("\ngh_exporter_metrics_cache_refresh_duration_seconds "));
    assert!(unzipped.ends_with("# EOF\n"), "{unzipped}");

    assert_eq!(get(g, "/nothing", None).await, (404, "not found\n".into()));
    assert_eq!(get(g, "/metrics", Some("image/png")).await.0, 406);
    let post = reqwest::Client::new()
        .post(format!("http://{g}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 405);
    shutdown.trigger();
    s.delete_all_keys().await.unwrap();
}

#[tokio::test]
async fn a_redis_outage_keeps_the_last_body_and_degrades() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--bind",
            "127.0.0.1",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    let mut s = None;
    for _ in 0..100 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            s = Some(store(&addr, "outage:").await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s = s.expect("own redis-server started");
    fill(&*s).await;
    let shutdown = Shutdown::new();
    let g = gateway(s, &shutdown).await;
    let before = get(g, "/metrics", Some(OM)).await.1;

    redis.kill().unwrap();
    redis.wait().unwrap();
    let mut degraded = false;
    for _ in 0..600 {
        let (_, health) = get(g, "/healthz", None).await;
        if health.contains("\"mode\":\"degraded\"") {
            degraded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(degraded, "an unreachable store makes the gateway degraded");
    assert_eq!(
        get(g, "/readyz", None).await.0,
        200,
        "still ready: it serves the last good body"
    );
    assert_eq!(get(g, "/metrics", Some(OM)).await.1, before);
    shutdown.trigger();
}

#[tokio::test]
async fn healthz_names_the_dns_name_prometheus_scrapes() {
    let store = Arc::new(ghstats_store::MemoryStore::new(
        ghstats_store::StoreSettings::from_config(&ghstats_config::StoreConfig::default()),
    ));
    let shutdown = Shutdown::new();
    let g = gateway(store, &shutdown).await;
    let (status, body) = get(g, "/healthz", None).await;
    assert_eq!(status, 200);
    let expected = ghstats_config::Config::default().metrics.scrape_service_dns;
    assert!(!expected.is_empty());
    assert!(
        body.contains(&format!(
            "\"info\":{{\"scrape_service_dns\":\"{expected}\"}}"
        )),
        "{body}"
    );
    shutdown.trigger();
}
