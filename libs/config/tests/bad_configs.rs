//! Each bad config is refused with a message that names the key, and the
//! line or environment variable that set it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ghstats_config::load_str;

/// A valid org block; cases add to or replace parts of it.
const ORG: &str = "github:\n  orgs:\n    - org: org-a\n      token_env: GH_TOKEN\n";

struct Case {
    name: &'static str,
    yaml: String,
    env: Vec<(&'static str, &'static str)>,
    expect: &'static str,
}

fn case(name: &'static str, yaml: &str, expect: &'static str) -> Case {
    Case {
        name,
        yaml: yaml.to_owned(),
        env: Vec::new(),
        expect,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "unknown section",
            "servr:\n  listen_addr: \":8080\"\n",
            "servr (line 1): unknown field `servr`, expected one of",
        ),
        case(
            "unknown org key",
            &format!("{ORG}      app_idd: 5\n"),
            "github.orgs[0].app_idd (line 5): unknown field `app_idd`",
        ),
        case(
            "duplicate org",
            &format!("{ORG}    - org: ORG-A\n      token_env: OTHER\n"),
            "github.orgs[1].org (line 5): duplicate org \"ORG-A\" (already at github.orgs[0])",
        ),
        case(
            "both auth methods",
            &format!(
                "{ORG}      app_id: 1\n      installation_id: 2\n      private_key_path: /k.pem\n"
            ),
            "github.orgs[0] (line 3): configure either a GitHub App (app_id, installation_id, private_key_path) or a token (token_env or token_file), not both",
        ),
        case(
            "no auth",
            "github:\n  orgs:\n    - org: org-a\n",
            "github.orgs[0] (line 3): no credentials: configure a GitHub App",
        ),
        case(
            "partial app",
            "github:\n  orgs:\n    - org: org-a\n      app_id: 1\n      private_key_path: /k.pem\n",
            "github.orgs[0].installation_id (line 3): is required with a GitHub App",
        ),
        case(
            "two token sources",
            &format!("{ORG}      token_file: /run/token\n"),
            "github.orgs[0].token_env (line 4): set only one of token_env, token_file",
        ),
        case(
            "sentinel without addresses",
            "store:\n  redis_mode: sentinel\n",
            "store.redis_sentinel_addrs (line 1): redis_mode: sentinel needs at least one sentinel address",
        ),
        case(
            "bad api url",
            "github:\n  api_base_url: \"not a url\"\n",
            "github.api_base_url (line 2): invalid URL \"not a url\": relative URL without a base",
        ),
        case(
            "bad duration",
            &format!("{ORG}      scrape_interval: 5 minutes\n"),
            "github.orgs[0].scrape_interval (line 5): invalid duration \"5 minutes\": unknown unit",
        ),
        case(
            "bare number duration",
            "store:\n  retention: 30\n",
            "store.retention (line 2): invalid duration 30: a bare number has no unit (write e.g. 30s)",
        ),
        case(
            "renew deadline too long",
            "leader_election:\n  lease_duration: 15s\n  renew_deadline: 20s\n",
            "leader_election.renew_deadline (line 3): must be shorter than lease_duration (20s >= 15s)",
        ),
        case(
            "empty requeue delays",
            "backfill:\n  requeue_delays: []\n",
            "backfill.requeue_delays (line 2): must list at least one delay",
        ),
        case(
            "unsorted requeue delays",
            "backfill:\n  requeue_delays:\n    - 5m\n    - 1m\n",
            "backfill.requeue_delays[1] (line 4): delays must increase (1m after 5m)",
        ),
        case(
            "zero org concurrency",
            &format!("{ORG}      per_org_concurrency: 0\n"),
            "github.orgs[0].per_org_concurrency (line 5): must be greater than 0",
        ),
        case(
            "zero consumers",
            "backfill:\n  consumer_count: 0\n",
            "backfill.consumer_count (line 2): must be greater than 0",
        ),
        case(
            "bad log level",
            "server:\n  log_level: verbose\n",
            "server.log_level (line 2): unknown variant `verbose`, expected one of `debug`, `info`, `warn`, `error`",
        ),
        case(
            "bad user label mode",
            "github:\n  user_label_mode: email\n",
            "github.user_label_mode (line 2): unknown variant `email`, expected one of `login`, `id`, `hashed`, `none`",
        ),
        case(
            "bad trace mode",
            "telemetry:\n  otel_trace_mode: everything\n",
            "telemetry.otel_trace_mode (line 2): unknown variant `everything`",
        ),
        case(
            "sample ratio above one",
            "telemetry:\n  otel_trace_sample_ratio: 1.5\n",
            "telemetry.otel_trace_sample_ratio (line 2): must be between 0 and 1, got 1.5",
        ),
        case(
            "tracing without endpoint",
            "telemetry:\n  otel_enabled: true\n",
            "telemetry.otel_exporter_otlp_endpoint (line 1): is required when otel_enabled is true",
        ),
        case(
            "amqp url with http scheme",
            "amqp:\n  url: http://guest:guest@localhost:5672/\n",
            "amqp.url (line 2): invalid AMQP URL: must be amqp:// or amqps:// with a host",
        ),
        case(
            "redis address without port",
            "store:\n  redis_addr: redis\n",
            "store.redis_addr (line 2): invalid address \"redis\": write host:port",
        ),
        case(
            "bad listen address",
            "server:\n  listen_addr: eighty\n",
            "server.listen_addr (line 2): invalid listen address \"eighty\"",
        ),
        case(
            "enterprise report without enterprise",
            "copilot:\n  enabled: true\n  include_enterprise_28d: true\n",
            "copilot.include_enterprise_28d (line 3): needs copilot.enterprise.enabled: true",
        ),
        case(
            "enterprise without slug",
            "copilot:\n  enabled: true\n  enterprise:\n    enabled: true\n    app_id: 1\n    installation_id: 2\n    private_key_path: /e.pem\n",
            "copilot.enterprise.slug (line 3): must not be empty",
        ),
        case(
            "queue equals dlq",
            "amqp:\n  queue: jobs\n  dlq: jobs\n",
            "amqp.dlq (line 3): must differ from amqp.queue",
        ),
        case(
            "not a mapping",
            "- server\n- github\n",
            "(top level) (line 1): the config must be a mapping of sections",
        ),
        case(
            "wrong type",
            "store:\n  index_shards: many\n",
            "store.index_shards (line 2): invalid type: string \"many\", expected u32",
        ),
        Case {
            name: "bad value from the environment",
            yaml: String::new(),
            env: vec![("GHSTATS__BACKFILL__CONSUMER_COUNT", "lots")],
            expect: "backfill.consumer_count (from environment variable GHSTATS__BACKFILL__CONSUMER_COUNT): invalid type: string \"lots\", expected u32",
        },
        Case {
            name: "unknown key from the environment",
            yaml: String::new(),
            env: vec![("GHSTATS__STORE__REDIS_ADRR", "redis:6379")],
            expect: "store.redis_adrr (from environment variable GHSTATS__STORE__REDIS_ADRR): unknown field `redis_adrr`",
        },
        Case {
            name: "list index out of range from the environment",
            yaml: ORG.to_owned(),
            env: vec![("GHSTATS__GITHUB__ORGS__3__ORG", "x")],
            expect: "github.orgs.3.org (from environment variable GHSTATS__GITHUB__ORGS__3__ORG): `github.orgs[3]` is out of range: the list has 1 items",
        },
    ]
}

