//! A GitHub API simulator for tests, benchmarks and the standalone demo.
//!
//! Not built yet: this crate only reserves its place in the dependency graph.
