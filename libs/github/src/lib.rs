//! The GitHub client: App / PAT / GHES auth, rate-limit state, conditional requests, retry policy and typed endpoints.
//!
//! Not built yet: this crate only reserves its place in the dependency graph.
