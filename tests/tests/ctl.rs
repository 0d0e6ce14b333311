//! `ghstats ctl` against running services (the all-in-one process on
//! ephemeral ports): status in text and JSON, scrape, backfill (and its
//! dedup), pause and resume of an org, drain and resume of a worker, and
//! the clear error without the admin token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_standalone::ctl::{CtlArgs, CtlCommand, run};
use ghstats_standalone::{Listeners, serve};
use ghstats_testkit::{eventually, world};

const ADMIN: &str = "ctl-admin-token";

#[tokio::test]
async fn every_ctl_command_works_against_running_services() {
    let shutdown = Shutdown::new();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin");
    std::fs::write(&token, ADMIN).unwrap();
    let w = world(
        &shutdown,
        &format!("services:\n  admin_token_file: {}\n", token.display()),
    );
    let listeners = Listeners::ephemeral().await.unwrap();
    let scheduler = format!("http://{}", listeners.scheduler.grpc_addr());
    let worker = format!("http://{}", listeners.worker.grpc_addr());
    let config = ghstats_standalone::standalone_config((*w.config).clone());
    tokio::spawn(serve(config, listeners, shutdown.clone()));

    let args = |command: CtlCommand, json: bool, with_token: bool| CtlArgs {
        config: None,
        schedulers: vec![scheduler.clone()],
        workers: vec![worker.clone()],
        token_file: with_token.then(|| token.clone()),
        json,
        command,
    };
    let up = eventually(Duration::from_secs(20), || async {
        run(&args(CtlCommand::Status, false, false))
            .await
            .is_ok_and(|out| out.contains("leader") && out.contains("consuming"))
    })
    .await;
    assert!(
        up,
        "{:?}",
        run(&args(CtlCommand::Status, false, false)).await
    );

    let json: serde_json::Value =
        serde_json::from_str(&run(&args(CtlCommand::Status, true, false)).await.unwrap()).unwrap();
    assert_eq!(json["schedulers"][0]["role"], "leader");
    assert_eq!(json["schedulers"][0]["orgs"][0]["org"], "org-a");
    assert_eq!(json["workers"][0]["draining"], false);
    for replica in [&json["schedulers"][0], &json["workers"][0]] {
        let mode = replica["health"].as_str().unwrap_or_default();
        assert!(
            ["healthy", "degraded", "unhealthy"].contains(&mode),
            "each replica reports its health mode: {replica}"
        );
    }

    let org = || "org-a".to_owned();
    let refused = run(&args(CtlCommand::Pause { org: org() }, false, false)).await;
    let err = refused.unwrap_err();
    assert!(err.to_string().contains("admin token"), "{err}");

    let out = run(&args(CtlCommand::Scrape { org: org() }, false, true))
        .await
        .unwrap();
    assert!(out.contains("org-a"), "{out}");

    let to = chrono::Utc::now();
    let backfill = || CtlCommand::Backfill {
        org: org(),
        repo: "repo-002".into(),
        from: to - chrono::Duration::hours(2),
        to,
    };
    let first = run(&args(backfill(), false, true)).await.unwrap();
    assert!(first.starts_with("1 job(s) enqueued"), "{first}");
    let again = run(&args(backfill(), true, true)).await.unwrap();
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["deduplicated"], 1);

    let paused = run(&args(CtlCommand::Pause { org: org() }, false, true))
        .await
        .unwrap();
    assert!(paused.contains("paused"), "{paused}");
    let resumed = run(&args(
        CtlCommand::Resume {
            org: Some(org()),
            worker: None,
        },
        true,
        true,
    ))
    .await
    .unwrap();
    assert!(resumed.contains("\"paused\":false"), "{resumed}");

    let drained = run(&args(
        CtlCommand::Drain {
            worker: worker.clone(),
        },
        false,
        true,
    ))
    .await
    .unwrap();
    assert!(drained.contains("draining"), "{drained}");
    let back = run(&args(
        CtlCommand::Resume {
            org: None,
            worker: Some(worker.clone()),
        },
        false,
        true,
    ))
    .await
    .unwrap();
    assert!(back.contains("consuming"), "{back}");
    shutdown.trigger();
}
