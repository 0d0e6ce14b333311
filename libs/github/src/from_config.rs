//! Client options from the config file: the org's credentials (reading the
//! App key or the token now, so a missing secret fails at start-up with the
//! key's name) and the shared rate-limit and retry settings.

use std::sync::Arc;
use std::time::Duration;

use ghstats_config::{Config, OrgAuth, OrgConfig};
use tokio_util::sync::CancellationToken;

use crate::{ClientOptions, Credentials, EtagCache, GithubError, RetryPolicy};

/// Options for `org`'s client. `max_rate_wait` bounds how long one call
/// waits for rate budget before failing as `RateLimited`.
pub fn client_options(
    config: &Config,
    org: &OrgConfig,
    etags: Arc<dyn EtagCache>,
    cancel: CancellationToken,
    max_rate_wait: Duration,
) -> Result<ClientOptions, GithubError> {
    let credentials = match org.auth() {
        Some(OrgAuth::App {
            app_id,
            installation_id,
            private_key_path,
        }) => {
            let pem = std::fs::read(&private_key_path).map_err(|e| {
                GithubError::Credentials(format!(
                    "org {}: cannot read private_key_path {}: {e}",
                    org.org,
                    private_key_path.display()
                ))
            })?;
            Credentials::app(app_id, installation_id, &pem)?
        }
        Some(OrgAuth::Token(source)) => {
            let key = format!("github.orgs[{}].token", org.org);
            let secret = source
                .resolve(&key)
                .map_err(|e| GithubError::Credentials(e.to_string()))?
                .ok_or_else(|| GithubError::Credentials(format!("{key}: no token configured")))?;
            Credentials::Token(secret)
        }
        None => {
            return Err(GithubError::Credentials(format!(
                "org {}: no credentials configured",
                org.org
            )));
        }
    };
    Ok(ClientOptions {
        org: org.org.clone(),
        api_base: config.github.api_base_url_of(org).url().clone(),
        credentials,
        request_timeout: config.github.request_timeout.get(),
        retry: RetryPolicy::from(&config.retry),
        min_remaining: config.rate_limit.min_remaining_threshold.into(),
        reset_buffer: config.rate_limit.min_reset_buffer.get(),
        secondary_backoff: config.rate_limit.secondary_limit_backoff.get(),
        max_rate_wait,
        token_refresh_margin: crate::REFRESH_MARGIN,
        etags,
        cancel,
        tenure: None,
    })
}
