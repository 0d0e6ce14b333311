//! `ghstats-scheduler`: parse flags, load config, run [`ghstats_scheduler::serve`].

ghstats_runtime::service_main!(
    ghstats_scheduler,
    "ghstats-scheduler",
    "The ghstats scheduler: leader-elected org scrapes, backfill enqueueing and store GC"
);
