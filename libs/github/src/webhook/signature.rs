//! `X-Hub-Signature-256`: `sha256=` and the lowercase hex HMAC-SHA256 of
//! the raw body under the webhook's secret, compared in constant time.

use ring::hmac;

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no X-Hub-Signature-256 header")]
    Missing,
    #[error("X-Hub-Signature-256 is not sha256=<64 hex digits>")]
    Malformed,
    #[error("X-Hub-Signature-256 matches none of the configured secrets")]
    Mismatch,
}

/// The secrets a delivery may be signed with (several while one rotates).
#[derive(Clone)]
pub struct Signatures {
    keys: Vec<hmac::Key>,
}

impl std::fmt::Debug for Signatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signatures({} secrets)", self.keys.len())
    }
}

impl Signatures {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            keys: secrets
                .into_iter()
                .map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes()))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Which secret (by position) signed `body`, given the header's value.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<usize, SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let hex = header
            .strip_prefix("sha256=")
            .filter(|h| h.len() == 64)
            .ok_or(SignatureError::Malformed)?;
        let tag = decode_hex(hex).ok_or(SignatureError::Malformed)?;
        // Every key is tried, whatever matched, so the time taken does not
        // tell which one did.
        let mut matched = None;
        for (i, key) in self.keys.iter().enumerate() {
            if hmac::verify(key, body, &tag).is_ok() && matched.is_none() {
                matched = Some(i);
            }
        }
        matched.ok_or(SignatureError::Mismatch)
    }
}

/// The header value GitHub sends for `body` signed with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_githubs_documented_example() {
        // docs.github.com, "Validating webhook deliveries": secret
        // "It's a Secret to Everybody", payload "Hello, World!".
        let header = sign("It's a Secret to Everybody", b"Hello, World!");
        assert_eq!(
            header,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let rotating = Signatures::new(["new secret", "It's a Secret to Everybody"]);
        assert_eq!(rotating.verify(Some(&header), b"Hello, World!"), Ok(1));
        assert_eq!(
            rotating.verify(Some(&header), b"Hello, World?"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(rotating.verify(None, b"x"), Err(SignatureError::Missing));
        assert_eq!(
            rotating.verify(Some("sha1=abc"), b"x"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            rotating.verify(Some(&format!("sha256={}", "zz".repeat(32))), b"x"),
            Err(SignatureError::Malformed)
        );
    }
}
