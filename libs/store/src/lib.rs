//! The store schema crate: metric catalog, key model, `Store` trait with Redis and memory backends and their conformance suite.
//!
//! Not built yet: this crate only reserves its place in the dependency graph.
