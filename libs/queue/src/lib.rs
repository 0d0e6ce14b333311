//! The backfill job queue: AMQP topology over lapin, a memory queue, and their conformance suite.
//!
//! Not built yet: this crate only reserves its place in the dependency graph.
