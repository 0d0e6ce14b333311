//! Jobs on the wire: protobuf (`ghstats.v1.BackfillJob`) as we publish them,
//! and the specification's JSON shape for jobs published by hand.

use ghstats_proto::{BackfillJob, ContractError, v1};
use prost::Message;

pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf; proto=ghstats.v1.BackfillJob";
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// The protobuf body of a job.
pub fn encode(job: &BackfillJob) -> Vec<u8> {
    v1::BackfillJob::from(job).encode_to_vec()
}

/// Why a message body is not a job (the dead-letter header says it).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid JSON job: {0}")]
    Json(#[source] ContractError),
    #[error("invalid protobuf job: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("invalid job: {0}")]
    Invalid(#[source] ContractError),
}

/// Reads a body by its content type: JSON when it says so (or, without a
/// content type, when it looks like a JSON object), protobuf otherwise.
/// The error says what is wrong, for the dead-letter header.
pub fn decode(body: &[u8], content_type: Option<&str>) -> Result<BackfillJob, DecodeError> {
    let json = match content_type {
        Some(ct) => ct.trim_start().starts_with("application/json"),
        None => body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
    };
    if json {
        return BackfillJob::from_json(body).map_err(DecodeError::Json);
    }
    let wire = v1::BackfillJob::decode(body)?;
    BackfillJob::try_from(wire).map_err(DecodeError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use ghstats_proto::{BackfillReason, TimeWindow};

    fn job() -> BackfillJob {
        let t = Utc.with_ymd_and_hms(2026, 2, 18, 0, 0, 0).unwrap();
        BackfillJob {
            job_id: "j1".into(),
            dedup_key: "org-a:repo-x:w".into(),
            org: "org-a".into(),
            repo: "repo-x".into(),
            window: TimeWindow::ordered(t, t + chrono::Duration::minutes(5)),
            reason: BackfillReason::ScrapeError,
            attempt: 1,
            max_attempts: 7,
            created_at: t,
        }
    }

    #[test]
    fn both_wires_round_trip() {
        let j = job();
        assert_eq!(decode(&encode(&j), Some(CONTENT_TYPE_PROTOBUF)).unwrap(), j);
        assert_eq!(decode(&j.to_json(), Some(CONTENT_TYPE_JSON)).unwrap(), j);
        assert_eq!(decode(&j.to_json(), None).unwrap(), j);
    }

    #[test]
    fn bad_bodies_say_why() {
        let e = decode(b"{\"org\": \"a\"}", None).unwrap_err().to_string();
        assert!(e.starts_with("invalid JSON job"), "{e}");
        let e = decode(&[0xff, 0xff, 0xff], Some(CONTENT_TYPE_PROTOBUF))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid protobuf job"), "{e}");
        let e = decode(b"", Some(CONTENT_TYPE_PROTOBUF))
            .unwrap_err()
            .to_string();
        assert!(e.contains("job_id") || e.contains("missing"), "{e}");
    }
}
