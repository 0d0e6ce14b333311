//! Round trips and rejections of the backfill job contract, in protobuf and
//! in JSON.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use ghstats_proto::{BackfillJob, BackfillReason, ContractError, Role, TimeWindow, v1};
use prost::Message;

fn sample_job() -> BackfillJob {
    let start = Utc.with_ymd_and_hms(2026, 2, 18, 0, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 2, 18, 0, 15, 0).unwrap();
    BackfillJob {
        job_id: "7f1c2d9e-job".into(),
        dedup_key: "org-a:repo-x:2026-02-18T00:00:00Z:2026-02-18T00:15:00Z".into(),
        org: "org-a".into(),
        repo: "repo-x".into(),
        window: TimeWindow::new(start, end).unwrap(),
        reason: BackfillReason::GithubUnhealthy,
        attempt: 2,
        max_attempts: 7,
        created_at: Utc.with_ymd_and_hms(2026, 2, 18, 0, 15, 10).unwrap(),
    }
}

#[test]
fn protobuf_round_trip_keeps_every_field() {
    let job = sample_job();
    let bytes = v1::BackfillJob::from(&job).encode_to_vec();
    let decoded = v1::BackfillJob::decode(bytes.as_slice()).unwrap();
    assert_eq!(BackfillJob::try_from(decoded).unwrap(), job);
}

#[test]
fn every_reason_survives_the_wire() {
    for reason in BackfillReason::ALL {
        let wire = v1::BackfillReason::from(reason);
        assert_ne!(
            wire,
            v1::BackfillReason::Unspecified,
            "{reason} has no twin"
        );
        assert_eq!(BackfillReason::try_from(wire as i32).unwrap(), reason);
        assert_eq!(reason.as_str().parse::<BackfillReason>().unwrap(), reason);
    }
}

#[test]
fn json_round_trip_keeps_every_field() {
    let job = sample_job();
    let json = job.to_json();
    assert_eq!(BackfillJob::from_json(&json).unwrap(), job);
}

#[test]
fn json_in_the_specification_shape_is_accepted() {
    let json = br#"{
      "job_id": "uuid",
      "dedup_key": "org-a:repo-x:2026-02-18T00:00:00Z:2026-02-18T00:15:00Z",
      "org": "org-a",
      "repo": "repo-x",
      "window_start": "2026-02-18T00:00:00Z",
      "window_end": "2026-02-18T00:05:00Z",
      "reason": "scrape_error",
      "attempt": 1,
      "max_attempts": 7,
      "created_at": "2026-02-18T00:05:10Z"
    }"#;
    let job = BackfillJob::from_json(json).unwrap();
    assert_eq!(job.reason, BackfillReason::ScrapeError);
    assert_eq!(
        job.window.end() - job.window.start(),
        chrono::Duration::minutes(5)
    );
}

#[test]
fn missing_org_is_rejected_on_both_wires() {
    let mut msg = v1::BackfillJob::from(&sample_job());
    msg.org.clear();
    assert_eq!(
        BackfillJob::try_from(msg),
        Err(ContractError::MissingField("org"))
    );

    let mut json: serde_json::Value = serde_json::from_slice(&sample_job().to_json()).unwrap();
    json.as_object_mut().unwrap().remove("org");
    let err = BackfillJob::from_json(json.to_string().as_bytes()).unwrap_err();
    assert_eq!(err, ContractError::MissingField("org"));
    assert_eq!(err.to_string(), "missing required field `org`");
}

#[test]
fn window_end_before_start_is_rejected() {
    let mut msg = v1::BackfillJob::from(&sample_job());
    std::mem::swap(&mut msg.window_start, &mut msg.window_end);
    let err = BackfillJob::try_from(msg).unwrap_err();
    assert!(
        matches!(err, ContractError::InvertedWindow { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "window_end (2026-02-18T00:00:00Z) is not after window_start (2026-02-18T00:15:00Z)"
    );
}

#[test]
fn unknown_reason_is_rejected_on_both_wires() {
    let mut msg = v1::BackfillJob::from(&sample_job());
    msg.reason = 999;
    assert_eq!(
        BackfillJob::try_from(msg),
        Err(ContractError::UnknownReason("999".into()))
    );

    let json = String::from_utf8(sample_job().to_json())
        .unwrap()
        .replace("github_unhealthy", "cosmic_rays");
    assert_eq!(
        BackfillJob::from_json(json.as_bytes()),
        Err(ContractError::UnknownReason("cosmic_rays".into()))
    );
}

#[test]
fn unspecified_reason_and_zero_attempt_are_rejected() {
    let mut msg = v1::BackfillJob::from(&sample_job());
    msg.reason = v1::BackfillReason::Unspecified as i32;
    assert_eq!(
        BackfillJob::try_from(msg),
        Err(ContractError::MissingField("reason"))
    );
    let mut msg = v1::BackfillJob::from(&sample_job());
    msg.attempt = 0;
    assert_eq!(
        BackfillJob::try_from(msg),
        Err(ContractError::MissingField("attempt"))
    );
}

#[test]
fn out_of_range_timestamp_is_rejected() {
    let mut msg = v1::BackfillJob::from(&sample_job());
    msg.created_at = Some(prost_types::Timestamp {
        seconds: i64::MAX,
        nanos: 0,
    });
    let err = BackfillJob::try_from(msg).unwrap_err();
    assert!(
        matches!(
            err,
            ContractError::InvalidField {
                field: "created_at",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn garbage_bytes_are_a_json_error_not_a_panic() {
    let err = BackfillJob::from_json(b"\x00\xffnot json").unwrap_err();
    assert!(matches!(err, ContractError::Json(_)), "{err:?}");
}

#[test]
fn roles_convert_both_ways() {
    for role in [Role::Leader, Role::Follower] {
        assert_eq!(Role::try_from(v1::Role::from(role) as i32).unwrap(), role);
    }
    assert!(Role::try_from(0).is_err());
    assert!(Role::try_from(42).is_err());
}
