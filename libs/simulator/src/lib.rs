//! A GitHub API simulator for tests, benchmarks and the standalone demo.
//!
//! It serves the REST endpoints ghstats uses with GitHub's JSON shapes,
//! status codes and headers (`Link` pagination, ETags and free 304s,
//! per-installation rate-limit headers that count down and reset, 202 from
//! `/stats/contributors` while "computing"), checks credentials like GitHub
//! (App JWTs against the App's public key, expiring installation tokens,
//! personal access tokens), and can run as GitHub Enterprise Server (under
//! `/api/v3`, optionally without rate limiting).
//!
//! Outside GitHub's surface, `/_sim/*` gives tests what they need: the
//! ground truth for any window, the request log and counters, injected
//! faults, a movable clock, and new activity on demand. See
//! `ghstats-simulator --help`.

#![recursion_limit = "256"]

mod admin;
mod api;
mod auth;
pub mod copilot;
mod error;
pub mod hooks;
mod pull_life;
mod rng;
mod shapes;
mod state;
mod stats;
mod truth;
mod world;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration as StdDuration;

use axum::Router;
use chrono::Duration;
use ghstats_core::Shutdown;
use tokio::net::TcpListener;

pub use admin::{ACTIVITY_KINDS, Event};
pub use auth::Caller;
pub use error::SimError;
pub use state::{FaultRule, LoggedRequest};
pub use truth::{FlowTruth, LocTruth, TruthOptions, TruthRow, UNATTRIBUTED};
pub use world::{Departure, FIRST_INSTALLATION_ID, WorldSpec};

/// The demo GitHub App's id.
pub const DEMO_APP_ID: u64 = 1000;
/// The demo App's private key (a throwaway key, see `keys/README.md`).
pub const DEMO_APP_PRIVATE_KEY: &[u8] = include_bytes!("../keys/demo-app.pem");
const DEMO_APP_PUBLIC_KEY: &[u8] = include_bytes!("../keys/demo-app.pub.pem");
/// A private key the simulator does not trust (tests of rejected JWTs).
pub const UNTRUSTED_PRIVATE_KEY: &[u8] = include_bytes!("../keys/other-app.pem");
/// A personal access token the simulator accepts by default.
pub const DEMO_TOKEN: &str = "ghp_simulator_demo_token";

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub world: WorldSpec,
    /// Serve under `/api/v3` like GitHub Enterprise Server.
    pub ghes: bool,
    /// Requests per hour per installation or token; `None` disables rate
    /// limiting (no headers at all, like GHES with limits off).
    pub rate_limit: Option<u64>,
    /// Lifetime of minted installation tokens.
    pub token_ttl: Duration,
    /// Personal access tokens accepted besides installation tokens.
    pub tokens: Vec<String>,
    /// Add one random event this often (the demo's numbers move).
    pub live_activity_every: Option<StdDuration>,
    /// Where Copilot report downloads are served (a second listener).
    pub copilot_download_listen: SocketAddr,
    /// The base of download links; default `http://localhost:{port}`, a
    /// different host name than the API's `127.0.0.1`.
    pub copilot_download_base: Option<String>,
    /// Synthetic Copilot users on top of the world's (large reports).
    pub copilot_extra_users: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            world: WorldSpec::default(),
            ghes: false,
            rate_limit: Some(5000),
            token_ttl: Duration::hours(1),
            tokens: vec![DEMO_TOKEN.to_owned()],
            live_activity_every: None,
            copilot_download_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            copilot_download_base: None,
            copilot_extra_users: 0,
        }
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct SimState {
    pub config: SimConfig,
    pub world: RwLock<world::World>,
    pub clock: state::Clock,
    pub auth: auth::Auth,
    pub buckets: state::Buckets,
    pub faults: state::Faults,
    pub log: state::RequestLog,
    pub links: shapes::Links,
    pub copilot: copilot::CopilotSim,
    pub hooks: hooks::Hooks,
}

/// A running simulator.
#[derive(Debug, Clone)]
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<SimState>,
}

