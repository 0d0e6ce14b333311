//! What only the leader runs: one controller per org, the store GC and the
//! queue measurements, all under one shutdown scope so losing leadership
//! stops them at once.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ghstats_backfill::BackfillProducer;
use ghstats_config::Config;
use ghstats_core::Shutdown;
use ghstats_core::Tenure;
use ghstats_core::health::{ComponentStatus, HealthRegistry, Readiness};
use ghstats_queue::JobQueue;
use ghstats_runtime::ServeError;
use ghstats_scrape::OrgScraper;
use ghstats_scrape::copilot::{DOWNLOAD_COMPONENT, Scope};
use ghstats_store::{Family, SeriesKey, Store, WriteCtx};

use crate::cooldown::Cooldown;
use crate::org_loop::OrgController;

/// How often the leader runs the store GC.
pub const GC_INTERVAL: Duration = Duration::from_secs(3600);

/// How often the leader measures the backfill queues and writes the
/// dependency health.
pub const QUEUE_STATS_INTERVAL: Duration = Duration::from_secs(15);

/// Repositories one aging round recounts at most (a pass runs rounds until
/// nothing due is left).
pub const AGING_ROUND: usize = 500;

/// Everything the leader starts on being elected.
#[derive(Debug, Clone)]
pub struct LeaderWork {
    pub controllers: Vec<Arc<OrgController>>,
    pub store: Arc<dyn Store>,
    /// How often the 24h gauges are aged (`store.metric_refresh_interval`).
    pub aging_interval: Duration,
    /// The backfill queue to measure (depth, oldest age), if any.
    pub queue: Option<Arc<dyn JobQueue>>,
    /// Health components of the Copilot reports read (none when off).
    pub copilot_components: Vec<&'static str>,
    /// How often an org cooling down probes GitHub
    /// (`health.github_probe_interval`).
    pub probe_interval: Duration,
    /// With webhooks and their recovery on: how often failed deliveries
    /// are asked again, and how far back.
    pub redelivery: Option<(Duration, Duration)>,
}

/// The Copilot health components `config` turns on.
pub fn copilot_components(config: &Config) -> Vec<&'static str> {
    let c = &config.copilot;
    if !c.enabled {
        return Vec::new();
    }
    let mut out: Vec<&'static str> = Scope::ALL
        .into_iter()
        .filter(|s| s.included(c))
        .map(Scope::component)
        .collect();
    if !out.is_empty() {
        out.push(DOWNLOAD_COMPONENT);
    }
    out
}

/// Builds every org's controller (reading credentials now, so a missing
/// secret fails at start-up).
pub fn controllers(
    config: &Arc<Config>,
    store: &Arc<dyn Store>,
    backfill: &Arc<dyn BackfillProducer>,
    tenure: &Tenure,
    shutdown: &Shutdown,
) -> Result<Vec<Arc<OrgController>>, ServeError> {
    let clients =
        ghstats_scrape::clients::leader_org_clients(config, store, shutdown.token(), Some(tenure))
            .map_err(|e| ServeError::task("github client", e))?;
    let copilot =
        ghstats_scrape::clients::copilot_scraper(config, store, Some(backfill), shutdown.token())
            .map_err(|e| ServeError::task("copilot enterprise client", e))?;
    Ok(clients
        .into_iter()
        .enumerate()
        .map(|(i, (org, client))| {
            let interval = org.scrape_interval.get();
            let scraper =
                OrgScraper::new(client, store.clone(), backfill.clone(), org, config.clone())
                    .with_copilot(copilot.clone(), i == 0);
            let g = &config.github;
            let cooldown = Cooldown::new(
                g.unhealthy_failure_threshold,
                chrono::Duration::from_std(g.unhealthy_cooldown.get()).unwrap_or_default(),
                config.health.github_recover_success_threshold,
            );
            Arc::new(OrgController::new(
                scraper,
                store.clone(),
                backfill.clone(),
                interval,
                cooldown,
            ))
        })
        .collect())
}

