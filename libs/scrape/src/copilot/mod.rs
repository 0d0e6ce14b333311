//! Copilot usage reports: which reports an org's cycle reads ([`scope`]),
//! how a report's records become series ([`record`], [`aggregate`]), and
//! the run of one report: link call, credential-free downloads of every
//! link, caps, writes, stale-series zeroing, checkpoints, operational
//! counters and backfill requests ([`run`]).

pub mod aggregate;
pub mod record;
pub mod run;
pub mod scope;

pub use run::{CopilotScraper, ScopeRun};
pub use scope::{DOWNLOAD_COMPONENT, JOB_PREFIX, Scope, Window};
