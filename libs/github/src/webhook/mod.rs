//! GitHub webhooks: the `X-Hub-Signature-256` check, the payloads of the
//! events ghstats reads, and the App API of failed deliveries (list and
//! redeliver), as GitHub documents them.

mod deliveries;
mod payload;
mod signature;

pub use deliveries::{HookDelivery, MAX_DELIVERY_PAGES};
pub use payload::*;
pub use signature::{SignatureError, Signatures, sign};

/// GitHub's cap on a delivery's payload: larger ones are not sent.
pub const MAX_PAYLOAD_BYTES: usize = 25 * 1024 * 1024;
