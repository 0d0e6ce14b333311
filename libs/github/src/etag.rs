//! Conditional requests: per URL, the validator of its last 200 (the ETag),
//! its `Link` header and a small memo of what the caller derived from it,
//! never the body. The next request sends `If-None-Match`; a 304 (free of
//! rate budget) hands back the memo, which is all the caller needs and
//! costs no parse of a body. The scrape crate keeps validators in the
//! shared store so every replica benefits; [`MemoryEtagCache`] is the
//! process-local one.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

/// What is kept of a 200 answer to validate the next request with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validator {
    pub etag: String,
    /// The `Link` header reduced to its `rel="next"` (absent on a last
    /// or only page), so a 304 page can still be followed.
    pub link: Option<String>,
    /// What the caller derived from the answer (a page's cursor, compact
    /// items, a digest), handed back on a 304.
    pub memo: Bytes,
}

/// First line of [`Validator::encode`]: a stored entry in another format
/// (an older release's, which held the body) is not read as a validator.
const STORED_FORMAT: &[u8] = b"v1\n";

impl Validator {
    /// The stored form: a format line, the ETag and the `Link` header on a
    /// line each (header values hold no line break), then the memo as is.
    pub fn encode(&self) -> Vec<u8> {
        let link = self.link.as_deref().unwrap_or("");
        let mut out = Vec::with_capacity(
            STORED_FORMAT.len() + self.etag.len() + link.len() + 2 + self.memo.len(),
        );
        out.extend_from_slice(STORED_FORMAT);
        out.extend_from_slice(self.etag.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(link.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&self.memo);
        out
    }

    /// Reads [`encode`](Self::encode)'s form; `None` for anything else.
    pub fn decode(raw: &[u8]) -> Option<Self> {
        let rest = raw.strip_prefix(STORED_FORMAT)?;
        let mut parts = rest.splitn(3, |b| *b == b'\n');
        let etag = std::str::from_utf8(parts.next()?).ok()?;
        let link = std::str::from_utf8(parts.next()?).ok()?;
        let memo = parts.next()?;
        if etag.is_empty() {
            return None;
        }
        Some(Self {
            etag: etag.to_owned(),
            link: (!link.is_empty()).then(|| link.to_owned()),
            memo: Bytes::copy_from_slice(memo),
        })
    }
}

/// A 200's validator that is not kept yet: the caller adds its memo and
/// keeps it (through [`crate::GithubClient::keep`]) once what it derived
/// from the answer is stored, so a 304 never hides an answer whose
/// derivation was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub(crate) url: String,
    pub(crate) etag: String,
    pub(crate) link: Option<String>,
}

impl Pending {
    /// The validator to keep, with `memo`.
    pub fn with_memo(self, memo: impl Into<Bytes>) -> Unkept {
        Unkept(vec![(
            self.url,
            Validator {
                etag: self.etag,
                link: self.link,
                memo: memo.into(),
            },
        )])
    }
}

/// Validators waiting for the caller to store what it derived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "validators are kept only by GithubClient::keep"]
pub struct Unkept(pub(crate) Vec<(String, Validator)>);

impl Unkept {
    pub fn extend(&mut self, other: Unkept) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[async_trait::async_trait]
pub trait EtagCache: Send + Sync + std::fmt::Debug {
    async fn get(&self, key: &str) -> Option<Validator>;
    async fn put(&self, key: &str, validator: Validator);

    /// Keeps several at once (a store that groups them writes each group
    /// once).
    async fn put_all(&self, validators: Vec<(String, Validator)>) {
        for (key, validator) in validators {
            self.put(&key, validator).await;
        }
    }
}

/// Process-local and bounded: past `capacity` the oldest keys go first.
#[derive(Debug)]
pub struct MemoryEtagCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, Validator>,
    /// Keys in insertion order, for eviction.
    order: VecDeque<String>,
}

impl MemoryEtagCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries::default()),
        }
    }
}

impl Default for MemoryEtagCache {
    fn default() -> Self {
        Self::new(100_000)
    }
}

#[async_trait::async_trait]
impl EtagCache for MemoryEtagCache {
    async fn get(&self, key: &str) -> Option<Validator> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.map.get(key).cloned()
    }

    async fn put(&self, key: &str, validator: Validator) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.map.insert(key.to_owned(), validator).is_none() {
            inner.order.push_back(key.to_owned());
        }
        while inner.map.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tag: &str) -> Validator {
        Validator {
            etag: tag.into(),
            link: None,
            memo: Bytes::new(),
        }
    }

    #[tokio::test]
    async fn keeps_the_newest_entries_within_capacity() {
        let cache = MemoryEtagCache::new(2);
        cache.put("a", entry("1")).await;
        cache.put("b", entry("2")).await;
        cache.put("a", entry("3")).await;
        cache.put("c", entry("4")).await;
        assert_eq!(cache.get("a").await, None);
        assert_eq!(cache.get("b").await.map(|e| e.etag), Some("2".into()));
        assert_eq!(cache.get("c").await.map(|e| e.etag), Some("4".into()));
    }

    #[test]
    fn the_stored_form_reads_back_and_refuses_other_forms() {
        let v = Validator {
            etag: "W/\"abc\"".into(),
            link: Some("<https://api.github.com/x?page=2>; rel=\"next\"".into()),
            memo: Bytes::from_static(b"3 2026-11-30T10:00:00Z\nwith a line break"),
        };
        assert_eq!(Validator::decode(&v.encode()), Some(v.clone()));
        let bare = Validator {
            link: None,
            memo: Bytes::new(),
            ..v
        };
        assert_eq!(Validator::decode(&bare.encode()), Some(bare));
        // An older release stored a JSON object with the body.
        assert_eq!(
            Validator::decode(br#"{"etag":"x","link":null,"body":"[]"}"#),
            None
        );
        assert_eq!(Validator::decode(b"v1\n\n\n"), None);
    }
}
