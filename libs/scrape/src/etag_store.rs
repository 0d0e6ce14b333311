//! The GitHub client's conditional-request cache kept in the shared store,
//! so every replica (and the next leader) gets 304s for what another one
//! already fetched.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ghstats_github::{CachedResponse, EtagCache};
use ghstats_store::{BlobKind, Store};
use serde::{Deserialize, Serialize};

#[derive(Debug)]
pub struct StoreEtagCache {
    store: Arc<dyn Store>,
    ttl: Duration,
}

impl StoreEtagCache {
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self { store, ttl }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    etag: String,
    link: Option<String>,
    body: String,
}

#[async_trait::async_trait]
impl EtagCache for StoreEtagCache {
    async fn get(&self, key: &str) -> Option<CachedResponse> {
        let raw = self
            .store
            .get_blob(BlobKind::Etag, key)
            .await
            .ok()
            .flatten()?;
        let s: Stored = serde_json::from_slice(&raw).ok()?;
        Some(CachedResponse {
            etag: s.etag,
            link: s.link,
            body: Bytes::from(s.body),
        })
    }

    async fn put(&self, key: &str, response: CachedResponse) {
        let Ok(body) = String::from_utf8(response.body.to_vec()) else {
            return;
        };
        let stored = Stored {
            etag: response.etag,
            link: response.link,
            body,
        };
        if let Ok(bytes) = serde_json::to_vec(&stored)
            && let Err(e) = self
                .store
                .put_blob(BlobKind::Etag, key, &bytes, self.ttl)
                .await
        {
            tracing::warn!(error = %e, "cannot store an ETag");
        }
    }
}
