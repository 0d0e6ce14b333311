//! The specification's example config and its three ConfigMap configs load
//! and validate, with the values they state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ghstats_config::{Duration, ElectionBackend, RedisMode, load_str};

fn example(name: &str) -> ghstats_config::Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/examples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    load_str(&text, name, Vec::new()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn spec_example_loads() {
    let c = example("spec-example.yaml");
    assert_eq!(c.github.orgs.len(), 2);
    assert_eq!(c.github.orgs[1].org, "org-b");
    assert_eq!(c.github.orgs[1].app_id, Some(333_333));
    assert_eq!(c.backfill.requeue_delays.len(), 4);
    assert_eq!(c.loc.large_repo_cooldown, "7d".parse::<Duration>().unwrap());
    assert!(c.telemetry.otel_enabled);
    assert_eq!(
        c.telemetry.otlp_endpoint_url(),
        "http://otel-collector:4317"
    );
}

#[test]
fn base_configmap_loads() {
    let c = example("configmap-base.yaml");
    assert_eq!(c.store.index_shards, 128);
    assert_eq!(
        c.leader_election.effective_backend(),
        ElectionBackend::Kubernetes
    );
    assert_eq!(
        c.amqp.url.to_string(),
        "amqp://githubstats:<redacted>@rabbitmq.github-stats.svc.cluster.local:5672/"
    );
}

#[test]
fn nonprod_configmap_loads() {
    let c = example("configmap-nonprod.yaml");
    assert_eq!(c.github.orgs.len(), 1);
    assert_eq!(c.backfill.consumer_count, 3);
    assert_eq!(c.store.max_series_budget, 3_000_000);
    assert_eq!(c.retry.max_backoff, Duration::from_secs(90));
}

#[test]
fn prod_configmap_loads_with_sentinel() {
    let c = example("configmap-prod.yaml");
    assert_eq!(c.store.redis_mode, RedisMode::Sentinel);
    assert!(c.store.redis_addr.is_empty());
    assert_eq!(
        c.store.redis_sentinel_addrs[0].as_str(),
        "redis-sentinel.github-stats.svc.cluster.local:26379"
    );
    assert_eq!(c.store.index_shards, 256);
}

#[test]
fn every_example_in_the_repository_loads() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut seen = 0;
    for sub in ["", "examples"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                load_str(&text, &path.display().to_string(), Vec::new())
                    .unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
            }
        }
    }
    assert!(seen >= 4, "only {seen} example configs found");
}

#[test]
fn empty_file_gives_the_documented_defaults() {
    let c = load_str("", "empty", Vec::new()).unwrap();
    assert_eq!(c.server.listen_addr.to_string(), ":8080");
    assert_eq!(c.github.user_denylist, vec!["*[bot]".to_owned()]);
    assert_eq!(c.backfill.requeue_delays[3], Duration::from_secs(7200));
    assert_eq!(c.store.key_prefix, "ghm:");
    assert_eq!(
        c.services.scheduler.grpc_listen_addr.socket_addr().port(),
        9091
    );
}

/// A deployment config file of the repository, loaded from its path.
fn shipped(relative: &str) -> ghstats_config::Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    ghstats_config::load_file(&path).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[test]
fn shipped_deployment_configs_load() {
    let compose = shipped("config/compose.yaml");
    assert_eq!(
        compose.leader_election.effective_backend(),
        ElectionBackend::Redis
    );
    assert_eq!(compose.github.orgs.len(), 2);
    for overlay in ["base/common", "overlays/nonprod", "overlays/prod"] {
        let c = shipped(&format!("deploy/kustomize/{overlay}/config.yaml"));
        assert_eq!(
            c.leader_election.effective_backend(),
            ElectionBackend::Kubernetes,
            "{overlay}: Kubernetes deployments elect over a coordination.k8s.io Lease"
        );
    }
    let prod = shipped("deploy/kustomize/overlays/prod/config.yaml");
    assert_eq!(prod.store.redis_mode, RedisMode::Sentinel);
}
