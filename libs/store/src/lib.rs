//! The store schema of ghstats: the metric catalog, the key model, and the
//! [`Store`] trait with its Redis and memory backends (one conformance suite
//! in `conformance`, behind the `testsuite` feature, runs against both). No other crate builds a key.
//!
//! Properties every backend keeps:
//! - **Idempotent writes.** Activity is stored as events keyed by their
//!   GitHub id, and the 24h gauges are derived from the events, so a
//!   replayed or overlapping window counts each event once.
//! - **True rolling windows.** Every write recomputes the repository's 24h
//!   gauges for `(now - 24h, now]`; a gauge whose events aged out falls to
//!   0, and a series not written for `retention` is removed by GC.
//! - **Real counters.** `*_total` series only ever increase.
//! - **One round trip per repository write** (a Lua script on Redis).
//! - **A change log** that gateways follow; a reader behind the trimmed log
//!   is told to reload a snapshot.
//! - **A series budget**: new series beyond `max_series` are refused and
//!   counted; existing ones keep updating.
//! - **Fencing**: a leader write with a term older than the store's current
//!   term is refused.

pub mod catalog;
#[cfg(feature = "testsuite")]
pub mod conformance;
mod error;
mod health;
pub mod json_blob;
mod keys;
mod memory;
mod model;
mod redis_store;
mod series;
mod write_tally;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use catalog::{Family, HISTOGRAM_COUNT, HISTOGRAM_INF, HISTOGRAM_SUM, Kind};
pub use error::StoreError;
pub use health::{STORE_COMPONENT, STORE_PING_INTERVAL, watch_store_health};
pub use keys::Keys;
pub use memory::MemoryStore;
pub use model::*;
pub use redis_store::{RedisAuth, RedisStore, RedisTarget};
pub use series::{MalformedSeries, SeriesKey, shard_of};
pub use write_tally::{TakenWrites, WriteTally};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The store `store.*` of the config names: Redis (standalone or
/// Sentinel), or the process-local memory store for `backend: memory`.
pub async fn from_config(c: &ghstats_config::StoreConfig) -> Result<std::sync::Arc<dyn Store>> {
    Ok(match c.backend {
        ghstats_config::StoreBackend::Memory => {
            std::sync::Arc::new(MemoryStore::new(StoreSettings::from_config(c)))
        }
        ghstats_config::StoreBackend::Redis => {
            std::sync::Arc::new(RedisStore::from_config(c).await?)
        }
    })
}

/// The shared store. Every method is one round trip (or a bounded
/// pipeline) on Redis.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Stores `events` (idempotent by kind and id) and recomputes the
    /// repository's 24h gauges and last-event series as of `now`. With no
    /// events it only ages the gauges.
    async fn record_activity(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        events: &[ActivityEvent],
        now: DateTime<Utc>,
    ) -> Result<WriteReport>;

    /// Recounts, as of `now`, the 24h gauges of at most `max_repos`
    /// repositories whose counts changed by themselves since they were
    /// last written (an event left the window, or a future-dated one
    /// entered it), writing only the series whose value changed, and
    /// rewrites the oldest-open-pull-request age of at most `max_repos`
    /// repositories whose age is due. The
    /// leader runs it every `store.metric_refresh_interval`, so gauges
    /// age whatever GitHub or the org loops do; it costs nothing for a
    /// repository with nothing due.
    async fn age_activity(
        &self,
        ctx: WriteCtx,
        now: DateTime<Utc>,
        max_repos: usize,
    ) -> Result<AgingReport>;

    /// Records what one read of the repository's pull requests found.
    /// Each observation is recorded at most once per histogram and
    /// pull-request number, whoever reads it how often (a replay, a
    /// backfill, another leader), and only if it happened at or after the
    /// time the store first saw the repository's flow minus
    /// `rules.lookback`, and within the retention (the records of what
    /// was observed are kept that long). With `open`, sets the open
    /// pull requests and the age of the oldest ready one, which the aging
    /// pass then keeps growing (every [`OPEN_AGE_STEP`]) until the next
    /// read. Zero values of series that do not exist are not written.
    async fn record_pull_flow(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        flow: PullFlow<'_>,
        now: DateTime<Utc>,
    ) -> Result<WriteReport>;

    /// Replaces the repository's weekly LOC series; users absent from `loc`
    /// fall to 0. A user without lines ([`UserLoc::has_lines`]) is as
    /// absent: a series is written for them only to bring it to 0.
    async fn replace_loc(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        loc: &[UserLoc],
        now: DateTime<Utc>,
    ) -> Result<WriteReport>;

    /// Sets gauges (fleet signals); unchanged values write nothing.
    async fn set_gauges(
        &self,
        ctx: WriteCtx,
        values: &[(SeriesKey, f64)],
        now: DateTime<Utc>,
    ) -> Result<WriteReport>;

    /// Increases counters.
    async fn add_counters(
        &self,
        ctx: WriteCtx,
        increments: &[(SeriesKey, u64)],
        now: DateTime<Utc>,
    ) -> Result<WriteReport>;

    /// Every series and the cursor to follow changes from.
    async fn snapshot(&self) -> Result<Snapshot>;

    /// The same series as [`Store::snapshot`], handed over in batches (in
    /// no particular order) so a reader that keeps them in its own form
    /// never holds the whole snapshot at once; returns the cursor.
    async fn snapshot_batches(
        &self,
        batch: &mut (dyn FnMut(Vec<(SeriesKey, f64)>) + Send),
    ) -> Result<Cursor> {
        let Snapshot { series, cursor } = self.snapshot().await?;
        batch(series);
        Ok(cursor)
    }

    /// Up to `max` changes after `cursor`.
    async fn changes_since(&self, cursor: &Cursor, max: usize) -> Result<Changes>;

    async fn checkpoint(&self, org: &str, repo: &str) -> Result<Option<DateTime<Utc>>>;

    /// Moves the checkpoint forward to `to` (never back); returns the
    /// checkpoint after the call.
    async fn advance_checkpoint(
        &self,
        ctx: WriteCtx,
        org: &str,
        repo: &str,
        to: DateTime<Utc>,
    ) -> Result<DateTime<Utc>>;

    async fn get_blob(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>>;

    async fn put_blob(&self, kind: BlobKind, key: &str, value: &[u8], ttl: Duration) -> Result<()>;

    /// Writes `value` (for `ttl`) only if the blob is still `expected`
    /// (`None`: absent or expired); true when written. A read-merge-write
    /// that swaps from what it read loses no other writer's part.
    async fn swap_blob(
        &self,
        kind: BlobKind,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool>;

    /// Takes `key` for `ttl` if nobody holds it; true when taken.
    async fn claim(&self, kind: ClaimKind, key: &str, ttl: Duration) -> Result<bool>;

    async fn release(&self, kind: ClaimKind, key: &str) -> Result<()>;

    /// Takes `key` for `owner` for `ttl` if it is free, or renews it if
    /// `owner` holds it; true when `owner` holds it after the call. A
    /// holder renews while it works, so a claim outlives its holder by at
    /// most `ttl`.
    async fn hold(&self, kind: ClaimKind, key: &str, owner: &str, ttl: Duration) -> Result<bool>;

    /// Releases `key` if `owner` holds it (someone else's claim stays).
    async fn release_held(&self, kind: ClaimKind, key: &str, owner: &str) -> Result<()>;

    /// Whether somebody holds `key` now (without taking it).
    async fn is_claimed(&self, kind: ClaimKind, key: &str) -> Result<bool>;

    /// Raises the current lease term (the election calls this on gaining
    /// the lease); a lower term is ignored.
    async fn raise_term(&self, term: u64) -> Result<u64>;

    async fn current_term(&self) -> Result<u64>;

    /// Removes series not written for the retention period.
    async fn gc(&self, now: DateTime<Utc>) -> Result<GcReport>;

    async fn ping(&self) -> Result<()>;
}
