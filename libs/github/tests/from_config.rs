//! Client options from the config file: credentials are read at start-up
//! and a missing one is a clear error naming what is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_github::{GithubClient, GithubError, MemoryEtagCache, client_options};
use ghstats_simulator::{DEMO_APP_PRIVATE_KEY, SimConfig, Simulator};
use tokio_util::sync::CancellationToken;

fn options(yaml: &str) -> Result<ghstats_github::ClientOptions, GithubError> {
    let config = ghstats_config::load_str(yaml, "t.yaml", Vec::new()).unwrap();
    client_options(
        &config,
        &config.github.orgs[0],
        Arc::new(MemoryEtagCache::default()),
        CancellationToken::new(),
        Duration::from_secs(5),
    )
}

#[test]
fn a_missing_key_file_or_token_is_named() {
    let err = options("github:\n  orgs:\n    - org: acme\n      app_id: 1\n      installation_id: 2\n      private_key_path: /nonexistent/acme.pem\n").unwrap_err();
    assert!(
        err.to_string().starts_with(
            "credentials: org acme: cannot read private_key_path /nonexistent/acme.pem"
        ),
        "{err}"
    );

    let err = options(
        "github:\n  orgs:\n    - org: acme\n      token_env: GHSTATS_TEST_NO_SUCH_TOKEN_VARIABLE\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "credentials: secret github.orgs[acme].token: environment variable GHSTATS_TEST_NO_SUCH_TOKEN_VARIABLE is not set"
    );

    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("key.pem");
    std::fs::write(&not_pem, "not a key").unwrap();
    let err = options(&format!("github:\n  orgs:\n    - org: acme\n      app_id: 1\n      installation_id: 2\n      private_key_path: {}\n", not_pem.display())).unwrap_err();
    assert!(
        err.to_string()
            .contains("private key is not an RSA PEM key"),
        "{err}"
    );
}

#[tokio::test]
async fn an_app_from_the_config_file_reaches_ghes() {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(
        SimConfig {
            ghes: true,
            ..SimConfig::default()
        },
        listener,
        &shutdown,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(&key, DEMO_APP_PRIVATE_KEY).unwrap();
    let (org, installation) = sim.installations()[1].clone();
    let yaml = format!(
        "github:\n  orgs:\n    - org: {org}\n      app_id: {}\n      installation_id: {installation}\n      private_key_path: {}\n      api_base_url: {}\n",
        ghstats_simulator::DEMO_APP_ID,
        key.display(),
        sim.api_base()
    );
    let client = GithubClient::new(options(&yaml).unwrap()).unwrap();
    assert!(!client.list_org_repos().await.unwrap().items.is_empty());
    assert_eq!(client.installation_label(), installation.to_string());
    shutdown.trigger();
}
