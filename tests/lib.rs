//! Cross-service end-to-end tests of ghstats live in `tests/*.rs` beside
//! this file; this library is empty.
