//! The run of one Copilot report for one owner (an org or the
//! enterprise): scheduled (28 days, gated by `copilot.scrape_interval` and
//! the unchanged-report checkpoint) or one day (backfill).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use ghstats_backfill::{BackfillProducer, BackfillRequest};
use ghstats_config::Config;
use ghstats_github::GithubClient;
use ghstats_github::copilot::{Downloader, ReportError};
use ghstats_proto::{BackfillReason, TimeWindow};
use ghstats_store::{BlobKind, SeriesKey, Store, StoreError, WriteCtx};

use crate::usage::{UsageMeter, request_counters};

use super::aggregate::{Aggregator, LabelSet, Shape, Sums};
use super::record;
use super::scope::{Scope, Window};
use ghstats_store::Family;

/// Series per store write.
const BATCH: usize = 5_000;

/// What one report run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRun {
    pub owner: String,
    pub scope: Scope,
    /// The `result` label of `gh_exporter_copilot_scrape_runs_total`.
    pub result: &'static str,
    pub error: Option<ReportError>,
    /// Series written (changed or not).
    pub series: usize,
}

impl ScopeRun {
    /// Whether the link call succeeded (`None`: not attempted).
    pub fn link_ok(&self) -> Option<bool> {
        match (&self.error, self.result) {
            (_, "skipped_interval") => None,
            (Some(e), _) => Some(!e.is_fetch()),
            (None, _) => Some(true),
        }
    }

    /// Whether the downloads succeeded (`None`: none attempted).
    pub fn download_ok(&self) -> Option<bool> {
        match (&self.error, self.result) {
            (Some(e), _) if e.is_fetch() => None,
            (Some(_), _) => Some(false),
            (None, "success" | "parse_error") => Some(true),
            (None, _) => None,
        }
    }
}

/// Reads Copilot reports into the store; one per process, shared by orgs.
#[derive(Debug)]
pub struct CopilotScraper {
    store: Arc<dyn Store>,
    /// Where scheduled failures go (none in a worker: its job retries).
    backfill: Option<Arc<dyn BackfillProducer>>,
    config: Arc<Config>,
    downloader: Downloader,
    enterprise: Option<GithubClient>,
    /// The enterprise client's usage when last counted.
    enterprise_usage: UsageMeter,
}

impl CopilotScraper {
    /// `enterprise`: the enterprise App's client, when that scope is on.
    pub fn new(
        store: Arc<dyn Store>,
        backfill: Option<Arc<dyn BackfillProducer>>,
        config: Arc<Config>,
        enterprise: Option<GithubClient>,
    ) -> Result<Self, ghstats_github::GithubError> {
        Ok(Self {
            downloader: Downloader::from_config(&config.copilot)?,
            store,
            backfill,
            config,
            enterprise,
            enterprise_usage: UsageMeter::default(),
        })
    }

    pub fn enterprise_slug(&self) -> &str {
        &self.config.copilot.enterprise.slug
    }

    /// The enterprise App's client, when the enterprise scope is on.
    pub fn enterprise_client(&self) -> Option<&GithubClient> {
        self.enterprise.as_ref()
    }

