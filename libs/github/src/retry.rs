//! Waiting between GitHub retries: the policy is the workspace's one
//! [`RetryPolicy`]; every wait ends early on shutdown.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::GithubError;

pub use ghstats_core::retry::RetryPolicy;

/// Sleeps `d` unless `cancel` fires first.
pub async fn sleep(d: Duration, cancel: &CancellationToken) -> Result<(), GithubError> {
    tokio::select! {
        () = tokio::time::sleep(d) => Ok(()),
        () = cancel.cancelled() => Err(GithubError::Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleep_ends_on_cancel() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        assert_eq!(
            sleep(Duration::from_secs(3600), &cancel).await,
            Err(GithubError::Cancelled)
        );
    }
}
