//! The GitHub client of ghstats, one per org: App, personal-token and GitHub
//! Enterprise Server auth; conditional requests through a shared ETag cache
//! (304s cost no rate budget); rate-limit state from every response's
//! headers with waits below the threshold and back-off on secondary limits;
//! the one retry policy for transient failures; typed, paginated endpoints;
//! and accounting of what each call cost.
//!
//! Credentials are only ever sent to the configured API host and never
//! appear in `Debug` output, logs or errors.

mod accounting;
mod auth;
mod client;
pub mod copilot;
mod endpoints;
mod error;
mod etag;
mod from_config;
mod link;
pub mod models;
mod rate;
mod retry;
pub mod webhook;

pub use accounting::{Usage, status_class};
/// Re-exported so other crates can implement [`EtagCache`].
pub use async_trait::async_trait;
pub use auth::{Credentials, InstallationToken, REFRESH_MARGIN};
pub use client::{API_VERSION, ClientOptions, Fetched, GithubClient};
pub use endpoints::{Conditional, Listed, OpenPullsListed, OpenTally};
pub use error::GithubError;
pub use etag::{EtagCache, MemoryEtagCache, Pending, Unkept, Validator};
pub use from_config::client_options;
pub use rate::Budget;
pub use retry::RetryPolicy;
