//! Which repositories of an org are scraped, and which changed since the
//! last cycle (by `pushed_at`), remembered in the store.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghstats_config::OrgConfig;
use ghstats_github::models::Repository;
use ghstats_store::{BlobKind, Store, StoreError};

use crate::glob;

/// The repositories `org` says to scrape.
pub fn select(org: &OrgConfig, repos: Vec<Repository>) -> Vec<Repository> {
    repos
        .into_iter()
        .filter(|r| {
            glob::any(&org.repo_allowlist, &r.name) && !glob::any(&org.repo_denylist, &r.name)
        })
        .filter(|r| org.include_archived || !r.archived)
        .filter(|r| org.include_forks || !r.fork)
        .filter(|r| !r.disabled)
        .collect()
}

/// Every repository of the last cycle's selection, with its `pushed_at`
/// at its last successful commit listing when that push had settled
/// (`None`: list its commits next cycle). A repository missing from a
/// newer selection has left it.
pub type PushMarks = BTreeMap<String, Option<DateTime<Utc>>>;

pub async fn load_marks(store: &dyn Store, org: &str) -> Result<PushMarks, StoreError> {
    Ok(store
        .get_blob(BlobKind::RepoCache, org)
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

pub async fn save_marks(
    store: &dyn Store,
    org: &str,
    marks: &PushMarks,
    ttl: Duration,
) -> Result<(), StoreError> {
    store
        .put_blob(
            BlobKind::RepoCache,
            org,
            &serde_json::to_vec(marks).unwrap_or_default(),
            ttl,
        )
        .await
}
