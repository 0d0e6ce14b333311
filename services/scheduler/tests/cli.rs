//! The scheduler refuses to start without an org to scrape.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn scheduler_without_orgs_exits_64() {
    let out = Command::new(env!("CARGO_BIN_EXE_ghstats-scheduler"))
        .arg("--check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("github.orgs: the scheduler needs at least one org"),
        "{stderr}"
    );
}
