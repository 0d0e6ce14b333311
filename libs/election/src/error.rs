//! Why a lease attempt failed. Every failure is retried by the driver,
//! never fatal; it keeps its source for the log.

use ghstats_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The Redis lease (or the store's term a Kubernetes Lease starts
    /// above) could not be read or written.
    #[error("lease store: {0}")]
    Store(#[from] StoreError),
    /// The Kubernetes API refused or failed a call on the Lease.
    #[error("{action} Lease {name}: {}", describe(.source))]
    Kube {
        action: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// No Kubernetes client could be configured.
    #[error("no Kubernetes client config (in-cluster or kubeconfig): {0}")]
    KubeConfig(#[source] kube::Error),
    /// The attempt took longer than `retry_period`.
    #[error("lease call timed out")]
    Timeout,
}

/// A Kubernetes API error as one line.
fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({}): {}", s.reason, s.code, s.message),
        other => other.to_string(),
    }
}
