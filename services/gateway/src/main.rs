//! `ghstats-gateway`: parse flags, load config, run [`ghstats_gateway::serve`].

ghstats_runtime::service_main!(
    ghstats_gateway,
    "ghstats-gateway",
    "The ghstats metrics gateway: serves /metrics to Prometheus from the shared store"
);
