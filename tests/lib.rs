//! The cross-service end-to-end tests are in `tests/*.rs`; what they share
//! is in `ghstats-testkit` (feature `world`).
