//! The counting rules of `docs/metrics.md` against a simulator that dates,
//! orders and filters commits as GitHub does, on real Redis, through the
//! leader's org controller: late and rebased commits (across a page
//! boundary), merge and `web-flow` commits, `Bot` accounts, aging while
//! the repository listing fails, during a cooldown and while the org is
//! paused, repositories that leave the selection, a checkpoint a coalesced
//! backfill would have set in the future, the week rollover of LOC, and
//! one failing repository. Every comparison is with the simulator's truth,
//! which shares no code with the exporter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, DurationRound, TimeZone, Utc};
use ghstats_backfill::{BackfillProducer, BackfillRequest, MemoryProducer};
use ghstats_core::Shutdown;
use ghstats_proto::BackfillReason;
use ghstats_scheduler::cooldown::GithubState;
use ghstats_scheduler::org_loop::{OrgController, TickOutcome};
use ghstats_scrape::CycleResult;
use ghstats_simulator::{Departure, Event, FaultRule, SimConfig, TruthOptions, UNATTRIBUTED};
use ghstats_store::{Family, RedisStore, Store, WriteCtx};
use ghstats_testkit::{Gauges, activity_gauges, default_truth, loc_gauges, loc_truth, world_with};
use ghstats_worker::job::{JobContext, Verdict};

const QUICK_RETRIES: &str =
    "retry:\n  max_attempts: 1\n  initial_backoff: 1ms\n  max_backoff: 1ms\n";

#[allow(dead_code)]
struct Rig {
    w: ghstats_testkit::World,
    redis: Arc<RedisStore>,
    store: Arc<dyn Store>,
    controller: Arc<OrgController>,
    backfill: Arc<MemoryProducer>,
    truth: TruthOptions,
    shutdown: Shutdown,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn rig_with(name: &str, github: &str, extra: &str, truth: TruthOptions) -> Rig {
    let shutdown = Shutdown::new();
    let w = world_with(
        &shutdown,
        SimConfig::default(),
        github,
        &format!("{QUICK_RETRIES}{extra}"),
    );
    let redis = ghstats_testkit::redis_store(&w.config, name).await;
    let store: Arc<dyn Store> = redis.clone();
    let backfill = Arc::new(MemoryProducer::default());
    let producer: Arc<dyn BackfillProducer> = backfill.clone();
    let controller = ghstats_scheduler::leader::controllers(
        &w.config,
        &store,
        &producer,
        &ghstats_core::Tenure::default(),
        &shutdown,
    )
    .unwrap()
    .remove(0);
    Rig {
        w,
        redis,
        store,
        controller,
        backfill,
        truth,
        shutdown,
    }
}

async fn rig(name: &str) -> Rig {
    rig_with(name, "", "", default_truth("org-a")).await
}

impl Rig {
    fn now(&self) -> DateTime<Utc> {
        self.w
            .sim
            .now()
            .duration_trunc(chrono::Duration::seconds(1))
            .unwrap()
    }

    async fn tick(&self) -> TickOutcome {
        self.controller.tick(WriteCtx::leader(0), self.now()).await
    }

    async fn clean_tick(&self) {
        assert_eq!(
            self.tick().await,
            TickOutcome::Scraped(CycleResult::Success)
        );
    }

    fn truth(&self, now: DateTime<Utc>) -> Gauges {
        self.w.sim.expected_24h(now, &self.truth, |_| true)
    }

    /// Every non-zero 24h gauge equals the truth at `now`.
    async fn assert_truth(&self, now: DateTime<Utc>, what: &str) {
        assert_eq!(
            activity_gauges(&*self.store).await,
            self.truth(now),
            "{what}"
        );
    }

    fn add(&self, repo: &str, kind: &str, user: Option<&str>) {
        self.w
            .sim
            .add_event(&Event {
                org: "org-a",
                repo,
                kind,
                user,
                ..Event::default()
            })
            .unwrap();
    }

