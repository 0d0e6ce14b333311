//! Conditional requests: the ETag and body of each URL's last 200, so the
//! next request sends `If-None-Match` and a 304 (free of rate budget)
//! returns the stored body. The store crate provides a shared
//! implementation so every replica benefits; [`MemoryEtagCache`] is the
//! process-local one.

use std::collections::HashMap;
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

/// Process-local, bounded: the oldest entries go first past `capacity`.
#[derive(Debug)]
pub struct MemoryEtagCache {
    capacity: usize,
    inner: Mutex<(HashMap<String, (u64, CachedResponse)>, u64)>,
}

impl MemoryEtagCache {
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), inner: Mutex::new((HashMap::new(), 0)) }
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
        inner.0.get(key).map(|(_, r)| r.clone())
    }

    async fn put(&self, key: &str, response: CachedResponse) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.1 += 1;
        let seq = inner.1;
        inner.0.insert(key.to_owned(), (seq, response));
        if inner.0.len() > self.capacity {
            if let Some(oldest) = inner.0.iter().min_by_key(|(_, (s, _))| *s).map(|(k, _)| k.clone()) {
                inner.0.remove(&oldest);
            }
        }
    }
}
