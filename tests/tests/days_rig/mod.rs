//! The backfill path of the simulated-days tests: the enqueuer a leader
//! asks, and a worker running what it queued; and their leader changes.

use std::sync::Arc;

use ghstats_backfill::BackfillProducer;
use ghstats_core::Shutdown;
use ghstats_store::Store;

/// The backfill path of simulated days: a memory queue with one short
/// delay, the coalescing enqueuer on it, and a worker's job context.
pub struct Backfill {
    pub queue: Arc<ghstats_queue::MemoryQueue>,
    pub enqueuer: Arc<ghstats_scheduler::enqueue::Enqueuer>,
    pub producer: Arc<dyn BackfillProducer>,
    pub worker: ghstats_worker::job::JobContext,
}

impl Backfill {
    pub fn new(w: &ghstats_testkit::World, store: &Arc<dyn Store>, shutdown: &Shutdown) -> Self {
        use ghstats_scheduler::enqueue::{EnqueueSettings, Enqueuer};
        let queue = Arc::new(ghstats_queue::MemoryQueue::with_delays(&[
            std::time::Duration::from_millis(50),
        ]));
        let jobs: Arc<dyn ghstats_queue::JobQueue> = queue.clone();
        let enqueuer = Arc::new(Enqueuer::new(
            jobs,
            store.clone(),
            EnqueueSettings::from_config(&w.config),
        ));
        let orgs = ghstats_scrape::clients::org_clients(&w.config, store, shutdown.token())
            .expect("the test config builds its clients")
            .into_iter()
            .map(|(o, c)| (o.org.to_ascii_lowercase(), (o, c)))
            .collect();
        let worker = ghstats_worker::job::JobContext::new(
            store.clone(),
            orgs,
            ghstats_scrape::Attribution::from_config(&w.config.github),
            std::time::Duration::from_secs(30 * 86400),
            0,
        )
        .with_pull_flow(
            w.config
                .pull_requests
                .enabled
                .then(|| ghstats_store::FlowRules::from_config(&w.config.pull_requests)),
        );
        Self {
            queue,
            producer: enqueuer.clone(),
            enqueuer,
            worker,
        }
    }

    /// Runs every queued job at `at` as a worker would (each must be done
    /// or a duplicate); the repositories of the jobs run.
    pub async fn run_jobs(&self, at: chrono::DateTime<chrono::Utc>, step: u32) -> Vec<String> {
        use ghstats_queue::JobQueue;
        let mut repos = Vec::new();
        while self.queue.depth() > 0 {
            let delivery =
                tokio::time::timeout(std::time::Duration::from_secs(5), self.queue.next())
                    .await
                    .expect("a queued job is delivered")
                    .expect("the memory queue delivers");
            let verdict = self.worker.process(&delivery.job, at).await;
            assert!(
                matches!(
                    verdict,
                    ghstats_worker::job::Verdict::Done { .. }
                        | ghstats_worker::job::Verdict::Duplicate
                ),
                "step {step}: job {:?} {verdict:?}",
                delivery.job
            );
            repos.push(delivery.job.repo.clone());
            self.queue.ack(delivery).await.expect("ack");
        }
        repos
    }
}

/// A leader change: the new leader raises the term and takes over from
/// `leader`, whose next tick, under its old term, is fenced and writes
/// nothing. `term` is the new one after the call.
pub async fn hand_over(
    rig: &Backfill,
    w: &ghstats_testkit::World,
    store: &Arc<dyn Store>,
    shutdown: &Shutdown,
    leader: &mut Arc<ghstats_scheduler::org_loop::OrgController>,
    term: &mut u64,
    now: chrono::DateTime<chrono::Utc>,
) {
    *term += 1;
    store
        .raise_term(*term)
        .await
        .expect("the store raises the term");
    let old = std::mem::replace(
        leader,
        crate::leader::controller(w, store, Some(&rig.producer), shutdown),
    );
    assert_eq!(
        old.tick(ghstats_store::WriteCtx::leader(*term - 1), now)
            .await,
        ghstats_scheduler::org_loop::TickOutcome::Fenced,
        "the deposed leader writes nothing"
    );
}
