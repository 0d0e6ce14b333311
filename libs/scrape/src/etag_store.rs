//! The GitHub client's conditional-request validators kept in the shared
//! store, so every replica (and the next leader) gets 304s for what another
//! one already fetched. An entry is a [`Validator`] in its own stored form
//! (the ETag, the `Link` header and the caller's memo, no body); it expires
//! with the store's retention.

use std::sync::Arc;
use std::time::Duration;

use ghstats_github::{EtagCache, Validator};
use ghstats_store::{BlobKind, Store};

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

#[async_trait::async_trait]
impl EtagCache for StoreEtagCache {
    async fn get(&self, key: &str) -> Option<Validator> {
        match self.store.get_blob(BlobKind::Etag, key).await {
            // An entry in another form (an older release's) is no
            // validator: the request goes out unconditional.
            Ok(raw) => raw.as_deref().and_then(Validator::decode),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read a validator");
                None
            }
        }
    }

    async fn put(&self, key: &str, validator: Validator) {
        if let Err(e) = self
            .store
            .put_blob(BlobKind::Etag, key, &validator.encode(), self.ttl)
            .await
        {
            tracing::warn!(error = %e, "cannot store a validator");
        }
    }
}