#[test]
fn every_bad_config_is_refused_with_its_own_message() {
    let cases = cases();
    assert!(cases.len() >= 15);
    for c in cases {
        let env = c.env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let err = match load_str(&c.yaml, "bad.yaml", env) {
            Ok(_) => panic!("case {:?} was accepted", c.name),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(c.expect),
            "case {:?}\n  expected: {}\n  got:      {err}",
            c.name,
            c.expect
        );
        assert!(err.starts_with("bad.yaml: "), "case {:?}: {err}", c.name);
    }
}

#[test]
fn syntax_errors_give_the_position() {
    let err = load_str("server:\n  listen_addr: [\n", "broken.yaml", Vec::new()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("broken.yaml: YAML syntax error:"),
        "{text}"
    );
    assert!(text.contains("line"), "{text}");
}

#[test]
fn all_problems_are_reported_together() {
    let yaml = "backfill:\n  consumer_count: 0\nstore:\n  index_shards: 0\n";
    let err = load_str(yaml, "two.yaml", Vec::new()).unwrap_err();
    assert_eq!(err.problems().len(), 2, "{err}");
    assert!(
        err.to_string().starts_with("two.yaml: 2 problems:"),
        "{err}"
    );
}

#[test]
fn scheduler_needs_an_org() {
    let c = load_str("", "empty", Vec::new()).unwrap();
    let err = c.require_orgs("scheduler").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config: github.orgs: the scheduler needs at least one org"
    );
}
