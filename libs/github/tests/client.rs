//! The GitHub client against the simulator: pagination, free 304s, 202,
//! secondary and primary limits, retries, token refresh, GHES, unlimited
//! servers, and no credentials anywhere they should not be.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ghstats_core::Shutdown;
use ghstats_github::models::StatsAnswer;
use ghstats_github::{
    ClientOptions, Conditional, Credentials, GithubClient, GithubError, MemoryEtagCache,
    RetryPolicy,
};
use ghstats_simulator::{
    DEMO_APP_ID, DEMO_APP_PRIVATE_KEY, DEMO_TOKEN, FaultRule, SimConfig, Simulator, WorldSpec,
};
use tokio_util::sync::CancellationToken;

struct Harness {
    sim: Simulator,
    _shutdown: Shutdown,
}

async fn simulator(config: SimConfig) -> Harness {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(config, listener, &shutdown).unwrap();
    Harness {
        sim,
        _shutdown: shutdown,
    }
}

fn options(sim: &Simulator, org: &str, credentials: Credentials) -> ClientOptions {
    ClientOptions {
        org: org.to_owned(),
        api_base: sim.api_base().parse().unwrap(),
        credentials,
        request_timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            jitter: true,
        },
        min_remaining: 0,
        reset_buffer: Duration::ZERO,
        secondary_backoff: Duration::from_secs(1),
        max_rate_wait: Duration::from_secs(30),
        token_refresh_margin: ghstats_github::REFRESH_MARGIN,
        etags: Arc::new(MemoryEtagCache::default()),
        cancel: CancellationToken::new(),
        tenure: None,
    }
}

fn pat() -> Credentials {
    Credentials::Token(ghstats_config::Secret::new(DEMO_TOKEN))
}

fn app(sim: &Simulator, org: &str) -> Credentials {
    let installation = sim
        .installations()
        .into_iter()
        .find(|(o, _)| o == org)
        .unwrap()
        .1;
    Credentials::app(DEMO_APP_ID, installation, DEMO_APP_PRIVATE_KEY).unwrap()
}

fn client(sim: &Simulator, credentials: Credentials) -> GithubClient {
    GithubClient::new(options(sim, "org-a", credentials)).unwrap()
}

#[tokio::test]
async fn paginates_over_every_page() {
    let h = simulator(SimConfig {
        world: WorldSpec {
            repos_per_org: 300,
            days: 2,
            ..WorldSpec::default()
        },
        ..SimConfig::default()
    })
    .await;
    let listed = client(&h.sim, pat()).list_org_repos().await.unwrap();
    assert_eq!(listed.items.len(), 305);
    assert_eq!(listed.pages, 4);
    let mut names: Vec<_> = listed.items.iter().map(|r| r.name.clone()).collect();
    names.dedup();
    assert_eq!(names.len(), 305, "no repository twice");
    assert!(listed.items.iter().any(|r| r.archived) && listed.items.iter().any(|r| r.fork));
}

#[tokio::test]
async fn a_repeated_call_is_answered_by_free_304s() {
    let h = simulator(SimConfig::default()).await;
    let c = client(&h.sim, pat());
    let (since, until) = (Utc::now() - chrono::Duration::days(7), Utc::now());
    let first = c.list_commits("repo-000", since, until).await.unwrap();
    assert!(!first.unchanged && !first.items.is_empty());
    let budget_after_first = c.budget().unwrap().remaining;
    h.sim.clear_requests();

    let second = c.list_commits("repo-000", since, until).await.unwrap();
    assert!(second.unchanged);
    assert_eq!(second.items.len(), first.items.len());
    let log = h.sim.requests();
    assert!(!log.is_empty());
    assert!(
        log.iter().all(|r| r.status == 304 && !r.counted),
        "{log:#?}"
    );
    assert_eq!(
        c.budget().unwrap().remaining,
        budget_after_first,
        "304s cost no budget"
    );
    assert_eq!(c.usage().not_modified, log.len() as u64);
}

