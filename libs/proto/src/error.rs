//! The one error type for messages that break the contract.

/// A message that cannot become a domain value. Each variant names the field
/// at fault so the message that reaches an operator (or a DLQ header) says
/// what to fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContractError {
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    #[error("field `{field}` is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("window_end ({end}) is not after window_start ({start})")]
    InvertedWindow { start: String, end: String },
    #[error("unknown backfill reason `{0}`")]
    UnknownReason(String),
    #[error("malformed JSON backfill job: {0}")]
    Json(String),
}
