//! Environment overrides reach every kind of key, and `--dump-config`'s YAML
//! never contains a secret.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ghstats_config::{
    DEFAULT_SCRAPE_INTERVAL, Duration, SecretSource, WEBHOOK_SCRAPE_INTERVAL, load_str,
};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const ORG: &str = "github:\n  orgs:\n    - org: org-a\n      token_env: GH_TOKEN\n";

#[test]
fn overrides_reach_scalars_lists_and_list_items() {
    let c = load_str(
        ORG,
        "t.yaml",
        env(&[
            ("GHSTATS__STORE__REDIS_ADDR", "10.0.0.5:6380"),
            ("GHSTATS__BACKFILL__CONSUMER_COUNT", "12"),
            ("GHSTATS__BACKFILL__REQUEUE_DELAYS", "[1s, 2s]"),
            ("GHSTATS__LEADER_ELECTION__ENABLED", "false"),
            ("GHSTATS__GITHUB__ORGS__0__SCRAPE_INTERVAL", "10m"),
            ("UNRELATED", "ignored"),
        ]),
    )
    .unwrap();
    assert_eq!(c.store.redis_addr.as_str(), "10.0.0.5:6380");
    assert_eq!(c.backfill.consumer_count, 12);
    assert_eq!(
        c.backfill.requeue_delays,
        vec![Duration::from_secs(1), Duration::from_secs(2)]
    );
    assert!(!c.leader_election.enabled);
    assert_eq!(c.github.orgs[0].scrape_interval, Duration::from_secs(600));
}

#[test]
fn a_numeric_looking_value_for_a_text_key_stays_text() {
    let c = load_str(
        "",
        "t.yaml",
        env(&[
            ("GHSTATS__STORE__KEY_PREFIX", "12345"),
            ("GHSTATS__AMQP__QUEUE", "true"),
        ]),
    )
    .unwrap();
    assert_eq!(c.store.key_prefix, "12345");
    assert_eq!(c.amqp.queue.as_deref(), Some("true"));
}

#[test]
fn dump_redacts_every_secret_and_reloads() {
    let yaml = "amqp:\n  url: amqp://ghs:amqp-hunter2@rabbit:5672/\nstore:\n  redis_password: redis-hunter2\n";
    let c = load_str(
        yaml,
        "t.yaml",
        env(&[("GHSTATS__SERVICES__ADMIN_TOKEN_ENV", "ADMIN")]),
    )
    .unwrap();
    let dump = c.to_redacted_yaml();
    for secret in ["amqp-hunter2", "redis-hunter2"] {
        assert!(!dump.contains(secret), "{secret} leaked:\n{dump}");
    }
    assert!(dump.contains("redis_password: <redacted>"), "{dump}");
    assert!(
        dump.contains("amqp://ghs:<redacted>@rabbit:5672/"),
        "{dump}"
    );
    // The name of the variable is not a secret and is shown.
    assert!(dump.contains("admin_token_env: ADMIN"), "{dump}");
    // Debug output is just as careful.
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    // The dump is itself a loadable config (secrets aside).
    load_str(&dump, "dump.yaml", Vec::new()).unwrap();
}

#[test]
fn secrets_resolve_from_env_and_file_and_say_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("redis-password");
    std::fs::write(&file, "from-file\n").unwrap();
    let yaml = format!("store:\n  redis_password_file: {}\n", file.display());
    let c = load_str(&yaml, "t.yaml", Vec::new()).unwrap();
    let secret = c
        .store
        .redis_password_source()
        .resolve("store.redis_password")
        .unwrap();
    assert_eq!(secret.unwrap().expose(), "from-file");

    let missing = SecretSource::Env("GHSTATS_TEST_SURELY_UNSET_VARIABLE".into());
    let err = missing.resolve("services.admin_token").unwrap_err();
    assert_eq!(
        err.to_string(),
        "secret services.admin_token: environment variable GHSTATS_TEST_SURELY_UNSET_VARIABLE is not set"
    );
    let gone = SecretSource::File(dir.path().join("nope"));
    let err = gone
        .resolve("github.orgs[0].token")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("secret github.orgs[0].token: cannot read "),
        "{err}"
    );
}

#[test]
fn amqp_password_source_replaces_the_url_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("amqp");
    std::fs::write(&file, "s3cret").unwrap();
    let yaml = format!(
        "amqp:\n  url: amqp://ghs:placeholder@rabbit:5672/\n  password_file: {}\n",
        file.display()
    );
    let c = load_str(&yaml, "t.yaml", Vec::new()).unwrap();
    let url = c.amqp.resolved_url().unwrap();
    assert_eq!(url.expose().password(), Some("s3cret"));
    assert!(!url.to_string().contains("s3cret"));
}

#[test]
fn an_unset_scrape_interval_is_longer_with_webhooks_and_a_set_one_stays() {
    let two_orgs = "github:\n  orgs:\n    - org: org-a\n      token_env: GH_TOKEN\n    - org: org-b\n      token_env: GH_TOKEN\n      scrape_interval: 2m\n";
    let intervals = |text: &str, vars: &[(&str, &str)]| {
        let c = load_str(text, "t.yaml", env(vars)).unwrap();
        c.github
            .orgs
            .iter()
            .map(|o| o.scrape_interval)
            .collect::<Vec<_>>()
    };
    let webhooks = format!("{two_orgs}webhooks:\n  enabled: true\n");
    assert_eq!(
        intervals(two_orgs, &[]),
        vec![DEFAULT_SCRAPE_INTERVAL, Duration::from_secs(120)]
    );
    assert_eq!(
        intervals(&webhooks, &[]),
        vec![WEBHOOK_SCRAPE_INTERVAL, Duration::from_secs(120)]
    );
    assert_eq!(
        intervals(two_orgs, &[("GHSTATS__WEBHOOKS__ENABLED", "true")]),
        vec![WEBHOOK_SCRAPE_INTERVAL, Duration::from_secs(120)],
        "webhooks turned on by the environment"
    );
    assert_eq!(
        intervals(
            &webhooks,
            &[("GHSTATS__GITHUB__ORGS__0__SCRAPE_INTERVAL", "5m")]
        ),
        vec![Duration::from_secs(300), Duration::from_secs(120)],
        "an interval set by the environment is kept"
    );
    assert!(WEBHOOK_SCRAPE_INTERVAL > DEFAULT_SCRAPE_INTERVAL);
}
