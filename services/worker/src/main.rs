//! `ghstats-worker`: parse flags, load config, run [`ghstats_worker::serve`].

ghstats_runtime::service_main!(
    ghstats_worker,
    "ghstats-worker",
    "The ghstats backfill worker: re-runs missed windows from the queue"
);
