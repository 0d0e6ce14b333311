//! Without configured orgs the all-in-one binary serves the bundled
//! simulator and configures its orgs so that the GitHub client, built from
//! that config like the scheduler builds it, reaches them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_github::{GithubClient, MemoryEtagCache, client_options};

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
    // The demo reads the simulator's Copilot reports as well.
    assert!(config.copilot.enabled && config.copilot.include_org_users_28d);
    let store: Arc<dyn ghstats_store::Store> = Arc::new(ghstats_store::MemoryStore::new(
        ghstats_store::StoreSettings::from_config(&config.store),
    ));
    let config = Arc::new(config);
    let copilot = ghstats_scrape::clients::copilot_scraper(&config, &store, None, shutdown.token())
        .unwrap()
        .unwrap();
    let (_, client) = ghstats_scrape::clients::org_clients(&config, &store, shutdown.token())
        .unwrap()
        .remove(0);
    let run = copilot
        .run_report(
            &client,
            client.org(),
            ghstats_scrape::copilot::Scope::OrgUsers,
            ghstats_scrape::copilot::Window::Days28,
            ghstats_store::WriteCtx::leader(0),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(run.result, "success", "{:?}", run.error);
    assert!(run.series > 0);
    shutdown.trigger();
}
