//! The ghstats contract: protobuf messages and gRPC services generated from
//! `proto/ghstats/v1`, the domain types the rest of the workspace uses, and
//! the checked conversions between the two.
//!
//! A message from the wire becomes a domain value only through `TryFrom`,
//! which rejects incomplete or inconsistent messages with a [`ContractError`];
//! nothing here panics on bad input.

mod backfill;
mod convert;
pub use convert::timestamp_to_proto;
mod error;
mod role;

pub use backfill::{BackfillJob, BackfillReason, TimeWindow};
pub use error::ContractError;
pub use role::Role;

/// Generated code for package `ghstats.v1`.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations
)]
pub mod v1 {
    tonic::include_proto!("ghstats.v1");
}
