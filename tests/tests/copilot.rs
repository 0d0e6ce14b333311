//! Copilot usage reports end to end against the simulator: every family
//! equals the reports' content for org, users and enterprise scopes and
//! reaches `/metrics`; breakdown series add up to the record totals; the
//! download carries no credentials and a link to a host off the allow-list
//! is never fetched; caps, malformed lines, the interval and unchanged
//! skips, 202/404/5xx and expired links, and the 1-day backfill.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghstats_backfill::MemoryProducer;
use ghstats_core::Shutdown;
use ghstats_proto::{BackfillJob, BackfillReason};
use ghstats_runtime::ServiceListeners;
use ghstats_scrape::OrgScraper;
use ghstats_scrape::copilot::{CopilotScraper, Scope};
use ghstats_simulator::copilot::{ENTERPRISE_INSTALLATION_ID, ENTERPRISE_SLUG, ReportKind};
use ghstats_simulator::{DEMO_APP_ID, DEMO_APP_PRIVATE_KEY, FaultRule};
use ghstats_store::{Family, MemoryStore, Store, StoreSettings, WriteCtx};
use ghstats_testkit::{World, world};
use ghstats_worker::job::{JobContext, Verdict};

/// Every scope, every breakdown, the enterprise through its own App;
/// `overrides` (`key: value` lines) replace or add `copilot` keys.
fn full_config(key: &std::path::Path, overrides: &str) -> String {
    let mut keys: BTreeMap<String, String> = [
        ("enabled", "true"),
        ("include_org_users_28d", "true"),
        ("include_enterprise_28d", "true"),
        ("include_enterprise_users_28d", "true"),
        ("include_breakdown_ide", "true"),
        ("include_breakdown_feature", "true"),
        ("include_breakdown_language", "true"),
        ("include_breakdown_model", "true"),
        ("download_host_allowlist", "[localhost]"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for line in overrides.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line.split_once(':').unwrap();
        keys.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    let mut yaml = String::from("copilot:\n");
    for (k, v) in keys {
        yaml.push_str(&format!("  {k}: {v}\n"));
    }
    yaml.push_str(&format!(
        "  enterprise:\n    enabled: true\n    slug: {ENTERPRISE_SLUG}\n    app_id: {DEMO_APP_ID}\n    \
         installation_id: {ENTERPRISE_INSTALLATION_ID}\n    private_key_path: {}\n",
        key.display()
    ));
    yaml
}

struct Setup {
    w: World,
    store: Arc<dyn Store>,
    backfill: Arc<MemoryProducer>,
    scraper: OrgScraper,
    copilot: Arc<CopilotScraper>,
    _key_dir: tempfile::TempDir,
}

fn setup(shutdown: &Shutdown, extra_copilot: &str) -> Setup {
    let key_dir = tempfile::tempdir().unwrap();
    let key = key_dir.path().join("enterprise.pem");
    std::fs::write(&key, DEMO_APP_PRIVATE_KEY).unwrap();
    let w = world(
        shutdown,
        &format!(
            "retry:\n  max_attempts: 1\n{}",
            full_config(&key, extra_copilot)
        ),
    );
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &w.config.store,
    )));
    let backfill = Arc::new(MemoryProducer::default());
    let producer: Arc<dyn ghstats_backfill::BackfillProducer> = backfill.clone();
    let copilot = ghstats_scrape::clients::copilot_scraper(
        &w.config,
        &store,
        Some(&producer),
        shutdown.token(),
    )
    .unwrap()
    .unwrap();
    let (org, client) = ghstats_scrape::clients::org_clients(&w.config, &store, shutdown.token())
        .unwrap()
        .remove(0);
    let scraper = OrgScraper::new(client, store.clone(), producer, org, w.config.clone())
        .with_copilot(Some(copilot.clone()), true);
    Setup {
        w,
        store,
        backfill,
        scraper,
        copilot,
        _key_dir: key_dir,
    }
}

/// Usage series of one owner and scope label: labels after `org` -> value.
async fn usage(
    store: &dyn Store,
    family: Family,
    owner: &str,
    scope: &str,
    window: &str,
) -> BTreeMap<Vec<String>, f64> {
    ghstats_testkit::series_where(store, |k| {
        k.family == family && k.labels[0] == owner && k.labels[3] == scope && k.labels[4] == window
    })
    .await
    .into_iter()
    .map(|(k, v)| (k.labels[1..].to_vec(), v))
    .collect()
}

async fn counter(store: &dyn Store, family: Family, labels: &[&str]) -> f64 {
    ghstats_testkit::series_value(store, family, labels).await
}

/// Sums of a top-level key per user ("all" for aggregates) over records.
fn expected(records: &[serde_json::Value], key: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for r in records {
        let user = r["user_login"].as_str().unwrap_or("all").to_owned();
        *out.entry(user).or_default() += r[key].as_f64().unwrap();
    }
    out
}

