//! Benchmark programs of ghstats live in `src/bin/`; see
//! `docs/benchmarks.md` for how to run them and the recorded figures.
