//! One GitHub client per configured org, sharing the store's ETag cache;
//! built at start-up so a missing secret fails early with its key.

use std::sync::Arc;
use std::time::Duration;

use ghstats_config::{Config, OrgConfig};
use ghstats_github::{GithubClient, GithubError};
use ghstats_store::Store;
use tokio_util::sync::CancellationToken;

use crate::StoreEtagCache;
use crate::copilot::CopilotScraper;
use ghstats_backfill::BackfillProducer;
use ghstats_core::Tenure;

/// Each org with its client; one call waits at most half the org's
/// interval for rate budget.
pub fn org_clients(
    config: &Config,
    store: &Arc<dyn Store>,
    cancel: &CancellationToken,
) -> Result<Vec<(OrgConfig, GithubClient)>, GithubError> {
    leader_org_clients(config, store, cancel, None)
}

/// [`org_clients`] for a leader: no request is sent once `tenure` ran out.
pub fn leader_org_clients(
    config: &Config,
    store: &Arc<dyn Store>,
    cancel: &CancellationToken,
    tenure: Option<&Tenure>,
) -> Result<Vec<(OrgConfig, GithubClient)>, GithubError> {
    let etags = Arc::new(StoreEtagCache::new(
        store.clone(),
        config.store.retention.get(),
    ));
    config
        .github
        .orgs
        .iter()
        .map(|org| {
            let max_wait: Duration = org.scrape_interval.get() / 2;
            let mut options = ghstats_github::client_options(
                config,
                org,
                etags.clone(),
                cancel.clone(),
                max_wait,
            )?;
            options.tenure = tenure.cloned();
            Ok((org.clone(), GithubClient::new(options)?))
        })
        .collect()
}

/// The Copilot report reader when `copilot.enabled`, with the enterprise
/// App's client when the enterprise scope is on (its key read now);
/// `backfill` takes the scheduled runs' failures.
pub fn copilot_scraper(
    config: &Arc<Config>,
    store: &Arc<dyn Store>,
    backfill: Option<&Arc<dyn BackfillProducer>>,
    cancel: &CancellationToken,
) -> Result<Option<Arc<CopilotScraper>>, GithubError> {
    let c = &config.copilot;
    if !c.enabled {
        return Ok(None);
    }
    let enterprise = if c.enterprise.enabled {
        let e = &c.enterprise;
        let as_org = OrgConfig {
            org: e.slug.clone(),
            app_id: Some(e.app_id),
            installation_id: Some(e.installation_id),
            private_key_path: e.private_key_path.clone(),
            // The enterprise lives on the GitHub of the first org.
            api_base_url: config
                .github
                .orgs
                .first()
                .and_then(|o| o.api_base_url.clone()),
            ..OrgConfig::default()
        };
        let etags = Arc::new(StoreEtagCache::new(
            store.clone(),
            config.store.retention.get(),
        ));
        let options = ghstats_github::client_options(
            config,
            &as_org,
            etags,
            cancel.clone(),
            c.request_timeout.get(),
        )?;
        Some(GithubClient::new(options)?)
    } else {
        None
    };
    Ok(Some(Arc::new(CopilotScraper::new(
        store.clone(),
        backfill.cloned(),
        config.clone(),
        enterprise,
    )?)))
}
