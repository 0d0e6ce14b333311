//! A full run at debug (and trace) level logs no token, no JWT and no key;
//! neither does `Debug` output of the client or its options.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use ghstats_core::Shutdown;
use ghstats_github::{ClientOptions, Credentials, GithubClient, MemoryEtagCache, RetryPolicy};
use ghstats_simulator::{
    DEMO_APP_ID, DEMO_APP_PRIVATE_KEY, DEMO_TOKEN, FaultRule, SimConfig, Simulator,
};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn debug_logs_carry_no_credentials() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .json()
        .with_span_list(true)
        .init();

    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(
        SimConfig {
            token_ttl: chrono::Duration::seconds(2),
            ..SimConfig::default()
        },
        listener,
        &shutdown,
    )
    .unwrap();
    let installation = sim.installations()[0].1;
    let options = |credentials| ClientOptions {
        org: "org-a".into(),
        api_base: sim.api_base().parse().unwrap(),
        credentials,
        request_timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(5),
            jitter: false,
        },
        min_remaining: 0,
        reset_buffer: Duration::ZERO,
        secondary_backoff: Duration::from_millis(100),
        max_rate_wait: Duration::from_secs(5),
        token_refresh_margin: Duration::from_secs(1),
        etags: Arc::new(MemoryEtagCache::default()),
        cancel: tokio_util::sync::CancellationToken::new(),
        tenure: None,
    };
    let app = GithubClient::new(options(
        Credentials::app(DEMO_APP_ID, installation, DEMO_APP_PRIVATE_KEY).unwrap(),
    ))
    .unwrap();
    let pat = GithubClient::new(options(Credentials::Token(ghstats_config::Secret::new(
        DEMO_TOKEN,
    ))))
    .unwrap();
    sim.set_fault(FaultRule {
        endpoint: "list_commits".into(),
        status: 500,
        fail_next: 1,
        ..FaultRule::default()
    });
    for client in [&app, &pat] {
        client.list_org_repos().await.unwrap();
        client
            .list_commits(
                "repo-000",
                Utc::now() - chrono::Duration::days(2),
                Utc::now(),
            )
            .await
            .unwrap();
        client
            .list_pulls_updated_since("repo-000", Utc::now() - chrono::Duration::days(2))
            .await
            .unwrap();
        client.rate_limit().await.unwrap();
    }
    // Let the short-lived installation token be replaced at least once.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.list_org_repos().await.unwrap();
    let bad = GithubClient::new(options(Credentials::Token(ghstats_config::Secret::new(
        "ghp_bad_secret_value",
    ))))
    .unwrap();
    let err = bad.list_org_repos().await.unwrap_err();

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("github response"),
        "debug logs were captured: {logs}"
    );
    assert!(sim.mints(installation) >= 2);
    let mut secrets: Vec<String> = sim.issued_tokens();
    secrets.push(DEMO_TOKEN.into());
    secrets.push("ghp_bad_secret_value".into());
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a token leaked into the logs"
        );
        assert!(
            !format!("{app:?} {pat:?} {bad:?}").contains(secret.as_str()),
            "a token leaked into Debug output"
        );
        assert!(!err.to_string().contains(secret.as_str()));
    }
    // JWTs (base64 of `{"typ":"JWT"` or `{"alg"`) and key material.
    for marker in ["eyJ0eXAi", "eyJhbGci", "BEGIN RSA PRIVATE KEY", "Bearer "] {
        assert!(!logs.contains(marker), "{marker} found in the logs");
    }
    shutdown.trigger();
}
