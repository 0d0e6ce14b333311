//! The leader lease on Kubernetes: a `coordination.k8s.io/v1` Lease named
//! `leader_election.lease_name` in `leader_election.namespace`, taken and
//! renewed with optimistic concurrency (every write is a replace carrying
//! the `resourceVersion` read, so two replicas racing for it get one 409),
//! `renewTime` with microsecond precision, holder identity = the pod name.
//!
//! Expiry is judged like client-go does: by how long *this* replica has
//! seen the record unchanged (its own monotonic clock), never by comparing
//! another node's `renewTime` with the local wall clock, so clock skew
//! cannot cause a premature takeover. The fencing term is the Lease's
//! `leaseTransitions`; a Lease created anew (deleted by hand) starts above
//! the store's current term so the new leader is not fenced.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use ghstats_store::Store;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};

use crate::{LeaseBackend, LeaseError, LeaseState};

/// The record as last read, and when this replica first saw it so.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observed {
    holder: String,
    renew_time: Option<Timestamp>,
    transitions: i32,
}

#[derive(Debug)]
pub struct KubeLease {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    /// Where the fencing term is checked; a new Lease starts above it.
    store: Arc<dyn Store>,
    observed: Mutex<Option<(Observed, Instant)>>,
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl KubeLease {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
        store: Arc<dyn Store>,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
            store,
            observed: Mutex::new(None),
        }
    }

    fn seconds(&self) -> i32 {
        i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// Whether the holder let the lease lapse, by this replica's clock:
    /// the record has not changed for a whole lease duration.
    fn lapsed(&self, now: Observed, duration: Duration) -> bool {
        let mut seen = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        let since = match seen.as_ref() {
            Some((record, at)) if *record == now => *at,
            _ => {
                *seen = Some((now, Instant::now()));
                return false;
            }
        };
        since.elapsed() >= duration
    }

    fn failed(&self, action: &'static str, source: kube::Error) -> LeaseError {
        LeaseError::Kube {
            action,
            name: self.name.clone(),
            source,
        }
    }

    async fn read(&self) -> Result<Option<Lease>, LeaseError> {
        self.api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.failed("reading", e))
    }

    fn forget(&self) {
        *self.observed.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    async fn create(&self) -> Result<LeaseState, LeaseError> {
        let floor = self.store.current_term().await?;
        let term = i32::try_from(floor + 1).unwrap_or(i32::MAX);
        let now = MicroTime(Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(self.seconds()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(term),
                ..LeaseSpec::default()
            }),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(LeaseState::Held { term: term as u64 }),
            Err(e) if is_conflict(&e) => Ok(LeaseState::Other),
            Err(e) => Err(self.failed("creating", e)),
        }
    }

    /// Replaces the Lease (its `resourceVersion` included): `Ok(false)` when
    /// someone wrote it since it was read.
    async fn replace(&self, lease: &Lease) -> Result<bool, LeaseError> {
        match self
            .api
            .replace(&self.name, &PostParams::default(), lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(self.failed("updating", e)),
        }
    }
}

#[async_trait]
impl LeaseBackend for KubeLease {
    async fn acquire_or_renew(&self) -> Result<LeaseState, LeaseError> {
        let Some(mut lease) = self.read().await? else {
            return self.create().await;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let transitions = spec.lease_transitions.unwrap_or(0);
        let now = MicroTime(Timestamp::now());
        let mine = holder == self.identity;
        let record = Observed {
            holder: holder.clone(),
            renew_time: spec.renew_time.as_ref().map(|t| t.0),
            transitions,
        };
        let their_duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.duration, Duration::from_secs);
        if !mine && !holder.is_empty() && !self.lapsed(record, their_duration) {
            return Ok(LeaseState::Other);
        }
        let term = if mine {
            transitions
        } else {
            transitions.saturating_add(1)
        };
        let mut next = spec;
        next.holder_identity = Some(self.identity.clone());
        next.lease_duration_seconds = Some(self.seconds());
        next.renew_time = Some(now.clone());
        if !mine {
            next.acquire_time = Some(now);
            next.lease_transitions = Some(term);
        }
        lease.spec = Some(next);
        if self.replace(&lease).await? {
            self.forget();
            Ok(LeaseState::Held {
                term: u64::try_from(term).unwrap_or(0),
            })
        } else {
            // Another replica wrote the Lease first (a renewal or a takeover).
            Ok(LeaseState::Other)
        }
    }

    async fn release(&self) -> Result<(), LeaseError> {
        let Some(mut lease) = self.read().await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        // As client-go: no holder, and a 1 s duration so followers see it free.
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        self.replace(&lease).await.map(|_| ())
    }

    async fn holder(&self) -> Result<Option<String>, LeaseError> {
        Ok(self
            .read()
            .await?
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty()))
    }
}
