//! Which lease the config names, and connecting to it: the Redis lease
//! over `store.*`, or the Kubernetes Lease from the in-cluster config (or
//! a given API server in tests).

use std::sync::Arc;

use ghstats_config::{Config, ElectionBackend};
use ghstats_store::{RedisStore, Store};

use crate::{KubeLease, LeaseBackend, LeaseError, RedisLease};

/// How the election connects to its lease, retried until it works.
#[derive(Debug, Clone)]
pub enum LeaseSource {
    Redis(Box<ghstats_config::StoreConfig>),
    /// In-cluster config (or the local kubeconfig); the store holds the
    /// fencing term a new Lease starts above.
    Kubernetes(Arc<dyn Store>),
    /// A given API server (tests).
    KubernetesAt(Box<kube::Config>, Arc<dyn Store>),
}

/// This replica's lease identity: `leader_election.identity`, `$HOSTNAME`,
/// or a name with the process id of `service`.
pub fn lease_identity(config: &Config, service: &str) -> String {
    let configured = config.leader_election.identity.trim();
    if !configured.is_empty() {
        return configured.to_owned();
    }
    ghstats_core::identity::instance_identity(service)
}

impl LeaseSource {
    pub fn from_config(config: &Config, store: &Arc<dyn Store>) -> Self {
        match config.leader_election.effective_backend() {
            ElectionBackend::Kubernetes => LeaseSource::Kubernetes(store.clone()),
            _ => LeaseSource::Redis(Box::new(config.store.clone())),
        }
    }

    /// What it connects to, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            LeaseSource::Redis(_) => "the Redis lease",
            LeaseSource::Kubernetes(_) | LeaseSource::KubernetesAt(..) => "the Kubernetes API",
        }
    }

    /// Connects as `identity`. A Kubernetes client is built without
    /// contacting the server, so the Lease is read once here: an
    /// unreachable API server or missing RBAC is said now, as a follower,
    /// rather than as endless renew failures.
    pub async fn connect(
        &self,
        config: &Config,
        identity: &str,
    ) -> Result<Arc<dyn LeaseBackend>, LeaseError> {
        let e = &config.leader_election;
        let (name, duration) = (&e.lease_name, e.lease_duration.get());
        let kube_lease = async |client: kube::Client, store: &Arc<dyn Store>| {
            let lease = Arc::new(KubeLease::new(
                client,
                &e.namespace,
                name,
                identity,
                duration,
                store.clone(),
            ));
            lease.holder().await?;
            Ok::<_, LeaseError>(lease)
        };
        Ok(match self {
            LeaseSource::Redis(store_config) => {
                let redis = RedisStore::from_config(store_config).await?;
                Arc::new(RedisLease::new(Arc::new(redis), name, identity, duration))
            }
            LeaseSource::Kubernetes(store) => {
                let client = kube::Client::try_default()
                    .await
                    .map_err(LeaseError::KubeConfig)?;
                kube_lease(client, store).await?
            }
            LeaseSource::KubernetesAt(kube_config, store) => {
                let client = kube::Client::try_from((**kube_config).clone())
                    .map_err(LeaseError::KubeConfig)?;
                kube_lease(client, store).await?
            }
        })
    }
}