impl Simulator {
    /// Builds the world and serves it on `listener` until `shutdown`.
    pub fn start(
        config: SimConfig,
        listener: TcpListener,
        shutdown: &Shutdown,
    ) -> Result<Self, SimError> {
        let listen = |what| move |source| SimError::Listen { what, source };
        let addr = listener.local_addr().map_err(listen("for the API"))?;
        let api = if config.ghes {
            format!("http://{addr}/api/v3")
        } else {
            format!("http://{addr}")
        };
        let links = shapes::Links {
            api,
            web: format!("http://{addr}/web"),
        };
        let clock = state::Clock::default();
        let world = world::World::generate(&config.world, clock.now());
        let mut auth = auth::Auth::new(config.token_ttl, config.world.seed);
        auth.add_app(DEMO_APP_ID, DEMO_APP_PUBLIC_KEY)?;
        for org in &world.orgs {
            auth.add_installation(org.installation_id, DEMO_APP_ID, &org.login);
        }
        auth.add_installation(
            copilot::ENTERPRISE_INSTALLATION_ID,
            DEMO_APP_ID,
            copilot::ENTERPRISE_SLUG,
        );
        let downloads = std::net::TcpListener::bind(config.copilot_download_listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std)
            .map_err(listen("for Copilot downloads"))?;
        let download_port = downloads
            .local_addr()
            .map_err(listen("for Copilot downloads"))?
            .port();
        let download_base = config
            .copilot_download_base
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{download_port}"));
        let copilot =
            copilot::CopilotSim::new(download_base, config.copilot_extra_users, config.world.seed);
        for (i, token) in config.tokens.iter().enumerate() {
            auth.add_pat(token, &format!("pat-{i}"));
        }
        let state = Arc::new(SimState {
            world: RwLock::new(world),
            clock,
            auth,
            buckets: state::Buckets::default(),
            faults: state::Faults::default(),
            log: state::RequestLog::default(),
            links,
            copilot,
            hooks: hooks::Hooks::default(),
            config,
        });
        hooks::spawn_sender(state.clone(), shutdown);
        let app = router(state.clone());
        let stop = shutdown.clone();
        shutdown.spawn("simulator_http", async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.triggered().await })
                .await
        });
        let downloads_app = copilot::download_routes(state.clone());
        let stop = shutdown.clone();
        shutdown.spawn("simulator_downloads", async move {
            axum::serve(downloads, downloads_app)
                .with_graceful_shutdown(async move { stop.triggered().await })
                .await
        });
        if let Some(every) = state.config.live_activity_every {
            admin::spawn_live_activity(state.clone(), every, shutdown);
        }
        Ok(Self { addr, state })
    }

    /// Configures the App's webhook (URLs, secret, fault knobs).
    pub fn set_hooks(&self, knobs: hooks::HookKnobs) {
        self.state.hooks.set_knobs(knobs);
    }

    /// The webhook's delivery attempts, newest first, as the App API lists them.
    pub fn hook_deliveries(&self) -> Vec<serde_json::Value> {
        self.state.hooks.deliveries()
    }

    /// The base of Copilot download links (`http://localhost:{port}`).
    pub fn copilot_download_base(&self) -> &str {
        &self.state.copilot.download_base
    }

    /// Changes how Copilot reports are served (foreign host, expired
    /// links, extra lines).
    pub fn set_copilot(&self, f: impl FnOnce(&mut copilot::Knobs)) {
        self.state.copilot.set_knobs(f);
    }

    /// The records of a Copilot report as served now: the 28-day report
    /// (`day: None`) or one day's; `owner` is an org or the enterprise slug.
    pub fn copilot_records(
        &self,
        owner: &str,
        kind: copilot::ReportKind,
        day: Option<chrono::NaiveDate>,
    ) -> Vec<serde_json::Value> {
        let users = Arc::new(copilot::http_users(&self.state, kind));
        let days = copilot::report_days(self.state.clock.now(), day);
        copilot::report::records(
            self.state.config.world.seed,
            owner.to_owned(),
            kind,
            days,
            users,
        )
        .collect()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The REST API root clients use (`http://host:port` or `.../api/v3`).
    pub fn api_base(&self) -> &str {
        &self.state.links.api
    }

    /// The simulator's own admin root (`http://host:port/_sim`).
    pub fn admin_base(&self) -> String {
        format!("http://{}/_sim", self.addr)
    }

    /// Org logins and their installation ids.
    pub fn installations(&self) -> Vec<(String, u64)> {
        let world = self.state.world.read().unwrap_or_else(|p| p.into_inner());
        world
            .orgs
            .iter()
            .map(|o| (o.login.clone(), o.installation_id))
            .collect()
    }

    /// Installation tokens minted so far for `installation_id`.
    pub fn mints(&self, installation_id: u64) -> u64 {
        self.state
            .auth
            .mint_counts()
            .get(&installation_id)
            .copied()
            .unwrap_or(0)
    }

    /// Every API request answered so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.log.snapshot()
    }

    pub fn clear_requests(&self) {
        self.state.log.clear();
    }

    pub fn set_fault(&self, rule: FaultRule) {
        self.state.faults.set(rule);
    }

    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Moves simulated time forward.
    pub fn advance_clock(&self, by: Duration) {
        self.state.clock.advance(by);
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.state.clock.now()
    }

    /// Sets the remaining rate budget of every bucket seen so far, and
    /// optionally moves its reset to `reset_in` from now.
    pub fn set_remaining(&self, remaining: u64, reset_in: Option<Duration>) {
        let reset = reset_in.map(|d| (self.state.clock.now() + d).timestamp());
        self.state.buckets.set_remaining(None, remaining, reset);
    }

    /// Every installation token minted so far (tests check none leaks).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.auth.issued_tokens()
    }

    /// Makes `/stats/contributors` of a repository behave normally again
    /// (`zeroed: false`) or report zero lines (`zeroed: true`).
    pub fn set_stats_zeroed(&self, org: &str, repo: &str, zeroed: bool) {
        let mut world = self.state.world.write().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = world.repo_mut(org, repo) {
            r.stats = if zeroed {
                world::StatsBehaviour::Zeroed
            } else {
                world::StatsBehaviour::Normal
            };
        }
    }

    /// Adds one event, dated now (simulated), to a repository.
    pub fn add_activity(&self, org: &str, repo: &str, kind: &str) -> Result<(), SimError> {
        self.add_event(&Event {
            org,
            repo,
            kind,
            ..Event::default()
        })
    }

    /// Adds one event as `event` says (whose, how long ago written).
    pub fn add_event(&self, event: &Event<'_>) -> Result<(), SimError> {
        let now = self.state.clock.now();
        let mut rng = rng::Rng::new(now.timestamp_nanos_opt().unwrap_or_default() as u64);
        admin::add_event(&self.state, event, &mut rng, now)
    }

    /// Archives, renames (to `new_name`) or deletes a repository now.
    pub fn depart(
        &self,
        org: &str,
        repo: &str,
        how: Departure,
        new_name: Option<&str>,
    ) -> Result<(), SimError> {
        admin::depart(
            &self.state,
            org,
            repo,
            how,
            new_name,
            self.state.clock.now(),
        )
    }

    /// Renames a user account (GitHub shows the new login everywhere).
    pub fn rename_user(&self, old: &str, new: &str) -> Result<(), SimError> {
        let mut world = self.state.world.write().unwrap_or_else(|p| p.into_inner());
        world.rename_user(old, new)
    }

    /// The repositories of `org` as GitHub lists them now.
    pub fn repo_names(&self, org: &str) -> Vec<String> {
        let world = self.state.world.read().unwrap_or_else(|p| p.into_inner());
        world
            .org(org)
            .map(|o| o.repos.iter().map(|r| r.name.clone()).collect())
            .unwrap_or_default()
    }

    /// The logins of the world's (non-bot) users.
    pub fn user_logins(&self) -> Vec<String> {
        let world = self.state.world.read().unwrap_or_else(|p| p.into_inner());
        world.users.iter().map(|u| u.login.clone()).collect()
    }

    /// Expected weekly LOC (last complete week before `now`).
    pub fn loc_truth(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        options: &TruthOptions,
    ) -> Vec<LocTruth> {
        let world = self.state.world.read().unwrap_or_else(|p| p.into_inner());
        truth::loc(&world, now, options)
    }

    /// The non-zero 24h gauges an exporter should show at `now` (whole
    /// seconds), keyed by (metric name, org, repo, user), for the rows
    /// `keep` accepts (a test's own filter, such as a deny list).
    pub fn expected_24h(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        options: &TruthOptions,
        keep: impl Fn(&TruthRow) -> bool,
    ) -> std::collections::BTreeMap<(String, String, String, String), f64> {
        let since = now - chrono::Duration::hours(24) + chrono::Duration::seconds(1);
        let until = now + chrono::Duration::seconds(1);
        let mut out = std::collections::BTreeMap::new();
        for row in self
            .truth(since, until, options)
            .into_iter()
            .filter(|r| keep(r))
        {
            for (metric, n) in row.counts() {
                if n > 0 {
                    out.insert(
                        (
                            metric.to_owned(),
                            row.org.clone(),
                            row.repo.clone(),
                            row.user.clone(),
                        ),
                        n as f64,
                    );
                }
            }
        }
        out
    }

    /// Expected pull-request flow per repository: observations in
    /// `[options.observed_since, until)`, open pull requests at `now`.
    pub fn flow_truth(
        &self,
        until: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
        options: &TruthOptions,
    ) -> Vec<FlowTruth> {
        let world = self.state.world.read().unwrap_or_else(|p| p.into_inner());
        truth::pull_flow(&world, until, now, options)
    }

    /// Expected activity per (org, repo, user) in `[since, until)`.
    pub fn truth(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
        options: &TruthOptions,
    ) -> Vec<TruthRow> {
        let world = self.state.world.read().unwrap_or_else(|p| p.into_inner());
        truth::activity(&world, since, until, options)
    }
}

fn router(state: Arc<SimState>) -> Router {
    let api = api::routes(state.clone());
    let api = if state.config.ghes {
        Router::new().nest("/api/v3", api)
    } else {
        api
    };
    api.merge(admin::routes(state)).fallback(api::not_found)
}
