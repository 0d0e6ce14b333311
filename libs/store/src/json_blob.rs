//! Typed JSON values in the store's blob namespaces: the one way a crate
//! keeps a serde value (LOC state, repository marks, rate budgets) in the
//! store. Encoding failures are errors, never empty blobs; a stored value
//! that no longer decodes (written by another version) reads as absent,
//! with a warning, so the caller starts afresh instead of failing forever.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{BlobKind, Result, Store, StoreError};

/// Stores `value` as JSON under `kind`/`key` for `ttl`.
pub async fn put_json<T: Serialize + ?Sized>(
    store: &dyn Store,
    kind: BlobKind,
    key: &str,
    value: &T,
    ttl: Duration,
) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|source| StoreError::Encode {
        what: kind.ns(),
        source,
    })?;
    store.put_blob(kind, key, &bytes, ttl).await
}

/// The JSON value under `kind`/`key`, if there is one that decodes.
pub async fn get_json<T: DeserializeOwned>(
    store: &dyn Store,
    kind: BlobKind,
    key: &str,
) -> Result<Option<T>> {
    let Some(raw) = store.get_blob(kind, key).await? else {
        return Ok(None);
    };
    match serde_json::from_slice(&raw) {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            tracing::warn!(kind = kind.ns(), key, error = %e, "stored value does not decode; starting afresh");
            Ok(None)
        }
    }
}
