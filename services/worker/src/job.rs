//! Processing one backfill job: re-scrape exactly its window with the same
//! scrape code the scheduler uses, write as `worker_backfill`, move the
//! checkpoint forward only, and tell the consumer loop what to do with the
//! job.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghstats_config::OrgConfig;
use ghstats_github::GithubClient;
use ghstats_proto::BackfillJob;
use ghstats_scrape::{Attribution, Fetch, scrape_activity};
use ghstats_store::{ClaimKind, Store, WriteCtx};

/// What to do with a job after processing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done {
        events: usize,
    },
    /// Older than `backfill.max_message_age`: dropped, counted.
    Expired,
    /// Another delivery of the same job holds its lock.
    Duplicate,
    /// Transient failure: deliver again later.
    Retry(String),
    /// Can never succeed: dead-letter it.
    Dead(String),
}

/// Everything a job needs.
#[derive(Debug)]
pub struct JobContext {
    pub store: Arc<dyn Store>,
    pub orgs: HashMap<String, (OrgConfig, GithubClient)>,
    pub attribution: Attribution,
    pub max_message_age: Duration,
}

impl JobContext {
    pub async fn process(&self, job: &BackfillJob, now: DateTime<Utc>) -> Verdict {
        let age = (now - job.created_at).to_std().unwrap_or_default();
        if age > self.max_message_age {
            return Verdict::Expired;
        }
        let Some((org, client)) = self.orgs.get(&job.org.to_ascii_lowercase()) else {
            return Verdict::Dead(format!("org {:?} is not configured", job.org));
        };
        let lock = format!("{}:{}", job.job_id, job.attempt);
        match self
            .store
            .claim(ClaimKind::JobLock, &lock, self.max_message_age)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Verdict::Duplicate,
            Err(e) => return Verdict::Retry(format!("store: {e}")),
        }
        let verdict = self.scrape(job, org, client, now).await;
        if matches!(verdict, Verdict::Retry(_)) {
            // Let the next delivery take the job again.
            let _ = self.store.release(ClaimKind::JobLock, &lock).await;
        }
        verdict
    }

    async fn scrape(
        &self,
        job: &BackfillJob,
        org: &OrgConfig,
        client: &GithubClient,
        now: DateTime<Utc>,
    ) -> Verdict {
        let repos: Vec<String> = if job.repo == "*" {
            match client.list_org_repos().await {
                Ok(l) => ghstats_scrape::repos::select(org, l.items)
                    .into_iter()
                    .map(|r| r.name)
                    .collect(),
                Err(e) if e.is_transient() => return Verdict::Retry(e.to_string()),
                Err(e) => return Verdict::Dead(e.to_string()),
            }
        } else {
            vec![job.repo.clone()]
        };
        let mut events = 0;
        let mut transient = Vec::new();
        for repo in &repos {
            let scrape = scrape_activity(
                client,
                &self.attribution,
                repo,
                job.window,
                Fetch::Window,
                false,
            )
            .await;
            events += scrape.events.len();
            if let Err(e) = self
                .store
                .record_activity(WriteCtx::worker(), &job.org, repo, &scrape.events, now)
                .await
            {
                return Verdict::Retry(format!("store: {e}"));
            }
            let failed: Vec<String> = scrape
                .failures
                .iter()
                .filter(|f| f.error.is_transient())
                .map(|f| f.error.to_string())
                .collect();
            if failed.is_empty()
                && let Err(e) = self
                    .store
                    .advance_checkpoint(WriteCtx::worker(), &job.org, repo, job.window.end())
                    .await
            {
                return Verdict::Retry(format!("store: {e}"));
            }
            transient.extend(failed);
        }
        if transient.is_empty() {
            Verdict::Done { events }
        } else {
            Verdict::Retry(transient.join("; "))
        }
    }
}
