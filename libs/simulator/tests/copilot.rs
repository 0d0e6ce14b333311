//! The simulator's Copilot report endpoints: link answers like GitHub's
//! (every link on the download host, report days), the 1-day report's
//! `day` checks, and the `/_sim/copilot` knobs (expired links).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::{fetch, start};

#[tokio::test]
async fn links_days_and_knobs() {
    let (sim, shutdown) = start().await;
    let base = "/orgs/org-a/copilot/metrics/reports";

    let (status, latest) = fetch(&sim, &format!("{base}/users-28-day/latest")).await;
    assert_eq!(status, 200, "{latest}");
    let links: Vec<&str> = latest["download_links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(links.len(), 2);
    assert!(
        links
            .iter()
            .all(|l| l.starts_with(sim.copilot_download_base()))
    );
    assert!(sim.copilot_download_base().starts_with("http://localhost:"));
    let yesterday = (sim.now() - chrono::Duration::days(1)).date_naive();
    assert_eq!(latest["report_end_day"], yesterday.to_string());

    let day = |d: &str| format!("{base}/organization-1-day?day={d}");
    assert_eq!(fetch(&sim, &day(&yesterday.to_string())).await.0, 200);
    let tomorrow = yesterday + chrono::Duration::days(2);
    assert_eq!(fetch(&sim, &day(&tomorrow.to_string())).await.0, 404);
    assert_eq!(fetch(&sim, &day("28/10/2026")).await.0, 422);
    assert_eq!(
        fetch(&sim, &format!("{base}/organization-1-day")).await.0,
        422
    );
    assert_eq!(
        fetch(&sim, &format!("{base}/nonsense-28-day/latest"))
            .await
            .0,
        404
    );
    assert_eq!(
        fetch(
            &sim,
            "/enterprises/other/copilot/metrics/reports/enterprise-28-day/latest"
        )
        .await
        .0,
        404
    );

    // A link downloads without credentials; expired links answer 403.
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(links[1]).send().await.unwrap().status().as_u16(),
        200
    );
    let admin = format!("{}/copilot", sim.admin_base());
    let set = http
        .post(&admin)
        .json(&json!({"expired_links": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status().as_u16(), 204);
    let knobs: Value = http.get(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(knobs["expired_links"], true);
    let (_, expired) = fetch(&sim, &format!("{base}/users-28-day/latest")).await;
    let link = expired["download_links"][0].as_str().unwrap();
    assert_eq!(http.get(link).send().await.unwrap().status().as_u16(), 403);
    let bad = http
        .post(&admin)
        .json(&json!({"nope": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422, "unknown knobs are refused");
    shutdown.trigger();
}
