//! Without configured orgs the all-in-one binary serves the bundled
//! simulator and configures its orgs so that the GitHub client, built from
//! that config like the scheduler builds it, reaches them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ghstats_github::{GithubClient, MemoryEtagCache, client_options};
use ghstats_runtime::Shutdown;

#[tokio::test]
async fn demo_orgs_are_reachable_with_the_configured_credentials() {
    let shutdown = Shutdown::new();
    let mut config = ghstats_config::load_str("", "test", Vec::new()).unwrap();
    let demo = ghstats_standalone::demo::start(&mut config, &shutdown)
        .await
        .unwrap();
    assert_eq!(
        config.github.orgs.len(),
        demo.simulator.installations().len()
    );
    for org in &config.github.orgs {
        let options = client_options(
            &config,
            org,
            Arc::new(MemoryEtagCache::default()),
            shutdown.token().clone(),
            Duration::from_secs(5),
        )
        .unwrap();
        let repos = GithubClient::new(options)
            .unwrap()
            .list_org_repos()
            .await
            .unwrap();
        assert!(!repos.items.is_empty(), "{}", org.org);
    }
    shutdown.trigger();
}