#[tokio::test]
async fn a_cursor_listing_answers_304_only_once_its_validators_are_kept() {
    let h = simulator(SimConfig::default()).await;
    let c = client(&h.sim, pat());
    let since = Utc::now() - chrono::Duration::days(30);
    let first = c.list_pulls_updated_since("repo-000", since).await.unwrap();
    assert!(!first.items.is_empty() && !first.unkept.is_empty());
    // Not kept: what was derived from the answer may not be stored yet,
    // so the next listing is answered whole.
    let again = c.list_pulls_updated_since("repo-000", since).await.unwrap();
    assert!(!again.unchanged);
    assert_eq!(again.items.len(), first.items.len());
    c.keep(again.unkept).await;
    h.sim.clear_requests();
    let kept = c.list_pulls_updated_since("repo-000", since).await.unwrap();
    assert!(kept.unchanged);
    assert!(kept.items.is_empty(), "a 304 page returns no items");
    assert_eq!(kept.pages, first.pages, "the cursor memo still paginates");
    assert!(kept.unkept.is_empty());
    assert!(
        h.sim
            .requests()
            .iter()
            .all(|r| r.status == 304 && !r.counted)
    );
}

#[tokio::test]
async fn stats_202_is_reported_as_computing_and_not_retried() {
    let h = simulator(SimConfig::default()).await;
    let c = client(&h.sim, pat());
    let stats_of = |repo: &'static str| {
        let c = c.clone();
        async move {
            match c.contributor_stats(repo, |_| Some(())).await.unwrap() {
                Conditional::Fresh { value, .. } => value,
                Conditional::Unchanged(()) => panic!("nothing was kept, so no 304"),
            }
        }
    };
    assert!(matches!(
        stats_of("slow-stats").await,
        StatsAnswer::Computing
    ));
    assert_eq!(h.sim.requests().len(), 1);
    assert!(matches!(stats_of("empty-repo").await, StatsAnswer::Empty));
    // An ordinary repository computes once, then answers.
    assert!(matches!(stats_of("repo-001").await, StatsAnswer::Computing));
    let StatsAnswer::Ready(stats) = stats_of("repo-001").await else {
        panic!("not ready")
    };
    assert!(
        stats
            .iter()
            .all(|s| s.author.as_ref().and_then(|a| a.login.clone()).is_some())
    );
}

#[tokio::test]
async fn secondary_limit_is_honoured_before_retrying() {
    let h = simulator(SimConfig::default()).await;
    h.sim.set_fault(FaultRule {
        endpoint: "list_issue_comments".into(),
        fail_next: 1,
        secondary_limit_retry_after_seconds: Some(1),
        ..FaultRule::default()
    });
    let c = client(&h.sim, pat());
    let listed = c
        .list_issue_comments("repo-000", Utc::now() - chrono::Duration::days(30))
        .await
        .unwrap();
    assert!(!listed.items.is_empty());
    let log = h.sim.requests();
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>()[..2],
        [403, 200]
    );
    assert!(
        log[1].at - log[0].at >= chrono::Duration::seconds(1),
        "retried before Retry-After: {log:#?}"
    );
    assert_eq!(c.usage().secondary_limit_hits, 1);
}

