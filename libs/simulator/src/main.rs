//! `ghstats-simulator`: serve a simulated GitHub for local runs.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ghstats_core::Shutdown;
use ghstats_simulator::{DEMO_APP_ID, DEMO_TOKEN, SimConfig, Simulator, WorldSpec};

/// A GitHub API simulator: the REST endpoints ghstats uses, with GitHub's
/// JSON shapes, pagination, ETags (304s are free), rate-limit headers per
/// installation, App JWT and installation-token auth, and 202s from
/// /stats/contributors while "computing".
///
/// Test endpoints under /_sim: GET truth?since=&until=&org= (expected counts
/// per org/repo/user), GET|DELETE requests (request log), GET stats,
/// POST|DELETE faults ({"endpoint":"list_commits","status":503,"fail_next":3}
/// or "fail_every", "secondary_limit_retry_after_seconds", "delay_ms"),
/// GET|POST clock ({"advance_seconds":3600}), POST rate_limit
/// ({"remaining":0}), POST activity ({"org","repo","kind":"commit|pull|comment"}),
/// GET world.
///
/// Copilot usage reports: /orgs/{org}/copilot/metrics/reports/{organization,users}-28-day/latest
/// and ...-1-day?day=YYYY-MM-DD, the same under /enterprises/sim-enterprise
/// (installation 1999); download links point at --copilot-download-listen
/// under another host name and refuse requests with an Authorization header.
/// POST /_sim/copilot {"link_host":"evil.example:80","expired_links":true,
/// "extra_lines":["{not json"]} changes how reports are served (GET shows it).
///
/// Webhooks: --webhook-url (repeatable) and --webhook-secret deliver signed
/// push, pull_request, pull_request_review, issue_comment and repository
/// events for every change; POST /_sim/hooks {"urls","secret","drop_every",
/// "duplicate_every","missign_every","delay_ms","reorder"} changes them; the
/// App API serves GET /app/hook/deliveries and POST .../{id}/attempts.
///
/// Credentials: the demo App (id 1000, key libs/simulator/keys/demo-app.pem)
/// is installed in every org (installation ids from 2000), and the token
/// ghp_simulator_demo_token is accepted for every org.
#[derive(Debug, Parser)]
#[command(name = "ghstats-simulator", version, verbatim_doc_comment)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Seed of the generated world.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of orgs (org-a, org-b, ...).
    #[arg(long, default_value_t = 2)]
    orgs: u32,
    /// Ordinary repositories per org (five special ones are added).
    #[arg(long, default_value_t = 4)]
    repos_per_org: u32,
    /// Number of users (bots come on top).
    #[arg(long, default_value_t = 8)]
    users: u32,
    /// Days of generated history.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// Serve under /api/v3 like GitHub Enterprise Server.
    #[arg(long)]
    ghes: bool,
    /// Requests per hour per installation or token; 0 disables rate limiting.
    #[arg(long, default_value_t = 5000)]
    rate_limit: u64,
    /// Lifetime of installation tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl_seconds: i64,
    /// Add a random event every this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    live_activity_seconds: u64,
    /// Address of the second listener that serves Copilot report downloads.
    #[arg(long, default_value = "127.0.0.1:8091")]
    copilot_download_listen: SocketAddr,
    /// Base URL of Copilot download links (default http://localhost:PORT,
    /// PORT of --copilot-download-listen).
    #[arg(long, value_name = "URL")]
    copilot_download_base: Option<String>,
    /// Synthetic Copilot users on top of the world's users.
    #[arg(long, default_value_t = 0)]
    copilot_extra_users: u32,
    /// Deliver webhooks to this URL (repeatable).
    #[arg(long, value_name = "URL")]
    webhook_url: Vec<String>,
    /// The webhook secret deliveries are signed with.
    #[arg(long, default_value = "")]
    webhook_secret: String,
    /// GET this URL and exit 0 on a 2xx answer (container health check).
    #[arg(long, value_name = "URL")]
    probe: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(url) = &cli.probe {
        return ghstats_core::probe::probe(url);
    }
    let config = SimConfig {
        world: WorldSpec {
            seed: cli.seed,
            orgs: cli.orgs,
            repos_per_org: cli.repos_per_org,
            users: cli.users,
            days: cli.days,
            ..WorldSpec::default()
        },
        ghes: cli.ghes,
        rate_limit: (cli.rate_limit > 0).then_some(cli.rate_limit),
        token_ttl: chrono::Duration::seconds(cli.token_ttl_seconds),
        tokens: vec![DEMO_TOKEN.to_owned()],
        live_activity_every: (cli.live_activity_seconds > 0)
            .then(|| Duration::from_secs(cli.live_activity_seconds)),
        copilot_download_listen: cli.copilot_download_listen,
        copilot_download_base: cli.copilot_download_base.clone(),
        copilot_extra_users: cli.copilot_extra_users,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let shutdown = Shutdown::new();
        shutdown.listen_for_signals();
        let listener = match tokio::net::TcpListener::bind(cli.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {}: {e}", cli.listen);
                return ExitCode::FAILURE;
            }
        };
        let sim = match Simulator::start(config, listener, &shutdown) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cannot start the simulator: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "GitHub simulator on {} (admin: {})",
            sim.api_base(),
            sim.admin_base()
        );
        if !cli.webhook_url.is_empty() {
            sim.set_hooks(ghstats_simulator::hooks::HookKnobs {
                urls: cli.webhook_url.clone(),
                secret: cli.webhook_secret.clone(),
                ..Default::default()
            });
            println!("webhooks to {}", cli.webhook_url.join(", "));
        }
        println!("demo App id {DEMO_APP_ID}; token {DEMO_TOKEN}");
        for (org, installation) in sim.installations() {
            println!("  org {org}: installation {installation}");
        }
        shutdown.triggered().await;
        shutdown.drain(Duration::from_secs(5)).await;
        ExitCode::SUCCESS
    })
}