const FAMILY_KEYS: [(Family, &str); 11] = [
    (
        Family::CopilotInteractions,
        "user_initiated_interaction_count",
    ),
    (
        Family::CopilotCodeGeneration,
        "code_generation_activity_count",
    ),
    (
        Family::CopilotCodeAcceptance,
        "code_acceptance_activity_count",
    ),
    (Family::CopilotLocSuggestedAdd, "loc_suggested_to_add_sum"),
    (
        Family::CopilotLocSuggestedDelete,
        "loc_suggested_to_delete_sum",
    ),
    (Family::CopilotLocAdded, "loc_added_sum"),
    (Family::CopilotLocDeleted, "loc_deleted_sum"),
    (Family::CopilotPrsCreated, "pull_requests_total_created"),
    (Family::CopilotPrsReviewed, "pull_requests_total_reviewed"),
    (
        Family::CopilotPrsCreatedByCopilot,
        "pull_requests_total_created_by_copilot",
    ),
    (
        Family::CopilotPrsReviewedByCopilot,
        "pull_requests_total_reviewed_by_copilot",
    ),
];

// Label slots after `org`: 0 repo, 1 user, 2 scope, 3 window, 4-7 feature,
// ide, language, model, 8 chat_mode, 9 day.

async fn check_scope(
    s: &Setup,
    owner: &str,
    kind: ReportKind,
    scope: &str,
    day: Option<chrono::NaiveDate>,
) {
    let records = s.w.sim.copilot_records(owner, kind, day);
    assert!(!records.is_empty(), "{owner} {kind:?} has records");
    let window = if day.is_some() { "1d" } else { "28d" };
    for (family, key) in FAMILY_KEYS {
        let series = usage(&*s.store, family, owner, scope, window).await;
        let totals: BTreeMap<String, f64> = series
            .iter()
            .filter(|(l, _)| l[4..8].iter().all(String::is_empty))
            .map(|(l, v)| (l[1].clone(), *v))
            .collect();
        assert_eq!(
            totals,
            expected(&records, key),
            "{owner} {scope} {}",
            family.name()
        );
        if key.starts_with("pull_requests") {
            assert!(
                series.len() == totals.len(),
                "pull request families have no breakdown"
            );
            continue;
        }
        // Each breakdown (ide, feature, language, model) adds up to the total.
        for slot in 4..8 {
            let mut sums: BTreeMap<String, f64> = BTreeMap::new();
            for (l, v) in series.iter().filter(|(l, _)| !l[slot].is_empty()) {
                assert!(
                    l[4..8].iter().filter(|x| !x.is_empty()).count() == 1,
                    "one breakdown label per series: {l:?}"
                );
                *sums.entry(l[1].clone()).or_default() += v;
            }
            assert_eq!(
                sums,
                totals,
                "{owner} {scope} {} breakdown slot {slot}",
                family.name()
            );
        }
    }
}

