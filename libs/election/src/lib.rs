//! Leader election: which scheduler replica scrapes. A [`LeaseBackend`]
//! tries to take or keep the lease; [`run_election`] drives it every
//! `retry_period`, calls the role hooks, keeps the [`Tenure`] that fences
//! the leader's GitHub calls, and steps down at once when the lease is
//! lost or could not be renewed within `renew_deadline`. Backends: the
//! static role from `GITHUB_STATS_INITIAL_ROLE` ([`static_role`]), the
//! Redis lease ([`RedisLease`], its keys and Lua in the store) and the
//! Kubernetes `coordination.k8s.io` Lease ([`KubeLease`]);
//! [`LeaseSource`] connects the one the config names.
//!
//! [`Tenure`]: ghstats_core::Tenure

mod driver;
mod error;
mod kubernetes;
mod redis;
mod source;
mod static_role;

pub use driver::{
    ElectionMetrics, LeaseBackend, LeaseState, RoleHooks, Timings, run_election, run_election_with,
};
pub use error::LeaseError;
pub use kubernetes::KubeLease;
pub use redis::RedisLease;
pub use source::{LeaseSource, lease_identity};
pub use static_role::{INITIAL_ROLE_ENV, InvalidRole, static_role};
