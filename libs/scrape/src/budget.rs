//! The org's primary rate budget as the leader last saw it, kept in the
//! store so that workers (and a new leader) know what is left before they
//! spend from the same installation.

use chrono::{DateTime, TimeZone, Utc};
use ghstats_github::Budget;
use ghstats_store::{BlobKind, Store, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Shared {
    limit: u64,
    remaining: u64,
    used: u64,
    reset: i64,
}

/// Records `budget` for `org`; it expires with its reset.
pub async fn share(
    store: &dyn Store,
    org: &str,
    budget: &Budget,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ttl = (budget.reset - now)
        .to_std()
        .unwrap_or_default()
        .max(std::time::Duration::from_secs(1));
    let shared = Shared {
        limit: budget.limit,
        remaining: budget.remaining,
        used: budget.used,
        reset: budget.reset.timestamp(),
    };
    store
        .put_blob(
            BlobKind::RateBudget,
            org,
            &serde_json::to_vec(&shared).unwrap_or_default(),
            ttl,
        )
        .await
}

/// The last budget shared for `org`, if it has not reset since.
pub async fn shared(store: &dyn Store, org: &str) -> Result<Option<Budget>, StoreError> {
    let Some(raw) = store.get_blob(BlobKind::RateBudget, org).await? else {
        return Ok(None);
    };
    let Ok(s) = serde_json::from_slice::<Shared>(&raw) else {
        return Ok(None);
    };
    let reset = Utc
        .timestamp_opt(s.reset, 0)
        .single()
        .unwrap_or_else(Utc::now);
    Ok(Some(Budget {
        limit: s.limit,
        remaining: s.remaining,
        used: s.used,
        reset,
    }))
}
