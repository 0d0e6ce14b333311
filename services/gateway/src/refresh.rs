//! Keeps the cache in step with the store: a full load at start (and
//! whenever the change log was trimmed past the cache's cursor), then the
//! change log's deltas every `POLL` (or a full reload every
//! `store.metric_refresh_interval` in `export_cache_mode: full`). While
//! the store is unreachable the last good exposition keeps being served,
//! the cache component says `degraded`, and the staleness grows.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use ghstats_core::health::{ComponentStatus, HealthRegistry};
use ghstats_core::{Resumed, Shutdown};
use ghstats_store::{Changes, Store, StoreError};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::cache::{MetricsCache, Published, ReplicaBlock};

/// How often the change log is read in incremental mode.
pub const POLL: Duration = Duration::from_millis(250);
/// Changes applied per read; a full batch is followed by another read at once.
const BATCH: usize = 50_000;
pub const COMPONENT: &str = "exporter_cache";

/// The refresher's own signals, at the gateway's `/metrics/process`.
#[derive(Debug, Clone, Default)]
pub struct RefreshMetrics {
    pub duration: Gauge<f64, AtomicU64>,
    pub staleness: Gauge<f64, AtomicU64>,
    pub full_loads: Counter,
}

impl RefreshMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "gh_exporter_metrics_cache_refresh_duration",
            "Duration of the last cache refresh",
            Unit::Seconds,
            self.duration.clone(),
        );
        registry.register_with_unit(
            "gh_exporter_metrics_cache_staleness",
            "Time since the cache last caught up with the store",
            Unit::Seconds,
            self.staleness.clone(),
        );
        registry.register(
            "gh_exporter_metrics_cache_full_loads",
            "Full loads of the cache from the store",
            self.full_loads.clone(),
        );
    }
}

#[derive(Debug)]
pub struct Refresher {
    pub store: Arc<dyn Store>,
    pub published: Published,
    pub health: HealthRegistry,
    pub metrics: RefreshMetrics,
    /// `None`: follow the change log; `Some(every)`: reload fully.
    pub full_every: Option<Duration>,
    pub control: Arc<CacheControl>,
    /// This gateway's own block of `/metrics` (the refresh duration).
    pub replica: ReplicaBlock,
}

/// What the gRPC control shares with the refresher: when the cache last
/// caught up, and the request for a full resync.
#[derive(Debug, Default)]
pub struct CacheControl {
    resync: tokio::sync::Notify,
    caught_up_at: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

impl CacheControl {
    /// Asks for a full reload from the store (the current body is served
    /// until the new one is complete).
    pub fn request_resync(&self) {
        self.resync.notify_one();
    }

    /// When the cache last caught up with the store.
    pub fn caught_up_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        *self.caught_up_at.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Refresher {
    /// One step: load or catch up; returns whether more changes are waiting.
    pub async fn step(&self, series: &mut Option<MetricsCache>) -> Result<bool, StoreError> {
        let started = Instant::now();
        let mut more = false;
        let reload = match series.as_mut() {
            None => true,
            Some(_) if self.full_every.is_some() => true,
            Some(s) => match self.store.changes_since(&s.cursor, BATCH).await? {
                Changes::Behind => {
                    tracing::info!("gateway fell behind the change log: reloading");
                    true
                }
                Changes::Delta { changes, cursor } => {
                    more = changes.len() == BATCH;
                    if !changes.is_empty() {
                        s.apply(changes);
                        self.published.publish(s.exposition());
                    }
                    s.cursor = cursor;
                    false
                }
            },
        };
        if reload {
            let mut fresh = MetricsCache::load(&*self.store).await?;
            self.published.publish(fresh.exposition());
            self.metrics.full_loads.inc();
            tracing::info!(series = fresh.len(), "cache loaded");
            *series = Some(fresh);
        }
        let took = started.elapsed().as_secs_f64();
        self.metrics.duration.set(took);
        self.replica.set_refresh_duration(took);
        Ok(more)
    }

    /// Runs until the shutdown (a tracked task).
    pub async fn run(self, shutdown: Shutdown) -> Result<(), std::convert::Infallible> {
        let mut series = None;
        let mut last_ok = Instant::now();
        loop {
            let pause = match self.step(&mut series).await {
                Ok(more) => {
                    last_ok = Instant::now();
                    *self
                        .control
                        .caught_up_at
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = Some(chrono::Utc::now());
                    self.health.set_healthy(COMPONENT);
                    if more {
                        Duration::ZERO
                    } else {
                        self.full_every.unwrap_or(POLL)
                    }
                }
                Err(e) => {
                    // Without a first load the gateway is not ready; after
                    // one it keeps serving the last good body.
                    let status = if series.is_some() {
                        ComponentStatus::Degraded
                    } else {
                        ComponentStatus::Unhealthy
                    };
                    self.health
                        .set(COMPONENT, status, format!("store unreachable: {e}"));
                    tracing::warn!(error = %e, "cache refresh failed");
                    POLL.max(Duration::from_secs(1))
                }
            };
            self.metrics.staleness.set(last_ok.elapsed().as_secs_f64());
            match shutdown.pause(pause, Some(&self.control.resync)).await {
                Resumed::Elapsed => {}
                Resumed::Woken => {
                    tracing::info!("resync requested: reloading the cache");
                    series = None;
                }
                Resumed::ShutDown => return Ok(()),
            }
        }
    }
}
