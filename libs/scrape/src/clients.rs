//! One GitHub client per configured org, sharing the store's ETag cache;
//! built at start-up so a missing secret fails early with its key.

use std::sync::Arc;
use std::time::Duration;

use ghstats_config::{Config, OrgConfig};
use ghstats_github::{GithubClient, GithubError};
use ghstats_store::Store;
use tokio_util::sync::CancellationToken;

use crate::StoreEtagCache;

/// Each org with its client; one call waits at most half the org's
/// interval for rate budget.
pub fn org_clients(
    config: &Config,
    store: &Arc<dyn Store>,
    cancel: &CancellationToken,
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
            let options = ghstats_github::client_options(
                config,
                org,
                etags.clone(),
                cancel.clone(),
                max_wait,
            )?;
            Ok((org.clone(), GithubClient::new(options)?))
        })
        .collect()
}