    async fn age(&self, now: DateTime<Utc>) {
        ghstats_scheduler::leader::age_activity(&*self.store, WriteCtx::leader(0), now).await;
    }

    async fn cleanup(&self) {
        self.redis.delete_all_keys().await.unwrap();
    }
}

fn commits_of(gauges: &Gauges, repo: &str, user: &str) -> f64 {
    gauges
        .get(&(
            Family::Commits24h.name().to_owned(),
            "org-a".to_owned(),
            repo.to_owned(),
            user.to_owned(),
        ))
        .copied()
        .unwrap_or(0.0)
}

#[tokio::test]
async fn late_pushed_and_rebased_commits_are_counted_across_page_boundaries() {
    let r = rig("late").await;
    r.clean_tick().await;
    r.assert_truth(r.now(), "first cycle").await;
    // Ten minutes later a commit written three hours ago is pushed, and
    // 120 commits written over the last 20 hours are rebased onto main:
    // both are older than the checkpoint by author date.
    r.w.sim.advance_clock(chrono::Duration::minutes(10));
    let before = commits_of(&activity_gauges(&*r.store).await, "repo-000", "user-001");
    r.add("repo-000", "late_commit", Some("user-001"));
    for _ in 0..40 {
        r.add("repo-001", "rebase", None);
    }
    r.w.sim.clear_requests();
    r.clean_tick().await;
    let now = r.now();
    r.assert_truth(now, "late and rebased commits count by author date")
        .await;
    let after = commits_of(&activity_gauges(&*r.store).await, "repo-000", "user-001");
    assert_eq!(after, before + 1.0, "the late commit counts for its author");
    let pages =
        r.w.sim
            .requests()
            .into_iter()
            .filter(|q| q.path.contains("/repo-001/commits") && q.path.contains("page=2"))
            .count();
    assert!(
        pages >= 1,
        "the listing went on past page 1 (its last item was rebased: old author date, new committer date)"
    );
    r.cleanup().await;
}

/// The states of every review of `repo`'s pull requests, as GitHub lists them.
async fn review_states(sim: &ghstats_simulator::Simulator, repo: &str) -> Vec<String> {
    let get = |path: String| async move {
        reqwest::Client::new()
            .get(format!("{}{path}", sim.api_base()))
            .header(
                "authorization",
                format!("token {}", ghstats_simulator::DEMO_TOKEN),
            )
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let pulls = get(format!("/repos/org-a/{repo}/pulls?state=all&per_page=100")).await;
    let mut states = Vec::new();
    for p in pulls.as_array().unwrap() {
        let n = p["number"].as_u64().unwrap();
        let reviews = get(format!(
            "/repos/org-a/{repo}/pulls/{n}/reviews?per_page=100"
        ))
        .await;
        for r in reviews.as_array().unwrap() {
            states.push(r["state"].as_str().unwrap().to_owned());
        }
    }
    states
}

fn reviews_in(gauges: &Gauges, repo: &str) -> f64 {
    gauges
        .iter()
        .filter(|(k, _)| k.0 == Family::ReviewsSubmitted24h.name() && k.2 == repo)
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn dismissed_reviews_count_whether_read_before_or_after_their_dismissal() {
    let r = rig("dismissed").await;
    r.clean_tick().await;
    // Reviews read by a cycle, then dismissed (as a push under "dismiss
    // stale pull request approvals" does); and reviews dismissed before
    // any cycle read them.
    for _ in 0..6 {
        r.add("repo-000", "review", None);
    }
    r.clean_tick().await;
    let read = reviews_in(&activity_gauges(&*r.store).await, "repo-000");
    for _ in 0..6 {
        r.add("repo-000", "dismiss_review", None);
        r.add("repo-001", "review", None);
        r.add("repo-001", "dismiss_review", None);
    }
    for repo in ["repo-000", "repo-001"] {
        let states = review_states(&r.w.sim, repo).await;
        assert!(
            states.iter().any(|s| s == "DISMISSED"),
            "{repo} has dismissed reviews: {states:?}"
        );
    }
    r.clean_tick().await;
    r.assert_truth(r.now(), "dismissed reviews count").await;
    let gauges = activity_gauges(&*r.store).await;
    assert!(
        reviews_in(&gauges, "repo-000") >= read,
        "a review dismissed after it was read still counts"
    );
    r.cleanup().await;
}

#[tokio::test]
async fn merge_commits_and_web_flow_never_count_and_unlinked_authors_are_unattributed() {
    let r = rig("merges").await;
    r.clean_tick().await;
    r.add("repo-002", "merge", Some("user-002"));
    r.add("repo-002", "squash", Some("user-004"));
    r.add("repo-002", "squash_unlinked", Some("user-005"));
    r.w.sim.advance_clock(chrono::Duration::seconds(5));
    r.clean_tick().await;
    r.assert_truth(
        r.now(),
        "merge commits, web-flow squashes and unlinked authors",
    )
    .await;
    let gauges = activity_gauges(&*r.store).await;
    assert!(
        gauges.keys().all(|(_, _, _, user)| user != "web-flow"),
        "the committer web-flow is never credited"
    );
    assert!(
        commits_of(&gauges, "repo-002", UNATTRIBUTED) >= 1.0,
        "the unlinked squash counts under {UNATTRIBUTED}"
    );
    r.cleanup().await;
}

#[tokio::test]
async fn bot_type_accounts_are_dropped_by_type_and_kept_on_request() {
    let dropped = rig("bots").await;
    dropped.add("repo-000", "pull", Some("Copilot"));
    dropped.add("repo-000", "commit", Some("Copilot"));
    dropped.clean_tick().await;
    dropped.assert_truth(dropped.now(), "bots dropped").await;
    let all = dropped.store.snapshot().await.unwrap().series;
    assert!(
        all.iter()
            .all(|(k, _)| !k.labels.iter().any(|l| l == "Copilot")),
        "Copilot (type Bot, no [bot] suffix) is not exported"
    );
    dropped.cleanup().await;

    let kept = rig_with(
        "bots-kept",
        "  include_bot_accounts: true\n  user_denylist: []\n",
        "",
        TruthOptions {
            include_bots: true,
            ..default_truth("org-a")
        },
    )
    .await;
    kept.add("repo-000", "pull", Some("Copilot"));
    kept.clean_tick().await;
    kept.assert_truth(kept.now(), "bots kept").await;
    let gauges = activity_gauges(&*kept.store).await;
    assert!(gauges.keys().any(|(_, _, _, user)| user == "Copilot"));
    kept.cleanup().await;
}

#[tokio::test]
async fn gauges_age_while_the_listing_fails_during_cooldown_and_while_paused() {
    let r = rig_with(
        "aging",
        "  unhealthy_failure_threshold: 2\n  unhealthy_cooldown: 1h\n",
        "",
        default_truth("org-a"),
    )
    .await;
    r.clean_tick().await;
    let t0 = r.now();
    r.assert_truth(t0, "first cycle").await;
    let start = activity_gauges(&*r.store).await;
    assert!(!start.is_empty());
    r.w.sim.set_fault(FaultRule {
        endpoint: "list_org_repos".into(),
        status: 503,
        fail_every: 1,
        ..FaultRule::default()
    });
    // The listing fails: the cycle writes nothing, the aging pass still
    // moves every gauge.
    r.w.sim.advance_clock(chrono::Duration::hours(6));
    assert_eq!(r.tick().await, TickOutcome::Scraped(CycleResult::Failure));
    r.age(r.now()).await;
    r.assert_truth(r.now(), "aged while the listing fails")
        .await;
    // A second failure starts the cooldown: no cycle runs.
    r.w.sim.advance_clock(chrono::Duration::hours(6));
    assert_eq!(r.tick().await, TickOutcome::Scraped(CycleResult::Failure));
    assert!(matches!(
        r.controller.github_state(),
        GithubState::CoolingDown(_)
    ));
    r.w.sim.advance_clock(chrono::Duration::minutes(30));
    assert_eq!(r.tick().await, TickOutcome::SkippedUnhealthy);
    r.age(r.now()).await;
    r.assert_truth(r.now(), "aged during the cooldown").await;
    // Paused by an operator: no tick at all, the gauges still fall to 0.
    r.controller.set_paused(true);
    r.w.sim.advance_clock(chrono::Duration::hours(13));
    let later = r.now();
    r.age(later).await;
    assert!(
        r.truth(later).is_empty(),
        "nothing happened in the last 24 hours"
    );
    r.assert_truth(later, "aged to zero while paused").await;
    let zeros =
        ghstats_testkit::series_where(&*r.store, |k| Family::ACTIVITY_24H.contains(&k.family))
            .await;
    assert!(
        zeros.len() >= start.len() && zeros.iter().all(|(_, v)| *v == 0.0),
        "every series reads 0, none lingers at its last value"
    );
    r.cleanup().await;
}

#[tokio::test]
async fn repositories_that_leave_the_selection_age_out_and_lose_their_loc_at_once() {
    let r = rig("departures").await;
    r.clean_tick().await;
    r.w.sim.advance_clock(chrono::Duration::seconds(31));
    r.clean_tick().await;
    let loc_repos = |g: &Gauges| {
        g.keys()
            .map(|(_, _, repo, _)| repo.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let loc = loc_gauges(&*r.store).await;
    for repo in ["repo-001", "repo-002", "repo-003"] {
        assert!(loc_repos(&loc).contains(repo), "{repo} has LOC: {loc:?}");
    }
    r.w.sim
        .depart(
            "org-a",
            "repo-001",
            Departure::Renamed,
            Some("repo-001-next"),
        )
        .unwrap();
    r.w.sim
        .depart("org-a", "repo-002", Departure::Deleted, None)
        .unwrap();
    r.w.sim
        .depart("org-a", "repo-003", Departure::Archived, None)
        .unwrap();
    r.w.sim.advance_clock(chrono::Duration::minutes(1));
    r.clean_tick().await;
    r.assert_truth(
        r.now(),
        "the renamed repository's new name has its own series; the old names keep theirs while they age",
    )
    .await;
    let loc = loc_gauges(&*r.store).await;
    for repo in ["repo-001", "repo-002", "repo-003"] {
        assert!(!loc_repos(&loc).contains(repo), "{repo}'s LOC went at once");
    }
    let gone = |g: &Gauges| {
        g.keys()
            .filter(|(_, _, repo, _)| ["repo-001", "repo-002", "repo-003"].contains(&repo.as_str()))
            .count()
    };
    assert!(gone(&activity_gauges(&*r.store).await) > 0);
    r.w.sim.advance_clock(chrono::Duration::hours(25));
    r.clean_tick().await;
    r.age(r.now()).await;
    r.assert_truth(r.now(), "a day later").await;
    assert_eq!(
        gone(&activity_gauges(&*r.store).await),
        0,
        "their gauges fell to 0"
    );
    r.cleanup().await;
}

#[tokio::test]
async fn a_backfill_window_ending_in_the_future_does_not_move_the_checkpoint_past_now() {
    let r = rig("future").await;
    r.clean_tick().await;
    let now = r.now();
    let orgs = ghstats_scrape::clients::org_clients(&r.w.config, &r.store, r.shutdown.token())
        .unwrap()
        .into_iter()
        .map(|(o, c)| (o.org.to_ascii_lowercase(), (o, c)))
        .collect();
    let jobs = JobContext::new(
        r.store.clone(),
        orgs,
        ghstats_scrape::Attribution::from_config(&r.w.config.github),
        Duration::from_secs(3600),
        0,
    );
    // A coalesced window: whole 15-minute buckets, the last one not over yet.
    let job = BackfillRequest {
        org: "org-a".into(),
        repo: "repo-000".into(),
        window: ghstats_proto::TimeWindow::new(
            now - chrono::Duration::minutes(10),
            now + chrono::Duration::minutes(15),
        )
        .unwrap(),
        reason: BackfillReason::ScrapeError,
    }
    .into_job("future-window".into(), 3, now);
    assert!(matches!(
        jobs.process(&job, now).await,
        Verdict::Done { .. }
    ));
    let checkpoint = r
        .store
        .checkpoint("org-a", "repo-000")
        .await
        .unwrap()
        .unwrap();
    assert!(
        checkpoint <= now,
        "checkpoint {checkpoint} is past now {now}"
    );
    // Activity right after: the leader's next window starts before it.
    r.w.sim.advance_clock(chrono::Duration::minutes(2));
    r.add("repo-000", "comment", Some("user-006"));
    r.add("repo-000", "pull", Some("user-006"));
    r.w.sim.advance_clock(chrono::Duration::seconds(5));
    r.clean_tick().await;
    r.assert_truth(r.now(), "what happened after the backfill is counted")
        .await;
    r.cleanup().await;
}

#[tokio::test]
async fn weekly_loc_moves_to_the_new_week_within_one_cycle_after_sunday() {
    let r = rig("week").await;
    // Ten minutes before the next Sunday 00:00 UTC.
    let now = r.now();
    let days = 7 - i64::from(now.weekday().num_days_from_sunday());
    let sunday = Utc.from_utc_datetime(
        &(now.date_naive() + chrono::Duration::days(days))
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    );
    r.w.sim
        .advance_clock(sunday - now - chrono::Duration::minutes(10));
    for repo in ["repo-000", "repo-001"] {
        r.add(repo, "commit", Some("user-001"));
    }
    r.clean_tick().await;
    r.w.sim.advance_clock(chrono::Duration::seconds(31));
    r.clean_tick().await;
    // (The monorepo's stats report zero lines: its LOC is sampled from
    // commit details, which its own test covers.)
    let sampled = |g: Gauges| -> Gauges {
        g.into_iter()
            .filter(|((_, _, repo, _), _)| repo != "monorepo")
            .collect()
    };
    let before = sampled(loc_gauges(&*r.store).await);
    assert_eq!(
        before,
        loc_truth(&r.w.sim, r.now(), &r.truth),
        "LOC of the week before"
    );
    // Sunday 00:05: the week that just ended is the newest complete one.
    r.w.sim.advance_clock(chrono::Duration::minutes(15));
    r.clean_tick().await;
    let after = sampled(loc_gauges(&*r.store).await);
    let want = loc_truth(&r.w.sim, r.now(), &r.truth);
    assert_eq!(after, want, "LOC of the week that just ended");
    assert_ne!(after, before, "the week moved");
    r.cleanup().await;
}

#[tokio::test]
async fn one_failing_repository_never_pauses_the_org() {
    let r = rig("one-failing").await;
    r.w.sim.set_fault(FaultRule {
        endpoint: "list_pulls".into(),
        path_contains: Some("/repo-000/".into()),
        status: 503,
        fail_every: 1,
        ..FaultRule::default()
    });
    for _ in 0..8 {
        assert_eq!(r.tick().await, TickOutcome::Scraped(CycleResult::Partial));
        r.w.sim.advance_clock(chrono::Duration::minutes(5));
    }
    assert_eq!(
        r.controller.github_state(),
        GithubState::Healthy,
        "eight failed cycles of one repository: the org is not paused"
    );
    let failing = r.controller.failing_repos();
    assert_eq!(
        failing
            .iter()
            .map(|(repo, _)| repo.as_str())
            .collect::<Vec<_>>(),
        ["repo-000"],
        "the health names the repository"
    );
    let asked = r.backfill.drain();
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|q| q.repo == "repo-000" && q.reason == BackfillReason::ActivityPullsFailed),
        "its windows went to the backfill: {asked:?}"
    );
    r.cleanup().await;
}
