//! What the leader knows of an org's GitHub state, kept in the store so
//! that workers (and a new leader) know it before they spend from the same
//! installation: the primary rate budget as last seen, and the end of a
//! GitHub cooldown.

use chrono::{DateTime, TimeZone, Utc};
use ghstats_github::Budget;
use ghstats_store::{BlobKind, Store, StoreError, json_blob};
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
    json_blob::put_json(store, BlobKind::RateBudget, org, &shared, ttl).await
}

/// The last budget shared for `org`, if it has not reset since.
pub async fn shared(store: &dyn Store, org: &str) -> Result<Option<Budget>, StoreError> {
    let Some(s) = json_blob::get_json::<Shared>(store, BlobKind::RateBudget, org).await? else {
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

/// Records that `org` cools down until `until` (expires then).
pub async fn share_cooldown(
    store: &dyn Store,
    org: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Ok(ttl) = (until - now).to_std() else {
        return Ok(());
    };
    let value = until.timestamp().to_string();
    store
        .put_blob(BlobKind::Cooldown, org, value.as_bytes(), ttl)
        .await
}

/// Ends `org`'s shared cooldown before its time (GitHub answers again):
/// the entry now says it ended at `now`, and expires soon after.
pub async fn end_cooldown(
    store: &dyn Store,
    org: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let value = now.timestamp().to_string();
    store
        .put_blob(
            BlobKind::Cooldown,
            org,
            value.as_bytes(),
            std::time::Duration::from_secs(1),
        )
        .await
}

/// The end of `org`'s cooldown, if it is cooling down at `now`.
pub async fn shared_cooldown(
    store: &dyn Store,
    org: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let Some(raw) = store.get_blob(BlobKind::Cooldown, org).await? else {
        return Ok(None);
    };
    let until = std::str::from_utf8(&raw)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|t| Utc.timestamp_opt(t, 0).single());
    Ok(until.filter(|u| *u > now))
}
