//! The demo GitHub: when no org is configured, `ghstats` starts the bundled
//! simulator in-process (with live activity, so the numbers move),
//! configures its orgs with the simulator's demo token, and has the
//! simulator's webhook deliver to this process's own intake, so activity
//! added through `/_sim/activity` shows in `/metrics` within seconds.

use ghstats_config::{Config, HttpUrl, OrgConfig};
use ghstats_core::Shutdown;
use ghstats_runtime::ServeError;
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator};

/// The webhook secret the demo's simulator signs with and its orgs accept.
pub const DEMO_WEBHOOK_SECRET: &str = "ghstats-demo-webhook-secret";

/// Where the demo's simulator listens, so the README's `curl` reaches it;
/// a port chosen by the system when that one is taken (a second demo, a
/// test), as the log says.
pub const DEMO_SIMULATOR_ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 8090);

/// How often the demo scrapes its simulated orgs.
pub const DEMO_SCRAPE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// A running demo GitHub; the token file lives as long as this value.
#[derive(Debug)]
pub struct DemoGithub {
    pub simulator: Simulator,
    _token_dir: tempfile::TempDir,
}

fn failed(reason: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ServeError {
    ServeError::task("demo GitHub simulator", reason)
}

/// Starts the simulator and points `config`'s orgs at it.
pub async fn start(config: &mut Config, shutdown: &Shutdown) -> Result<DemoGithub, ServeError> {
    let listener = match ghstats_runtime::listeners::bind(DEMO_SIMULATOR_ADDR.into()).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::info!(error = %e, "the demo simulator's own port is taken: using another");
            ghstats_runtime::listeners::bind(([127, 0, 0, 1], 0).into()).await?
        }
    };
    let sim_config = SimConfig {
        live_activity_every: Some(std::time::Duration::from_secs(5)),
        ..SimConfig::default()
    };
    let simulator = Simulator::start(sim_config, listener, shutdown).map_err(failed)?;
    let token_dir = tempfile::tempdir().map_err(failed)?;
    let token_file = token_dir.path().join("github-token");
    std::fs::write(&token_file, DEMO_TOKEN).map_err(failed)?;
    let api: HttpUrl = simulator.api_base().parse().map_err(failed)?;
    config.github.orgs = simulator
        .installations()
        .into_iter()
        .map(|(org, _)| OrgConfig {
            org,
            token_file: Some(token_file.clone()),
            api_base_url: Some(api.clone()),
            // The simulator's activity (an event every 5 s) shows within
            // half a minute, and LOC within a minute of the start.
            scrape_interval: DEMO_SCRAPE_INTERVAL.into(),
            webhook_secret: Some(ghstats_config::Secret::new(DEMO_WEBHOOK_SECRET)),
            ..OrgConfig::default()
        })
        .collect();
    // The simulator's Copilot reports too, from its download host.
    let copilot = &mut config.copilot;
    if !copilot.enabled {
        copilot.enabled = true;
        copilot.include_org_users_28d = true;
        copilot.download_host_allowlist = vec!["localhost".into()];
    }
    config.webhooks.enabled = true;
    tracing::info!(
        api = %simulator.api_base(),
        admin = %simulator.admin_base(),
        orgs = config.github.orgs.len(),
        "no org configured: serving the demo GitHub simulator"
    );
    Ok(DemoGithub {
        simulator,
        _token_dir: token_dir,
    })
}

impl DemoGithub {
    /// Has the simulator's webhook deliver to the intake at `addr`.
    pub fn deliver_to(&self, mut addr: std::net::SocketAddr) {
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        self.simulator
            .set_hooks(ghstats_simulator::hooks::HookKnobs {
                urls: vec![format!("http://{addr}/webhooks/github")],
                secret: DEMO_WEBHOOK_SECRET.into(),
                ..Default::default()
            });
        tracing::info!(intake = %format!("http://{addr}/webhooks/github"), "the demo simulator delivers webhooks to this process");
    }
}
