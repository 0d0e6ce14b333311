//! Writing what one read of a repository found, the same for the leader's
//! cycle, a worker's backfill and a webhook delivery: its events, then its
//! pull-request flow, and only then the validators of the listings it came
//! from (a later 304 of them returns nothing to derive again); and the one
//! way a repository leaves the selection.

use chrono::{DateTime, Utc};
use ghstats_github::GithubClient;
use ghstats_store::{FlowRules, OpenPulls, PullFlow, Store, StoreError, WriteCtx, WriteTally};

use crate::activity::ActivityScrape;

/// Where reads are written, and how.
#[derive(Debug, Clone, Copy)]
pub struct Recorder<'a> {
    pub store: &'a dyn Store,
    /// Counts the window writes (`gh_exporter_store_write_total`).
    pub writes: &'a WriteTally,
    /// `pull_requests.*` when enabled.
    pub flow: Option<&'a FlowRules>,
    pub ctx: WriteCtx,
}

impl Recorder<'_> {
    /// Stores `scrape` of `org`/`repo` (with `open`, the open pull
    /// requests now, when they were read), then keeps its validators.
    pub async fn record(
        &self,
        client: &GithubClient,
        org: &str,
        repo: &str,
        scrape: &mut ActivityScrape,
        open: Option<OpenPulls>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let written = self
            .store
            .record_activity(self.ctx, org, repo, &scrape.events, now)
            .await;
        self.writes.observe(&written);
        written?;
        if let Some(rules) = self.flow {
            let flow = PullFlow {
                observations: &scrape.flow,
                open,
                rules,
            };
            self.store
                .record_pull_flow(self.ctx, org, repo, flow, now)
                .await?;
        }
        client.keep(std::mem::take(&mut scrape.unkept)).await;
        Ok(())
    }

    /// A repository left the selection (deleted, renamed, transferred,
    /// archived, newly denied): its LOC series and open pull requests go
    /// to 0 at once; its 24h gauges fall as their events age out.
    pub async fn leave_selection(
        &self,
        org: &str,
        repo: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store
            .replace_loc(self.ctx, org, repo, &[], now)
            .await?;
        if let Some(rules) = self.flow {
            let flow = PullFlow {
                observations: &[],
                open: Some(OpenPulls::default()),
                rules,
            };
            self.store
                .record_pull_flow(self.ctx, org, repo, flow, now)
                .await?;
        }
        Ok(())
    }
}
