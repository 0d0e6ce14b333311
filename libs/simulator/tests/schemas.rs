//! The simulator's JSON for each endpoint validates against GitHub's
//! published response schema for that endpoint (extracted from GitHub's
//! OpenAPI description by `tools/extract-github-schemas.py`), so the
//! simulator cannot drift from the real API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ghstats_simulator::Simulator;
use ghstats_simulator::hooks::HookKnobs;
use serde_json::Value;
use support::{fetch, start};

fn schemas() -> Value {
    let text = include_str!("../schemas/github-responses.json");
    serde_json::from_str::<Value>(text).unwrap()["schemas"].clone()
}

fn assert_valid(schemas: &Value, key: &str, body: &Value) {
    let validator = jsonschema::validator_for(&schemas[key]).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(body)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{key} does not match GitHub's schema:\n{}",
        errors.join("\n")
    );
}

#[tokio::test]
async fn every_endpoint_matches_githubs_schema() {
    let (sim, shutdown) = start().await;
    let schemas = schemas();
    let repo = "/repos/org-a/repo-000";

    let (status, repos) = fetch(&sim, "/orgs/org-a/repos?per_page=100").await;
    assert_eq!(status, 200);
    assert!(repos.as_array().unwrap().len() >= 5);
    assert_valid(&schemas, "list_org_repos", &repos);

    let (_, commits) = fetch(&sim, &format!("{repo}/commits?per_page=100")).await;
    assert!(!commits.as_array().unwrap().is_empty());
    assert_valid(&schemas, "list_commits", &commits);
    // Commits without a linked account have `author: null`; both kinds occur.
    let all: Vec<Value> = {
        let (_, big) = fetch(&sim, "/repos/org-a/monorepo/commits?per_page=100").await;
        big.as_array().unwrap().clone()
    };
    assert!(all.iter().any(|c| c["author"].is_null()));
    assert_valid(&schemas, "list_commits", &Value::Array(all));

    // The check has teeth: a commit without its `sha` is refused.
    let mut broken = commits.clone();
    broken[0].as_object_mut().unwrap().remove("sha");
    let validator = jsonschema::validator_for(&schemas["list_commits"]).unwrap();
    assert!(!validator.is_valid(&broken));

    let sha = commits[0]["sha"].as_str().unwrap();
    let (_, detail) = fetch(&sim, &format!("{repo}/commits/{sha}")).await;
    assert_valid(&schemas, "get_commit", &detail);
    assert!(detail["stats"]["additions"].as_u64().is_some());

    let (_, pulls) = fetch(
        &sim,
        &format!("{repo}/pulls?state=all&sort=updated&direction=desc"),
    )
    .await;
    assert!(!pulls.as_array().unwrap().is_empty());
    assert_valid(&schemas, "list_pulls", &pulls);

    let number = pulls
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p["number"].as_u64())
        .unwrap();
    let (_, reviews) = fetch(&sim, &format!("{repo}/pulls/{number}/reviews")).await;
    assert_valid(&schemas, "list_reviews", &reviews);

    let (_, comments) = fetch(&sim, &format!("{repo}/issues/comments?per_page=100")).await;
    assert!(!comments.as_array().unwrap().is_empty());
    assert_valid(&schemas, "list_issue_comments", &comments);

    // The first stats request of a repository is "computing" (202).
    let (first, _) = fetch(&sim, &format!("{repo}/stats/contributors")).await;
    assert_eq!(first, 202);
    let (second, stats) = fetch(&sim, &format!("{repo}/stats/contributors")).await;
    assert_eq!(second, 200);
    assert_valid(&schemas, "contributor_stats", &stats);

    let (_, rate) = fetch(&sim, "/rate_limit").await;
    assert_valid(&schemas, "rate_limit", &rate);

    shutdown.trigger();
}

/// A JWT of the simulator's demo GitHub App, as an App signs it.
fn app_jwt() -> String {
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(ghstats_simulator::DEMO_APP_PRIVATE_KEY).unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({ "iss": ghstats_simulator::DEMO_APP_ID, "iat": now - 60, "exp": now + 540 });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap()
}

/// A request to the App API with the App's JWT: status and JSON body.
async fn as_app(sim: &Simulator, method: reqwest::Method, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.api_base()))
        .header("authorization", format!("Bearer {}", app_jwt()))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn installation_token_response_matches_githubs_schema() {
    let (sim, shutdown) = start().await;
    let (_, installation) = sim.installations()[0].clone();
    let (status, body) = as_app(
        &sim,
        reqwest::Method::POST,
        &format!("/app/installations/{installation}/access_tokens"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_valid(&schemas(), "create_installation_token", &body);
    shutdown.trigger();
}

#[tokio::test]
async fn webhook_deliveries_and_redelivery_match_githubs_schema() {
    let (sim, shutdown) = start().await;
    let schemas = schemas();
    // Deliveries to a port nobody listens on fail, and are listed so.
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhooks/github", nobody.local_addr().unwrap());
    drop(nobody);
    sim.set_hooks(HookKnobs {
        urls: vec![url],
        secret: "s".into(),
        ..HookKnobs::default()
    });
    sim.add_activity("org-a", "repo-000", "pull").unwrap();
    sim.add_activity("org-a", "repo-001", "comment").unwrap();
    let mut listed = Value::Null;
    for _ in 0..100 {
        let (status, body) = as_app(&sim, reqwest::Method::GET, "/app/hook/deliveries").await;
        assert_eq!(status, 200, "{body}");
        if body.as_array().is_some_and(|a| a.len() >= 2) {
            listed = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let deliveries = listed.as_array().expect("both deliveries were attempted");
    assert_valid(&schemas, "list_app_hook_deliveries", &listed);
    assert!(
        deliveries.iter().all(|d| d["status_code"] != 200),
        "{listed}"
    );

    // The check has teeth: a delivery without its `guid` is refused.
    let mut broken = listed.clone();
    broken[0].as_object_mut().unwrap().remove("guid");
    let validator = jsonschema::validator_for(&schemas["list_app_hook_deliveries"]).unwrap();
    assert!(!validator.is_valid(&broken));

    let id = deliveries[0]["id"].as_u64().unwrap();
    let (status, accepted) = as_app(
        &sim,
        reqwest::Method::POST,
        &format!("/app/hook/deliveries/{id}/attempts"),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    assert_valid(&schemas, "redeliver_app_hook_delivery", &accepted);
    shutdown.trigger();
}
