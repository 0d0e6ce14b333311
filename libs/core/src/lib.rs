//! The bottom of the ghstats crate graph: what every crate shares and
//! nothing more. The shutdown scope with its named, tracked tasks
//! ([`Shutdown`]), the one retry policy ([`retry::RetryPolicy`]), the
//! leader's tenure that fences GitHub calls ([`Tenure`]), the health
//! registry behind `/healthz` ([`HealthRegistry`]) and the container
//! health probe ([`probe`]). It depends on tokio and little else; hosting
//! (HTTP, gRPC, CLI, telemetry) is `ghstats-runtime`, above the libs.

pub mod health;
pub mod identity;
pub mod probe;
pub mod retry;
pub mod shutdown;
pub mod tenure;

/// The `async_trait` the shared traits (`FleetView`) are written with.
pub use async_trait::async_trait;
pub use health::{ComponentStatus, HealthRegistry, Mode, Readiness};
pub use shutdown::{Cadence, Resumed, Shutdown};
pub use tenure::Tenure;