#[tokio::test]
async fn bad_credentials_are_not_retried() {
    let h = simulator(SimConfig::default()).await;
    let c = client(
        &h.sim,
        Credentials::Token(ghstats_config::Secret::new("ghp_wrong")),
    );
    let err = c.list_org_repos().await.unwrap_err();
    assert!(matches!(err, GithubError::Unauthorized { .. }), "{err}");
    assert!(!err.is_transient());
    assert_eq!(h.sim.requests().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_surface_as_transient() {
    let h = simulator(SimConfig::default()).await;
    h.sim.set_fault(FaultRule {
        endpoint: "list_pulls".into(),
        status: 503,
        fail_every: 1,
        ..FaultRule::default()
    });
    let c = client(&h.sim, pat());
    let err = c
        .list_pulls_updated_since("repo-000", Utc::now() - chrono::Duration::days(1))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GithubError::Server {
            endpoint: "list_pulls",
            status: 503,
            attempts: 3
        }
    );
    assert!(err.is_transient());
    assert_eq!(
        h.sim.requests().iter().filter(|r| r.status == 503).count(),
        3
    );
    assert_eq!(c.usage().retries, 2);

    // One failure then success: the caller never sees it.
    h.sim.set_fault(FaultRule {
        endpoint: "list_pulls".into(),
        status: 502,
        fail_next: 1,
        ..FaultRule::default()
    });
    c.list_pulls_updated_since("repo-000", Utc::now() - chrono::Duration::days(1))
        .await
        .unwrap();
}

#[tokio::test]
async fn installation_token_is_minted_once_for_concurrent_callers_and_refreshed_before_expiry() {
    let h = simulator(SimConfig {
        token_ttl: chrono::Duration::seconds(10),
        ..SimConfig::default()
    })
    .await;
    let mut opts = options(&h.sim, "org-a", app(&h.sim, "org-a"));
    // Tokens count as stale 9 s before they expire: after 1 s here.
    opts.token_refresh_margin = Duration::from_secs(9);
    let c = GithubClient::new(opts).unwrap();
    let installation = h.sim.installations()[0].1;
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.rate_limit().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(
        h.sim.mints(installation),
        1,
        "one mint for ten concurrent callers"
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.list_org_repos().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(
        h.sim.mints(installation),
        2,
        "refreshed once, before expiry"
    );
    assert!(
        h.sim.requests().iter().all(|r| r.status != 401),
        "no request used an expired token"
    );
}

#[tokio::test]
async fn an_expired_installation_token_is_replaced_once_on_401() {
    let h = simulator(SimConfig {
        token_ttl: chrono::Duration::seconds(3600),
        ..SimConfig::default()
    })
    .await;
    let c = client(&h.sim, app(&h.sim, "org-a"));
    c.list_org_repos().await.unwrap();
    // Simulated time jumps past the token's expiry; the client's clock does not.
    h.sim.advance_clock(chrono::Duration::hours(2));
    c.list_org_repos().await.unwrap();
    let installation = h.sim.installations()[0].1;
    assert_eq!(h.sim.mints(installation), 2);
}

#[tokio::test]
async fn an_installation_cannot_read_another_org() {
    let h = simulator(SimConfig::default()).await;
    let c = GithubClient::new(options(&h.sim, "org-b", app(&h.sim, "org-a"))).unwrap();
    assert!(matches!(
        c.list_commits(
            "repo-000",
            Utc::now() - chrono::Duration::days(1),
            Utc::now()
        )
        .await,
        Err(GithubError::NotFound { .. })
    ));
}

#[tokio::test]
async fn ghes_serves_under_api_v3_and_mints_there() {
    let h = simulator(SimConfig {
        ghes: true,
        ..SimConfig::default()
    })
    .await;
    assert!(h.sim.api_base().ends_with("/api/v3"));
    let c = client(&h.sim, app(&h.sim, "org-a"));
    let listed = c.list_org_repos().await.unwrap();
    assert!(!listed.items.is_empty());
    let log = h.sim.requests();
    assert!(
        log.iter().all(|r| r.path.starts_with("/api/v3/")),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|r| r.endpoint == "create_installation_token" && r.status == 201)
    );
}

#[tokio::test]
async fn a_server_without_rate_limit_headers_is_unlimited() {
    let h = simulator(SimConfig {
        rate_limit: None,
        ..SimConfig::default()
    })
    .await;
    let mut opts = options(&h.sim, "org-a", pat());
    opts.min_remaining = 200;
    let c = GithubClient::new(opts).unwrap();
    for _ in 0..3 {
        c.list_org_repos().await.unwrap();
    }
    assert_eq!(c.budget(), None);
    assert_eq!(c.rate_limit().await.unwrap(), None);
}

#[tokio::test]
async fn a_spent_budget_waits_for_the_reset() {
    let h = simulator(SimConfig::default()).await;
    let c = client(&h.sim, pat());
    c.list_org_repos().await.unwrap();
    h.sim.set_remaining(0, Some(chrono::Duration::seconds(2)));
    let reset = (h.sim.now() + chrono::Duration::seconds(2)).timestamp();
    h.sim.clear_requests();
    c.list_org_repos().await.unwrap();
    let log = h.sim.requests();
    assert_eq!(log.first().map(|r| r.status), Some(403), "{log:#?}");
    let after: Vec<_> = log.iter().skip(1).collect();
    assert!(
        !after.is_empty() && after.iter().all(|r| r.at.timestamp() >= reset),
        "{log:#?}"
    );

    // When the reset is further off than the client may wait, it says so.
    let mut opts = options(&h.sim, "org-a", pat());
    opts.max_rate_wait = Duration::from_secs(1);
    let impatient = GithubClient::new(opts).unwrap();
    impatient.list_org_repos().await.unwrap();
    h.sim.set_remaining(0, Some(chrono::Duration::seconds(600)));
    let err = impatient.list_org_repos().await.unwrap_err();
    assert!(matches!(err, GithubError::RateLimited { .. }), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn below_the_threshold_no_request_goes_before_the_reset() {
    let h = simulator(SimConfig::default()).await;
    let mut opts = options(&h.sim, "org-a", pat());
    opts.min_remaining = 100;
    opts.max_rate_wait = Duration::from_secs(1);
    let c = GithubClient::new(opts).unwrap();
    c.list_org_repos().await.unwrap();
    h.sim
        .set_remaining(50, Some(chrono::Duration::seconds(600)));
    c.list_org_repos().await.unwrap(); // learns remaining = 49
    h.sim.clear_requests();
    let err = c.list_org_repos().await.unwrap_err();
    assert!(matches!(err, GithubError::RateLimited { .. }), "{err}");
    assert!(
        h.sim.requests().is_empty(),
        "no request below the threshold"
    );
}

#[tokio::test]
async fn credentials_never_follow_a_link_to_another_host() {
    let h = simulator(SimConfig::default()).await;
    let c = client(&h.sim, pat());
    let err = c
        .get(
            "list_commits",
            "http://elsewhere.example/repos/x/y/commits"
                .parse()
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GithubError::ForeignHost {
            endpoint: "list_commits",
            host: "elsewhere.example".into()
        }
    );
    assert!(h.sim.requests().is_empty());
}

#[tokio::test]
async fn shutdown_cancels_a_wait() {
    let h = simulator(SimConfig::default()).await;
    let mut opts = options(&h.sim, "org-a", pat());
    opts.max_rate_wait = Duration::from_secs(3600);
    let cancel = opts.cancel.clone();
    let c = GithubClient::new(opts).unwrap();
    c.list_org_repos().await.unwrap();
    h.sim
        .set_remaining(0, Some(chrono::Duration::seconds(3000)));
    let canceller = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(c.list_org_repos(), canceller);
    assert_eq!(result.unwrap_err(), GithubError::Cancelled);
}

#[tokio::test]
async fn a_leader_whose_tenure_ended_sends_nothing() {
    let h = simulator(SimConfig::default()).await;
    let tenure = ghstats_core::Tenure::elected();
    let mut opts = options(&h.sim, "org-a", pat());
    opts.tenure = Some(tenure.clone());
    let c = GithubClient::new(opts).unwrap();
    let refused = c.list_org_repos().await.unwrap_err();
    assert!(
        matches!(refused, GithubError::NotLeader { .. }),
        "{refused}"
    );
    assert!(!refused.is_transient(), "no backfill for a deposed leader");
    assert!(h.sim.requests().is_empty(), "not one request left");
    // Every request names the process.
    let unbounded = client(&h.sim, pat());
    unbounded.list_org_repos().await.unwrap();
    let agent = &h.sim.requests()[0].user_agent;
    assert_eq!(
        *agent,
        format!(
            "ghstats/{} (pid {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        )
    );
}