#[tokio::test]
async fn every_family_equals_the_reports_and_reaches_metrics() {
    let shutdown = Shutdown::new();
    let s = setup(&shutdown, "");
    let now = Utc::now();
    let report = s.scraper.run_cycle(WriteCtx::leader(0), now).await.unwrap();
    let results: Vec<_> = report.copilot.iter().map(|r| (r.scope, r.result)).collect();
    assert_eq!(
        results,
        Scope::ALL.map(|scope| (scope, "success")).to_vec(),
        "{:?}",
        report.copilot
    );
    check_scope(&s, "org-a", ReportKind::Organization, "org", None).await;
    check_scope(&s, "org-a", ReportKind::OrgUsers, "users", None).await;
    check_scope(
        &s,
        ENTERPRISE_SLUG,
        ReportKind::Enterprise,
        "enterprise",
        None,
    )
    .await;
    check_scope(
        &s,
        ENTERPRISE_SLUG,
        ReportKind::EnterpriseUsers,
        "users",
        None,
    )
    .await;

    // Two files per report, downloaded without credentials, counted.
    let downloads: Vec<_> =
        s.w.sim
            .requests()
            .into_iter()
            .filter(|r| r.endpoint == "copilot_report_download")
            .collect();
    assert_eq!(downloads.len(), 8);
    assert!(downloads.iter().all(|r| !r.authorized && r.status == 200));
    assert_eq!(
        counter(
            &*s.store,
            Family::CopilotReportDownloads,
            &["org-a", "users", "success"]
        )
        .await,
        2.0
    );
    // Requests are counted per owner: the org's through its cycle, the
    // enterprise App's under the slug.
    for (owner, endpoint, n) in [
        ("org-a", "copilot_report_link", 2.0),
        ("org-a", "copilot_report_download", 4.0),
        (ENTERPRISE_SLUG, "copilot_report_link", 2.0),
        (ENTERPRISE_SLUG, "copilot_report_download", 4.0),
    ] {
        let seen = counter(&*s.store, Family::GithubRequests, &[owner, endpoint, "2xx"]).await;
        assert_eq!(seen, n, "{owner} {endpoint}");
    }
    let parsed = counter(&*s.store, Family::CopilotRecordsParsed, &["org-a", "users"]).await;
    let lines =
        s.w.sim
            .copilot_records("org-a", ReportKind::OrgUsers, None)
            .len();
    assert_eq!(parsed, lines as f64);
    let staleness = counter(&*s.store, Family::CopilotReportStaleness, &["org-a", "org"]).await;
    assert!((0.0..=2.0 * 86400.0).contains(&staleness), "{staleness}");

    // Through the gateway: every family is in /metrics and parses.
    let listeners = ServiceListeners::ephemeral().await.unwrap();
    let http = listeners.http_addr();
    let config = ghstats_config::load_str("", "t", Vec::new()).unwrap();
    tokio::spawn(ghstats_gateway::serve_with(
        config,
        s.store.clone(),
        listeners,
        shutdown.clone(),
    ));
    let client = reqwest::Client::new();
    let mut body = String::new();
    for _ in 0..500 {
        let resp = client
            .get(format!("http://{http}/metrics"))
            .header("accept", "application/openmetrics-text;version=1.0.0")
            .send()
            .await;
        if let Ok(r) = resp
            && r.status() == 200
        {
            body = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let parsed = openmetrics_parser::openmetrics::parse_openmetrics(&body).unwrap();
    for (family, _) in FAMILY_KEYS {
        let f = parsed
            .families
            .get(family.name())
            .unwrap_or_else(|| panic!("{} missing", family.name()));
        assert_eq!(f.family_type.to_string(), "gauge");
    }
    assert!(body.contains(concat!(
        r#"gh_copilot_usage_code_generation_activity_count{org="org-a",repo="*",user="all","#,
        r#"scope="org",window="28d",feature="",ide="vscode",language="",model="",chat_mode="",day=""}"#
    )));
    shutdown.trigger();
}

#[tokio::test]
async fn downloads_carry_no_credentials_and_foreign_hosts_are_refused() {
    let shutdown = Shutdown::new();
    let s = setup(&shutdown, "");
    // The simulator refuses a download that carries a token, like a signed URL.
    let links = s
        .scraper
        .client()
        .copilot_report_links(
            &Scope::Org.path("org-a", ghstats_scrape::copilot::Window::Days28),
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(links.download_links.len(), 2);
    let with_token = reqwest::Client::new()
        .get(&links.download_links[0])
        .header("authorization", "Bearer ghs_leaked")
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status().as_u16(), 400);

    // Links to the same server under a name off the allow-list are not fetched.
    let port =
        s.w.sim
            .copilot_download_base()
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned();
    s.w.sim
        .set_copilot(|k| k.link_host = Some(format!("127.0.0.1:{port}")));
    s.w.sim.clear_requests();
    let report = s
        .scraper
        .run_cycle(WriteCtx::leader(0), Utc::now())
        .await
        .unwrap();
    assert!(
        report
            .copilot
            .iter()
            .all(|r| r.result == "download_refused"),
        "{:?}",
        report.copilot
    );
    assert!(
        !s.w.sim
            .requests()
            .iter()
            .any(|r| r.endpoint == "copilot_report_download"),
        "nothing was fetched from the foreign host"
    );
    assert_eq!(
        counter(&*s.store, Family::CopilotLinksRefused, &["org-a", "org"]).await,
        1.0
    );
    assert!(
        s.backfill.requests().is_empty(),
        "a refused host is not retried"
    );
    assert!(
        usage(&*s.store, Family::CopilotLocAdded, "org-a", "org", "28d")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn caps_malformed_lines_and_skips() {
    let shutdown = Shutdown::new();
    let s = setup(
        &shutdown,
        "scrape_interval: 1ms\nmax_users_per_report: 3\ninclude_breakdown_ide: false",
    );
    s.w.sim.set_copilot(|k| {
        k.extra_lines = vec!["{not json".into(), "[1, 2]".into(), String::new()];
    });
    let now = Utc::now();
    s.scraper.run_cycle(WriteCtx::leader(0), now).await.unwrap();
    let users = usage(&*s.store, Family::CopilotLocAdded, "org-a", "users", "28d").await;
    let distinct: std::collections::BTreeSet<_> = users.keys().map(|l| l[1].clone()).collect();
    assert_eq!(distinct.len(), 3, "{distinct:?}");
    let dropped = async |reason: &str, scope: &str| {
        counter(
            &*s.store,
            Family::CopilotRecordsDropped,
            &["org-a", scope, reason],
        )
        .await
    };
    assert!(dropped("max_users_per_report", "users").await > 0.0);
    assert_eq!(
        dropped("malformed", "users").await,
        2.0,
        "two bad lines, the blank one is skipped"
    );
    assert_eq!(dropped("malformed", "org").await, 2.0);

    // The report has not moved: the next run only asks for the links.
    s.w.sim.clear_requests();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = s
        .scraper
        .run_cycle(WriteCtx::leader(0), Utc::now())
        .await
        .unwrap();
    assert!(
        again
            .copilot
            .iter()
            .all(|r| r.result == "skipped_unchanged"),
        "{:?}",
        again.copilot
    );
    assert!(
        !s.w.sim
            .requests()
            .iter()
            .any(|r| r.endpoint == "copilot_report_download")
    );
    let runs = counter(
        &*s.store,
        Family::CopilotScrapeRuns,
        &["org-a", "org", "skipped_unchanged"],
    )
    .await;
    assert_eq!(runs, 1.0);
}

#[tokio::test]
async fn interval_skip_and_failures_ask_for_a_one_day_backfill() {
    let shutdown = Shutdown::new();
    let s = setup(&shutdown, "include_org_users_28d: false");
    let org_runs = |r: &ghstats_scrape::CycleReport| {
        r.copilot
            .iter()
            .filter(|x| x.scope == Scope::Org)
            .map(|x| x.result)
            .collect::<Vec<_>>()
    };
    let hours = |h| chrono::Duration::hours(h);
    // Cycles 7 h apart (past the 6 h interval), all in the past so the
    // backfilled day is one GitHub has published.
    let mut at: DateTime<Utc> = Utc::now() - hours(40);
    for (status, expect, backfill) in [
        (503, "fetch_status_error", true),
        (202, "fetch_status_error", true),
        (404, "fetch_status_error", false),
    ] {
        s.w.sim.set_fault(FaultRule {
            endpoint: "copilot_report_link".into(),
            status,
            fail_every: 1,
            ..FaultRule::default()
        });
        let r = s.scraper.run_cycle(WriteCtx::leader(0), at).await.unwrap();
        assert_eq!(org_runs(&r), [expect], "{status}");
        let asked = s.backfill.drain();
        let mine: Vec<_> = asked.iter().filter(|b| b.org == "org-a").collect();
        assert_eq!(!mine.is_empty(), backfill, "{status}: {asked:?}");
        if backfill {
            assert_eq!(mine[0].repo, "__copilot__org__28d");
            assert_eq!(mine[0].reason, BackfillReason::CopilotReportFetchError);
        }
        // Within the interval nothing is asked again.
        let skipped = s
            .scraper
            .run_cycle(WriteCtx::leader(0), at + hours(1))
            .await
            .unwrap();
        assert_eq!(org_runs(&skipped), ["skipped_interval"]);
        at += hours(7);
    }
    s.w.sim.clear_faults();
    s.w.sim.set_fault(FaultRule {
        endpoint: "copilot_report_download".into(),
        status: 500,
        fail_every: 1,
        ..FaultRule::default()
    });
    let r = s.scraper.run_cycle(WriteCtx::leader(0), at).await.unwrap();
    assert_eq!(org_runs(&r), ["download_status_error"]);
    let asked = s.backfill.drain();
    assert!(
        asked
            .iter()
            .any(|b| b.reason == BackfillReason::CopilotReportDownloadError)
    );
    s.w.sim.clear_faults();
    s.w.sim.set_copilot(|k| k.expired_links = true);
    at += hours(7);
    let r = s.scraper.run_cycle(WriteCtx::leader(0), at).await.unwrap();
    assert_eq!(
        org_runs(&r),
        ["download_status_error"],
        "an expired link answers 403"
    );
    s.w.sim.set_copilot(|k| k.expired_links = false);

    // The worker reads the 1-day report of the day before the window's end.
    let request = asked.into_iter().find(|b| b.org == "org-a").unwrap();
    let window = request.window;
    let job: BackfillJob = request.into_job("copilot-job-1".into(), 3, Utc::now());
    let orgs = ghstats_scrape::clients::org_clients(&s.w.config, &s.store, shutdown.token())
        .unwrap()
        .into_iter()
        .map(|(o, c)| (o.org.to_ascii_lowercase(), (o, c)))
        .collect();
    let jobs = JobContext::new(
        s.store.clone(),
        orgs,
        ghstats_scrape::Attribution::from_config(&s.w.config.github),
        Duration::from_secs(3600),
        0,
    )
    .with_copilot(Some(s.copilot.clone()));
    let verdict = jobs.process(&job, Utc::now()).await;
    assert!(matches!(verdict, Verdict::Done { .. }), "{verdict:?}");
    let day = (window.end() - chrono::Duration::days(1)).date_naive();
    check_scope(&s, "org-a", ReportKind::Organization, "org", Some(day)).await;
}