impl LeaderWork {
    /// Starts the leader's tasks under `scope` (a child of the process
    /// shutdown; triggering it stops them all).
    pub fn start(&self, term: u64, health: &HealthRegistry, scope: &Shutdown) {
        let ctx = WriteCtx::leader(term);
        for name in &self.copilot_components {
            health.register(name, Readiness::Informational);
        }
        for c in &self.controllers {
            health.register(&format!("github:{}", c.org()), Readiness::Informational);
            health.register(&format!("loc:{}", c.org()), Readiness::Informational);
            let (looped, h, s) = (c.clone(), health.clone(), scope.clone());
            scope.spawn("org_controller", async move { looped.run(ctx, h, s).await });
            let c = c.clone();
            scope.spawn_every("github_probe", self.probe_interval, move || {
                let c = c.clone();
                async move { c.probe(Utc::now()).await }
            });
        }
        let store = self.store.clone();
        scope.spawn_every("activity_aging", self.aging_interval, move || {
            let store = store.clone();
            async move { age_activity(&*store, ctx, Utc::now()).await }
        });
        let store = self.store.clone();
        scope.spawn_every("store_gc", GC_INTERVAL, move || {
            let store = store.clone();
            async move {
                match store.gc(Utc::now()).await {
                    Ok(r) => tracing::info!(expired_series = r.expired_series, "store gc"),
                    Err(e) => tracing::warn!(error = %e, "store gc failed"),
                }
            }
        });
        if let Some((interval, lookback)) = self.redelivery {
            let (controllers, store) = (self.controllers.clone(), self.store.clone());
            scope.spawn_every("webhook_redelivery", interval, move || {
                let (controllers, store) = (controllers.clone(), store.clone());
                async move {
                    crate::redeliver::redeliver_failed(
                        &controllers,
                        &*store,
                        ctx,
                        lookback,
                        interval,
                        Utc::now(),
                    )
                    .await;
                }
            });
        }
        let (queue, store, health) = (self.queue.clone(), self.store.clone(), health.clone());
        scope.spawn_every("fleet_signals", QUEUE_STATS_INTERVAL, move || {
            let (queue, store, health) = (queue.clone(), store.clone(), health.clone());
            async move {
                if let Some(queue) = &queue {
                    record_queue_stats(&**queue, &*store, ctx).await;
                }
                record_dependency_health(&health, &*store, ctx).await;
            }
        });
    }
}

/// One aging pass at `now`: recounts every repository whose 24h gauges
/// changed by themselves since their last write (no GitHub request), in
/// bounded rounds.
pub async fn age_activity(store: &dyn Store, ctx: WriteCtx, now: chrono::DateTime<Utc>) {
    let (mut repos, mut changed) = (0, 0);
    loop {
        match store.age_activity(ctx, now, AGING_ROUND).await {
            Ok(r) => {
                repos += r.repos;
                changed += r.changed;
                if r.remaining == 0 || r.repos == 0 {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "aging the 24h gauges failed");
                break;
            }
        }
    }
    if repos > 0 {
        tracing::debug!(repos, changed, "aged the 24h gauges");
    }
}

/// `gh_exporter_dependency_health{dependency}` from the leader's health
/// components: `redis` (store), `amqp` (queue, when there is one), `github`
/// (every org's GitHub component), `scheduler` (a leader writes it).
pub async fn record_dependency_health(health: &HealthRegistry, store: &dyn Store, ctx: WriteCtx) {
    let report = health.report();
    let healthy = |c: &ghstats_core::health::Component| {
        f64::from(u8::from(c.status == ComponentStatus::Healthy))
    };
    let mut gauges = vec![(dependency("scheduler"), 1.0)];
    if let Some(c) = report.components.get(ghstats_store::STORE_COMPONENT) {
        gauges.push((dependency("redis"), healthy(c)));
    }
    if let Some(c) = report.components.get(crate::QUEUE_COMPONENT) {
        gauges.push((dependency("amqp"), healthy(c)));
    }
    for (name, c) in &report.components {
        if name.starts_with("github_api_copilot_") || name == DOWNLOAD_COMPONENT {
            gauges.push((dependency(name), healthy(c)));
        }
    }
    let github: Vec<f64> = report
        .components
        .iter()
        .filter(|(name, _)| name.starts_with("github:"))
        .map(|(_, c)| healthy(c))
        .collect();
    if !github.is_empty() {
        gauges.push((
            dependency("github"),
            github.iter().copied().fold(1.0, f64::min),
        ));
    }
    if let Err(e) = store.set_gauges(ctx, &gauges, Utc::now()).await {
        tracing::warn!(error = %e, "cannot record dependency health");
    }
}

fn dependency(name: &str) -> SeriesKey {
    SeriesKey::new(Family::DependencyHealth, [name])
}

/// Writes each queue's depth and oldest-message age as gauges.
pub async fn record_queue_stats(queue: &dyn JobQueue, store: &dyn Store, ctx: WriteCtx) {
    let stats = match queue.stats().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot measure the backfill queues");
            return;
        }
    };
    let mut gauges = Vec::new();
    for q in &stats {
        gauges.push((
            SeriesKey::new(Family::QueueDepth, [q.queue.as_str()]),
            q.depth as f64,
        ));
        let age = q.oldest_age.map_or(0.0, |a| a.as_secs_f64());
        gauges.push((
            SeriesKey::new(Family::QueueOldestAge, [q.queue.as_str()]),
            age,
        ));
    }
    if let Err(e) = store.set_gauges(ctx, &gauges, Utc::now()).await {
        tracing::warn!(error = %e, "cannot record queue measurements");
    }
}