    /// The client that reads `scope` (the org's, or the enterprise App's).
    pub fn client_for<'a>(
        &'a self,
        scope: Scope,
        org: &'a GithubClient,
    ) -> Option<&'a GithubClient> {
        if scope.is_enterprise() {
            self.enterprise.as_ref()
        } else {
            Some(org)
        }
    }

    /// The scheduled reports of one org's cycle; the enterprise's too when
    /// `primary` (the first configured org).
    pub async fn run_scheduled(
        &self,
        client: &GithubClient,
        primary: bool,
        ctx: WriteCtx,
        now: DateTime<Utc>,
    ) -> Result<Vec<ScopeRun>, StoreError> {
        let c = &self.config.copilot;
        let wanted = Scope::ALL
            .into_iter()
            .filter(|s| s.included(c) && (primary || !s.is_enterprise()));
        let mut runs = Vec::new();
        for scope in wanted {
            let owner = if scope.is_enterprise() {
                self.enterprise_slug().to_owned()
            } else {
                client.org().to_owned()
            };
            let Some(scope_client) = self.client_for(scope, client) else {
                continue;
            };
            runs.push(
                self.run_report(scope_client, &owner, scope, Window::Days28, ctx, now)
                    .await?,
            );
        }
        if primary {
            self.count_enterprise_requests(ctx, now).await?;
        }
        Ok(runs)
    }

    /// `gh_exporter_github_requests_total{org=<slug>}` of the enterprise
    /// App's client (the org clients' are counted by their cycles).
    async fn count_enterprise_requests(
        &self,
        ctx: WriteCtx,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(client) = &self.enterprise else {
            return Ok(());
        };
        let spent = self.enterprise_usage.since_last(client);
        let counters = request_counters(self.enterprise_slug(), &spent);
        if counters.is_empty() {
            return Ok(());
        }
        self.store
            .add_counters(ctx, &counters, now)
            .await
            .map(|_| ())
    }

    /// One report. A scheduled (28-day) run is skipped inside the scrape
    /// interval and when the report has not moved; failures that may pass
    /// ask for a 1-day backfill. Only store errors are `Err`.
    pub async fn run_report(
        &self,
        client: &GithubClient,
        owner: &str,
        scope: Scope,
        window: Window,
        ctx: WriteCtx,
        now: DateTime<Utc>,
    ) -> Result<ScopeRun, StoreError> {
        let c = &self.config.copilot;
        let mut run = ScopeRun {
            owner: owner.to_owned(),
            scope,
            result: "success",
            error: None,
            series: 0,
        };
        let scheduled = window == Window::Days28;
        if scheduled {
            let interval = chrono::Duration::from_std(c.scrape_interval.get()).unwrap_or_default();
            if let Some(last) = self.store.checkpoint(owner, &scope.run_key()).await?
                && now < last + interval
            {
                run.result = "skipped_interval";
                return self.finish(ctx, run, None, now).await;
            }
            // Marked before the call: a failure waits an interval too (the
            // backfill recovers it).
            self.store
                .advance_checkpoint(ctx, owner, &scope.run_key(), now)
                .await?;
        }
        let day = match window {
            Window::Day(d) => Some(d),
            Window::Days28 => None,
        };
        let links = match client
            .copilot_report_links(&scope.path(owner, window), day, c.request_timeout.get())
            .await
        {
            Ok(l) => l,
            Err(e) => return self.failed(ctx, run, e, scheduled, now).await,
        };
        let end = links.report_end_day.map(midnight);
        if scheduled
            && !c.refresh_if_report_unchanged
            && let Some(end) = end
            && self
                .store
                .checkpoint(owner, &scope.job_repo())
                .await?
                .is_some_and(|seen| end <= seen)
        {
            run.result = "skipped_unchanged";
            return self.finish(ctx, run, None, now).await;
        }
        let fallback_day = links
            .report_day
            .or(links.report_end_day)
            .map(|d| d.format("%Y-%m-%d").to_string());
        let mut report = Aggregator::new(Shape::new(c, scope.per_user()), fallback_day);
        let mut downloaded = 0u64;
        for link in &links.download_links {
            let mut on_line = |line: ghstats_github::copilot::Line<'_>| report.add_line(line);
            match client
                .copilot_download(&self.downloader, link, &mut on_line)
                .await
            {
                Ok(_) => downloaded += 1,
                Err(e) => {
                    self.count(
                        ctx,
                        owner,
                        scope,
                        &[(Family::CopilotReportDownloads, "success", downloaded)],
                        now,
                    )
                    .await?;
                    return self.failed(ctx, run, e, scheduled, now).await;
                }
            }
        }
        if report.parsed == 0 && report.malformed > 0 {
            run.result = "parse_error";
            tracing::warn!(
                owner,
                scope = scope.key(),
                malformed = report.malformed,
                "copilot report had no valid record"
            );
        }
        run.series = self
            .write_series(ctx, owner, scope, window, &report, now)
            .await?;
        self.count(
            ctx,
            owner,
            scope,
            &[
                (Family::CopilotReportDownloads, "success", downloaded),
                (Family::CopilotRecordsDropped, "malformed", report.malformed),
                (
                    Family::CopilotRecordsDropped,
                    "max_records_per_report",
                    report.dropped_max_records,
                ),
                (
                    Family::CopilotRecordsDropped,
                    "max_users_per_report",
                    report.dropped_max_users,
                ),
                (Family::CopilotRecordsParsed, "", report.parsed),
            ],
            now,
        )
        .await?;
        if scheduled && let Some(end) = end {
            self.store
                .advance_checkpoint(ctx, owner, &scope.job_repo(), end)
                .await?;
        }
        let label = |f: Family| SeriesKey::new(f, [owner, scope.label()]);
        let mut gauges = vec![(label(Family::CopilotLastSuccess), now.timestamp() as f64)];
        if let Some(newest) = links.newest_day() {
            let age = (now - midnight(newest)).num_seconds().max(0);
            gauges.push((label(Family::CopilotReportStaleness), age as f64));
        }
        self.store.set_gauges(ctx, &gauges, now).await?;
        tracing::info!(
            owner,
            scope = scope.key(),
            window = window.label(),
            records = report.parsed,
            series = run.series,
            result = run.result,
            "copilot report read"
        );
        self.finish(ctx, run, None, now).await
    }

    /// Counts a failed run, and asks for a backfill when worth it.
    async fn failed(
        &self,
        ctx: WriteCtx,
        mut run: ScopeRun,
        e: ReportError,
        scheduled: bool,
        now: DateTime<Utc>,
    ) -> Result<ScopeRun, StoreError> {
        tracing::warn!(owner = %run.owner, scope = run.scope.key(), error = %e, "copilot report failed");
        run.result = e.result_label();
        let (owner, scope) = (run.owner.clone(), run.scope);
        if !e.is_fetch() {
            self.count(
                ctx,
                &owner,
                scope,
                &[(Family::CopilotReportDownloads, "failure", 1)],
                now,
            )
            .await?;
        }
        if matches!(e, ReportError::HostRefused { .. }) {
            self.count(
                ctx,
                &owner,
                scope,
                &[(Family::CopilotLinksRefused, "", 1)],
                now,
            )
            .await?;
        }
        if let Some(backfill) = self
            .backfill
            .as_ref()
            .filter(|_| scheduled && e.is_transient())
        {
            let reason = if e.is_fetch() {
                BackfillReason::CopilotReportFetchError
            } else {
                BackfillReason::CopilotReportDownloadError
            };
            let request = BackfillRequest {
                org: owner.clone(),
                repo: scope.job_repo(),
                window: TimeWindow::ordered(now, now),
                reason,
            };
            if let Err(qe) = backfill.request(ctx, request).await {
                tracing::error!(owner, error = %qe, "cannot request a copilot backfill");
            }
        }
        self.finish(ctx, run, Some(e), now).await
    }

    async fn finish(
        &self,
        ctx: WriteCtx,
        mut run: ScopeRun,
        error: Option<ReportError>,
        now: DateTime<Utc>,
    ) -> Result<ScopeRun, StoreError> {
        let key = SeriesKey::new(
            Family::CopilotScrapeRuns,
            [run.owner.as_str(), run.scope.label(), run.result],
        );
        self.store.add_counters(ctx, &[(key, 1)], now).await?;
        run.error = error;
        Ok(run)
    }

    /// Adds to the owner's and scope's counters: (family, extra label, n);
    /// zero increments are left out.
    async fn count(
        &self,
        ctx: WriteCtx,
        owner: &str,
        scope: Scope,
        adds: &[(Family, &str, u64)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let increments: Vec<(SeriesKey, u64)> = adds
            .iter()
            .filter(|(_, _, n)| *n > 0)
            .map(|(family, extra, n)| {
                let key = if extra.is_empty() {
                    SeriesKey::new(*family, [owner, scope.label()])
                } else {
                    SeriesKey::new(*family, [owner, scope.label(), extra])
                };
                (key, *n)
            })
            .collect();
        if increments.is_empty() {
            return Ok(());
        }
        self.store
            .add_counters(ctx, &increments, now)
            .await
            .map(|_| ())
    }

    /// Writes the report's series in batches, zeroes those of the previous
    /// report that this one no longer has, and remembers this one's label
    /// sets. Returns the series written.
    async fn write_series(
        &self,
        ctx: WriteCtx,
        owner: &str,
        scope: Scope,
        window: Window,
        report: &Aggregator,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let blob_key = format!("{owner}/{}/{}", scope.key(), window.label());
        let previous = self
            .store
            .get_blob(BlobKind::CopilotSeries, &blob_key)
            .await?
            .map(|raw| remembered(&raw))
            .unwrap_or_default();
        let key = |labels: &LabelSet, i: usize| {
            let mut values: Vec<&str> =
                vec![owner, "*", &labels.user, scope.label(), window.label()];
            values.extend(labels.optional.iter().map(|s| &**s));
            SeriesKey::new(record::family(i), values)
        };
        let (writes, memory) = series_to_write(&previous, &report.series);
        let mut batch = Vec::with_capacity(BATCH);
        let mut written = 0;
        for (labels, sums) in writes {
            for i in (0..11).filter(|i| sums.present & (1 << i) != 0) {
                batch.push((key(labels, i), sums.values[i]));
            }
            if batch.len() >= BATCH {
                written += batch.len();
                self.store.set_gauges(ctx, &batch, now).await?;
                batch.clear();
            }
        }
        written += batch.len();
        self.store.set_gauges(ctx, &batch, now).await?;
        self.store
            .put_blob(
                BlobKind::CopilotSeries,
                &blob_key,
                memory.as_bytes(),
                self.config.store.retention.get(),
            )
            .await?;
        Ok(written)
    }
}

