//! Which repositories of an org are scraped, and which changed since the
//! last cycle (by `pushed_at`), remembered in the store.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghstats_config::OrgConfig;
use ghstats_github::models::Repository;
use ghstats_store::{BlobKind, Store, StoreError, json_blob};

use crate::glob;

/// The repositories `org` says to scrape.
pub fn select(org: &OrgConfig, repos: Vec<Repository>) -> Vec<Repository> {
    repos
        .into_iter()
        .filter(|r| selects(org, &r.name, r.archived, r.fork) && !r.disabled)
        .collect()
}

/// Whether `org` scrapes a repository of this name and kind.
pub fn selects(org: &OrgConfig, name: &str, archived: bool, fork: bool) -> bool {
    glob::any(&org.repo_allowlist, name)
        && !glob::any(&org.repo_denylist, name)
        && (org.include_archived || !archived)
        && (org.include_forks || !fork)
}

/// Every repository of the last cycle's selection, with its `pushed_at`
/// at its last successful commit listing when that push had settled
/// (`None`: list its commits next cycle). A repository missing from a
/// newer selection has left it.
pub type PushMarks = BTreeMap<String, Option<DateTime<Utc>>>;

pub async fn load_marks(store: &dyn Store, org: &str) -> Result<PushMarks, StoreError> {
    Ok(json_blob::get_json(store, BlobKind::RepoCache, org)
        .await?
        .unwrap_or_default())
}

pub async fn save_marks(
    store: &dyn Store,
    org: &str,
    marks: &PushMarks,
    ttl: Duration,
) -> Result<(), StoreError> {
    json_blob::put_json(store, BlobKind::RepoCache, org, marks, ttl).await
}
