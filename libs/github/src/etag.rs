//! Conditional requests: the ETag and body of each URL's last 200, so the
//! next request sends `If-None-Match` and a 304 (free of rate budget)
//! returns the stored body. The store crate provides a shared
//! implementation so every replica benefits; [`MemoryEtagCache`] is the
//! process-local one.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResponse {
    pub etag: String,
    pub body: Bytes,
    /// The `Link` header, so a 304 page can still be followed.
    pub link: Option<String>,
}

#[async_trait::async_trait]
pub trait EtagCache: Send + Sync + std::fmt::Debug {
    async fn get(&self, key: &str) -> Option<CachedResponse>;
    async fn put(&self, key: &str, response: CachedResponse);
}

/// Process-local and bounded: past `capacity` the oldest keys go first.
#[derive(Debug)]
pub struct MemoryEtagCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, CachedResponse>,
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
    async fn get(&self, key: &str) -> Option<CachedResponse> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.map.get(key).cloned()
    }

    async fn put(&self, key: &str, response: CachedResponse) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.map.insert(key.to_owned(), response).is_none() {
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

    #[tokio::test]
    async fn keeps_the_newest_entries_within_capacity() {
        let cache = MemoryEtagCache::new(2);
        let entry = |tag: &str| CachedResponse {
            etag: tag.into(),
            body: Bytes::new(),
            link: None,
        };
        cache.put("a", entry("1")).await;
        cache.put("b", entry("2")).await;
        cache.put("a", entry("3")).await;
        cache.put("c", entry("4")).await;
        assert_eq!(cache.get("a").await, None);
        assert_eq!(cache.get("b").await.map(|e| e.etag), Some("2".into()));
        assert_eq!(cache.get("c").await.map(|e| e.etag), Some("4".into()));
    }
}