/// What a report writes: every label set of `current` with its sums, then
/// a 0 for each family a label set of `previous` had and `current` has not;
/// and the lines that remember `current` (`mask<TAB>labels`) for the next
/// report.
fn series_to_write<'a>(
    previous: &'a HashMap<LabelSet, u16>,
    current: &'a HashMap<LabelSet, Sums>,
) -> (Vec<(&'a LabelSet, Sums)>, String) {
    let mut memory = String::new();
    let mut writes = Vec::with_capacity(current.len());
    for (labels, sums) in current {
        let _ = writeln!(memory, "{:x}\t{}", sums.present, labels.encode());
        writes.push((labels, *sums));
    }
    for (labels, old) in previous {
        let gone = old & !current.get(labels).map_or(0, |s| s.present);
        if gone != 0 {
            let zeros = Sums {
                values: [0.0; 11],
                present: gone,
            };
            writes.push((labels, zeros));
        }
    }
    (writes, memory)
}

/// The label sets (and their families) of the last report written.
fn remembered(raw: &[u8]) -> HashMap<LabelSet, u16> {
    String::from_utf8_lossy(raw)
        .lines()
        .filter_map(|line| {
            let (mask, labels) = line.split_once('\t')?;
            Some((
                LabelSet::decode(labels)?,
                u16::from_str_radix(mask, 16).ok()?,
            ))
        })
        .collect()
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(user: &str) -> LabelSet {
        LabelSet::decode(&format!("{user}\u{1f}\u{1f}\u{1f}\u{1f}\u{1f}\u{1f}")).unwrap()
    }

    /// A label set that keeps some families zeroes only the ones it lost,
    /// and is remembered with the families it has now.
    #[test]
    fn lost_families_and_label_sets_are_zeroed_and_the_rest_remembered() {
        let previous: HashMap<LabelSet, u16> = [(labels("ann"), 0b111), (labels("bob"), 0b1)]
            .into_iter()
            .collect();
        let mut current = HashMap::new();
        current.insert(
            labels("ann"),
            Sums {
                values: [5.0; 11],
                present: 0b001,
            },
        );
        let (writes, memory) = series_to_write(&previous, &current);
        let mut zeroed: Vec<(String, u16)> = writes
            .iter()
            .filter(|(_, s)| s.values[0] == 0.0)
            .map(|(l, s)| (l.user.to_string(), s.present))
            .collect();
        zeroed.sort();
        assert_eq!(zeroed, [("ann".to_owned(), 0b110), ("bob".to_owned(), 0b1)]);
        assert_eq!(
            remembered(memory.as_bytes()),
            [(labels("ann"), 0b001)].into_iter().collect()
        );
    }
}
