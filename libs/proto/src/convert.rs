//! Checked conversions between the generated protobuf types and the domain
//! types.

use chrono::{DateTime, Utc};

use crate::backfill::UncheckedJob;
use crate::{BackfillJob, BackfillReason, ContractError, Role, v1};

const REASON_PREFIX: &str = "BACKFILL_REASON_";

/// Converts a wire timestamp; `None` stays `None`, an out-of-range one is an
/// error naming the field.
pub(crate) fn timestamp_from_proto(
    ts: Option<prost_types::Timestamp>,
    field: &'static str,
) -> Result<Option<DateTime<Utc>>, ContractError> {
    let Some(ts) = ts else { return Ok(None) };
    let nanos = u32::try_from(ts.nanos).ok();
    nanos
        .and_then(|n| DateTime::from_timestamp(ts.seconds, n))
        .map(Some)
        .ok_or_else(|| ContractError::InvalidField {
            field,
            reason: format!("timestamp {}s {}ns is out of range", ts.seconds, ts.nanos),
        })
}

/// Converts a domain time to a wire timestamp.
pub fn timestamp_to_proto(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

impl TryFrom<i32> for BackfillReason {
    type Error = ContractError;

    fn try_from(value: i32) -> Result<Self, Self::Error> {
        let wire = v1::BackfillReason::try_from(value)
            .map_err(|_| ContractError::UnknownReason(value.to_string()))?;
        if wire == v1::BackfillReason::Unspecified {
            return Err(ContractError::MissingField("reason"));
        }
        let name = wire.as_str_name().trim_start_matches(REASON_PREFIX);
        name.to_ascii_lowercase().parse()
    }
}

impl From<BackfillReason> for v1::BackfillReason {
    fn from(reason: BackfillReason) -> Self {
        let name = format!("{REASON_PREFIX}{}", reason.as_str().to_ascii_uppercase());
        // Every domain reason has a protobuf twin; a unit test checks it.
        v1::BackfillReason::from_str_name(&name).unwrap_or(v1::BackfillReason::Unspecified)
    }
}

impl TryFrom<v1::BackfillJob> for BackfillJob {
    type Error = ContractError;

    fn try_from(msg: v1::BackfillJob) -> Result<Self, Self::Error> {
        let reason = BackfillReason::try_from(msg.reason)?;
        let non_zero = |n: u32| (n != 0).then_some(n);
        UncheckedJob {
            job_id: Some(msg.job_id),
            dedup_key: Some(msg.dedup_key),
            org: Some(msg.org),
            repo: Some(msg.repo),
            window_start: timestamp_from_proto(msg.window_start, "window_start")?,
            window_end: timestamp_from_proto(msg.window_end, "window_end")?,
            reason: Some(reason.as_str().to_owned()),
            attempt: non_zero(msg.attempt),
            max_attempts: non_zero(msg.max_attempts),
            created_at: timestamp_from_proto(msg.created_at, "created_at")?,
        }
        .check()
    }
}

impl From<&BackfillJob> for v1::BackfillJob {
    fn from(job: &BackfillJob) -> Self {
        v1::BackfillJob {
            job_id: job.job_id.clone(),
            dedup_key: job.dedup_key.clone(),
            org: job.org.clone(),
            repo: job.repo.clone(),
            window_start: Some(timestamp_to_proto(job.window.start())),
            window_end: Some(timestamp_to_proto(job.window.end())),
            reason: v1::BackfillReason::from(job.reason) as i32,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            created_at: Some(timestamp_to_proto(job.created_at)),
        }
    }
}

impl TryFrom<i32> for Role {
    type Error = ContractError;

    fn try_from(value: i32) -> Result<Self, Self::Error> {
        match v1::Role::try_from(value) {
            Ok(v1::Role::Leader) => Ok(Role::Leader),
            Ok(v1::Role::Follower) => Ok(Role::Follower),
            Ok(v1::Role::Unspecified) => Err(ContractError::MissingField("role")),
            Err(_) => Err(ContractError::InvalidField {
                field: "role",
                reason: format!("unknown value {value}"),
            }),
        }
    }
}

impl From<Role> for v1::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Leader => v1::Role::Leader,
            Role::Follower => v1::Role::Follower,
        }
    }
}
