//! The `ghstats` binary's flags and exit codes, run as a real process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn ghstats(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ghstats"));
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn write_config(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    file
}

#[test]
fn bad_config_exits_64_with_one_clear_message() {
    let file = write_config("server:\n  log_level: loud\n");
    let out = ghstats(&["--config", file.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("server.log_level (line 2): unknown variant `loud`"),
        "{stderr}"
    );
    assert!(stderr.starts_with("config error: "), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_config_file_exits_64() {
    let out = ghstats(&["--config", "/nonexistent/ghstats.yaml"], &[]);
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("cannot read config file /nonexistent/ghstats.yaml"),
        "{stderr}"
    );
}

#[test]
fn bad_environment_override_exits_64_naming_the_variable() {
    let out = ghstats(
        &["--check-config"],
        &[("GHSTATS__STORE__INDEX_SHARDS", "0")],
    );
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("store.index_shards (from environment variable GHSTATS__STORE__INDEX_SHARDS): must be greater than 0"),
        "{stderr}"
    );
}

#[test]
fn check_config_prints_a_summary() {
    let file = write_config("github:\n  orgs:\n    - org: acme\n      token_env: T\n");
    let out = ghstats(
        &["--config", file.path().to_str().unwrap(), "--check-config"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("config ok: 1 org(s) [acme], store memory"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1);
}

#[test]
fn dump_config_never_prints_a_secret() {
    let file = write_config(
        "amqp:\n  url: amqp://u:amqp-s3cret@mq:5672/\nstore:\n  redis_password: redis-s3cret\n",
    );
    let out = ghstats(
        &["--config", file.path().to_str().unwrap(), "--dump-config"],
        &[("GHSTATS__STORE__REDIS_PASSWORD", "env-s3cret")],
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains("s3cret"), "{stdout}");
    assert!(stdout.contains("redis_password: <redacted>"), "{stdout}");
    assert!(
        stdout.contains("url: amqp://u:<redacted>@mq:5672/"),
        "{stdout}"
    );
    // The dump shows the effective config: the standalone forces memory.
    assert!(stdout.contains("backend: memory"), "{stdout}");
}

#[test]
fn version_and_help() {
    let out = ghstats(&["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("ghstats ")
    );
    let out = ghstats(&["--help"], &[]);
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--config", "--check-config", "--dump-config"] {
        assert!(help.contains(flag), "{help}");
    }
}
