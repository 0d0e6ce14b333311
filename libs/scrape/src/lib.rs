//! Window scraping and aggregation, the LOC state machine and Copilot reports; shared by the scheduler and the worker.
//!
//! Not built yet: this crate only reserves its place in the dependency graph.
