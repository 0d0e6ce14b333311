//! The sections of the config file, one module per concern.

pub mod copilot;
pub mod election;
pub mod github;
pub mod limits;
pub mod net;
pub mod observability;
pub mod pulls;
pub mod queue;
pub mod server;
pub mod store;
pub mod webhooks;
