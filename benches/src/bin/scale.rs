//! Tens of thousands of repositories: the release `ghstats` binary (all in
//! one, memory backends; or `split`: `ghstats scheduler` on Redis) scrapes
//! a simulated world of N repositories over M orgs, through a cold cycle, a
//! warm-up (contributor stats become ready), an unchanged cycle and a
//! cycle after 5% of the repositories changed. Per cycle it prints wall
//! time, counted and free requests, ghstats CPU per repository and peak
//! resident memory; in `split` mode Redis `used_memory` per repository and
//! per series. The baseline, in the same run, is a minimal client in its
//! own process that sends the very requests of each cycle (with
//! `If-None-Match` from its own ETag map) and discards the bodies.
//!
//! ```text
//! cargo build --release -p ghstats-standalone -p ghstats-benches
//! target/release/scale <repos> <orgs> [split]
//! ```
//!
//! `GHSTATS_BIN` runs another `ghstats` binary (an earlier release, to
//! compare).

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ghstats_core::Shutdown;
use ghstats_proto::v1::scheduler_control_client::SchedulerControlClient as SchedulerClient;
use ghstats_proto::v1::{GetSchedulerStatusRequest, TriggerScrapeRequest};
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator, WorldSpec};
use ghstats_testkit::spare_port;

const ADMIN_TOKEN: &str = "scale-bench-admin";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--minimal-client") {
        return minimal_client(args.get(1).context("api base")?);
    }
    let repos: u32 = args.first().map_or(Ok(1000), |a| a.parse())?;
    let orgs: u32 = args.get(1).map_or(Ok(4), |a| a.parse())?;
    let split = args.get(2).map(String::as_str) == Some("split");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(repos, orgs, split))
}

/// CPU seconds (user + system) and peak resident bytes of a process.
fn usage(pid: u32) -> Result<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("stat")?
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 (1-based), after pid and comm.
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let hwm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .context("VmHWM")?
        .trim()
        .trim_end_matches(" kB")
        .parse()?;
    Ok((ticks / 100.0, hwm_kb * 1024))
}

/// `GHSTATS_BIN`, or the `ghstats` next to this program.
fn ghstats_binary() -> Result<PathBuf> {
    let bin = match std::env::var_os("GHSTATS_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => std::env::current_exe()?.with_file_name("ghstats"),
    };
    if !bin.exists() {
        bail!(
            "{} not found: cargo build --release -p ghstats-standalone",
            bin.display()
        );
    }
    Ok(bin)
}

struct Scraper {
    child: Child,
    grpc: u16,
}

impl Drop for Scraper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_ghstats(sim: &Simulator, dir: &Path, split: Option<&str>) -> Result<Scraper> {
    let token = dir.join("token");
    std::fs::write(&token, DEMO_TOKEN)?;
    let admin = dir.join("admin");
    std::fs::write(&admin, ADMIN_TOKEN)?;
    let mut yaml = format!(
        "server:\n  log_level: warn\nservices:\n  admin_token_file: {}\ngithub:\n  orgs:\n",
        admin.display()
    );
    for (org, _) in sim.installations() {
        yaml += &format!(
            "    - org: {org}\n      token_file: {}\n      api_base_url: {}\n      scrape_interval: 24h\n",
            token.display(),
            sim.api_base()
        );
    }
    if let Some(prefix) = split {
        // No broker: a scrape needs none unless it asks for a backfill.
        yaml += &format!(
            "store:\n  backend: redis\n  redis_addr: 127.0.0.1:6379\n  key_prefix: \"{prefix}\"\n\
             leader_election:\n  backend: redis\n  lease_name: {prefix}lease\n\
             amqp:\n  url: amqp://guest:guest@127.0.0.1:{}/%2f\n",
            spare_port()
        );
    }
    let config = dir.join("config.yaml");
    std::fs::write(&config, yaml)?;
    let grpc = spare_port();
    let mut cmd = Command::new(ghstats_binary()?);
    if split.is_some() {
        cmd.arg("scheduler");
    }
    cmd.args(["--config", config.to_str().context("path")?])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("ghstats.log"))?);
    for service in ["GATEWAY", "WORKER", "SCHEDULER"] {
        cmd.env(
            format!("GHSTATS__SERVICES__{service}__GRPC_LISTEN_ADDR"),
            format!(
                "127.0.0.1:{}",
                if service == "SCHEDULER" {
                    grpc
                } else {
                    spare_port()
                }
            ),
        );
    }
    cmd.env(
        "GHSTATS__SERVER__LISTEN_ADDR",
        format!("127.0.0.1:{}", spare_port()),
    );
    for service in ["WORKER", "SCHEDULER"] {
        cmd.env(
            format!("GHSTATS__SERVICES__{service}__HTTP_LISTEN_ADDR"),
            format!("127.0.0.1:{}", spare_port()),
        );
    }
    Ok(Scraper {
        child: cmd.spawn()?,
        grpc,
    })
}

type Client = SchedulerClient<tonic::transport::Channel>;

async fn connect(grpc: u16) -> Result<Client> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match SchedulerClient::connect(format!("http://127.0.0.1:{grpc}")).await {
            Ok(c) => return Ok(c),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => bail!("scheduler gRPC: {e}"),
        }
    }
}

/// The last run time of every org (seconds), empty before the first.
async fn last_runs(client: &mut Client) -> Result<HashMap<String, i64>> {
    let status = client
        .get_status(GetSchedulerStatusRequest {})
        .await?
        .into_inner();
    Ok(status
        .orgs
        .into_iter()
        .filter_map(|o| Some((o.org, o.last_run_at?)))
        .map(|(org, t)| (org, t.seconds * 1_000_000_000 + i64::from(t.nanos)))
        .collect())
}

/// Waits until every org ran after `before` (or ran at all).
async fn wait_for_cycle(
    client: &mut Client,
    orgs: usize,
    before: &HashMap<String, i64>,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let now = last_runs(client).await?;
        if now.len() == orgs && now.iter().all(|(org, t)| before.get(org) != Some(t)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("a cycle did not finish in 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn trigger(client: &mut Client, sim: &Simulator) -> Result<HashMap<String, i64>> {
    let before = last_runs(client).await?;
    for (org, _) in sim.installations() {
        let mut req = tonic::Request::new(TriggerScrapeRequest { org });
        req.metadata_mut()
            .insert("authorization", format!("Bearer {ADMIN_TOKEN}").parse()?);
        client.trigger_scrape(req).await?;
    }
    Ok(before)
}

/// The baseline: GETs the paths it reads on stdin with `If-None-Match`
/// from its own map, drops the bodies, answers `done` after each empty
/// line.
fn minimal_client(api: &str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let http = reqwest::Client::new();
    let etags: Arc<std::sync::Mutex<HashMap<String, String>>> = Arc::default();
    let origin = api
        .trim_end_matches('/')
        .rsplit_once("//")
        .map_or(api, |(_, h)| h);
    let origin = format!("http://{}", origin.split('/').next().unwrap_or(origin));
    let mut batch = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if !line.is_empty() {
            batch.push(line);
            continue;
        }
        rt.block_on(async {
            use futures::StreamExt;
            futures::stream::iter(std::mem::take(&mut batch))
                .for_each_concurrent(8, |path| {
                    let (http, etags, origin) = (http.clone(), etags.clone(), origin.clone());
                    async move {
                        let known = etags
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get(&path)
                            .cloned();
                        let mut req = http
                            .get(format!("{origin}{path}"))
                            .header("authorization", format!("token {DEMO_TOKEN}"));
                        if let Some(tag) = known {
                            req = req.header("if-none-match", tag);
                        }
                        if let Ok(resp) = req.send().await {
                            if let Some(tag) =
                                resp.headers().get("etag").and_then(|v| v.to_str().ok())
                            {
                                etags
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .insert(path, tag.to_owned());
                            }
                            let _ = resp.bytes().await;
                        }
                    }
                })
                .await;
        });
        println!("done");
        std::io::stdout().flush()?;
    }
    Ok(())
}

struct Baseline {
    child: Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Baseline {
    fn start(api: &str) -> Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--minimal-client", api])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let out = std::io::BufReader::new(child.stdout.take().context("stdout")?);
        Ok(Self { child, out })
    }

    /// Replays `paths`; returns its CPU seconds.
    fn replay(&mut self, paths: &[String]) -> Result<f64> {
        let (cpu0, _) = usage(self.child.id())?;
        let stdin = self.child.stdin.as_mut().context("stdin")?;
        for p in paths {
            writeln!(stdin, "{p}")?;
        }
        writeln!(stdin)?;
        stdin.flush()?;
        let mut line = String::new();
        self.out.read_line(&mut line)?;
        Ok(usage(self.child.id())?.0 - cpu0)
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_cli(args: &[&str]) -> Result<String> {
    let out = Command::new("redis-cli").args(args).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn redis_used_memory() -> Result<u64> {
    let info = redis_cli(&["info", "memory"])?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .context("used_memory")?
        .trim()
        .parse()
        .context("used_memory")
}

/// Sums `MEMORY USAGE` of the keys under `prefix` by kind (the name after
/// the prefix up to its first `:`): kind, keys, bytes.
const MEMORY_BY_KIND: &str = r#"
local cursor, bytes, keys = "0", {}, {}
repeat
  local r = redis.call("SCAN", cursor, "MATCH", ARGV[1] .. "*", "COUNT", 1000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    local kind = string.match(string.sub(k, #ARGV[1] + 1), "^[^:]+")
    bytes[kind] = (bytes[kind] or 0) + (redis.call("MEMORY", "USAGE", k, "SAMPLES", "0") or 0)
    keys[kind] = (keys[kind] or 0) + 1
  end
until cursor == "0"
local out = {}
for kind, b in pairs(bytes) do
  table.insert(out, kind .. " " .. keys[kind] .. " " .. b)
end
return out
"#;

fn redis_memory_by_kind(prefix: &str) -> Result<Vec<(String, u64, u64)>> {
    let out = redis_cli(&["eval", MEMORY_BY_KIND, "0", prefix])?;
    let mut kinds: Vec<(String, u64, u64)> = out
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((
                f.next()?.to_owned(),
                f.next()?.parse().ok()?,
                f.next()?.parse().ok()?,
            ))
        })
        .collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.2));
    Ok(kinds)
}

/// Kinds of keys that are the series and their stored events; the rest is
/// per-repository state (validators, marks, LOC state, checkpoints).
const SERIES_AND_EVENTS: &[&str] = &[
    "series",
    "seen",
    "series_count",
    "changes",
    "events",
    "eventusers",
    "active",
    "activity",
    "locusers",
];

fn redis_drop(prefix: &str) -> Result<()> {
    let keys = redis_cli(&[
        "--scan",
        "--pattern",
        &format!("{prefix}*"),
        "--count",
        "1000",
    ])?;
    let keys: Vec<&str> = keys.lines().collect();
    for chunk in keys.chunks(500) {
        let mut args = vec!["unlink"];
        args.extend(chunk);
        redis_cli(&args)?;
    }
    Ok(())
}

async fn run(repos: u32, orgs: u32, split: bool) -> Result<()> {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim = Simulator::start(
        SimConfig {
            world: WorldSpec {
                orgs,
                repos_per_org: repos / orgs,
                users: 30,
                days: 3,
                special_repos: false,
                ..WorldSpec::default()
            },
            rate_limit: Some(1_000_000_000),
            ..SimConfig::default()
        },
        listener,
        &shutdown,
    )?;
    let repos = repos / orgs * orgs;
    let dir = tempfile::tempdir()?;
    let prefix = format!("bench:scale:{}:", std::process::id());
    let redis_before = if split { redis_used_memory()? } else { 0 };
    let spawned = Instant::now();
    let ghstats = start_ghstats(&sim, dir.path(), split.then_some(prefix.as_str()))?;
    let pid = ghstats.child.id();
    let mut client = connect(ghstats.grpc).await?;
    let mut baseline = Baseline::start(sim.api_base())?;
    println!(
        "{repos} repositories over {orgs} orgs, {} ({})",
        if split {
            "ghstats scheduler on Redis"
        } else {
            "all-in-one ghstats"
        },
        sim.api_base()
    );
    println!(
        "{:<10} {:>8} {:>9} {:>8} {:>14} {:>14} {:>10} {:>9}",
        "cycle",
        "wall s",
        "counted",
        "free",
        "ghstats µs/repo",
        "minimal µs/repo",
        "ratio",
        "peak MB"
    );
    let mut before = HashMap::new();
    for cycle in ["cold", "warm-up", "unchanged", "5% changed"] {
        match cycle {
            "cold" => {}
            "warm-up" => {
                // Contributor stats answer 202 first; asked again after 30 s.
                tokio::time::sleep(Duration::from_secs(31)).await;
                before = trigger(&mut client, &sim).await?;
            }
            "5% changed" => {
                let world: Vec<(String, u64)> = sim.installations();
                let per_org = (repos / orgs) as usize;
                let changed = (repos as usize / 20).max(1);
                for i in 0..changed {
                    let (org, _) = &world[i % world.len()];
                    let repo = format!("repo-{:03}", (i / world.len()) % per_org);
                    let kind = ["commit", "pull", "comment"][i % 3];
                    sim.add_activity(org, &repo, kind)?;
                }
                before = trigger(&mut client, &sim).await?;
            }
            _ => before = trigger(&mut client, &sim).await?,
        }
        // The cold cycle starts with the process, the others at their trigger.
        let (cpu0, started) = if cycle == "cold" {
            (0.0, spawned)
        } else {
            (usage(pid)?.0, Instant::now())
        };
        wait_for_cycle(&mut client, orgs as usize, &before).await?;
        let wall = started.elapsed().as_secs_f64();
        let (cpu1, peak) = usage(pid)?;
        let log = sim.requests();
        sim.clear_requests();
        let counted = log.iter().filter(|r| r.counted).count();
        let free = log.len() - counted;
        let paths: Vec<String> = log
            .iter()
            .filter(|r| r.method == "GET")
            .map(|r| r.path.clone())
            .collect();
        let minimal = baseline.replay(&paths)?;
        sim.clear_requests();
        let per = |cpu: f64| cpu * 1e6 / f64::from(repos);
        println!(
            "{cycle:<10} {wall:>8.1} {counted:>9} {free:>8} {:>14.0} {:>14.0} {:>9.2}x {:>9.0}",
            per(cpu1 - cpu0),
            per(minimal),
            (cpu1 - cpu0) / minimal.max(1e-9),
            peak as f64 / 1e6
        );
        before = last_runs(&mut client).await?;
    }
    if split {
        let used = redis_used_memory()?.saturating_sub(redis_before);
        let series: u64 = redis_cli(&["get", &format!("{prefix}series_count")])?
            .trim()
            .parse()
            .unwrap_or(0);
        println!(
            "Redis used_memory grew {:.1} MB: {:.0} bytes per repository, {series} series",
            used as f64 / 1e6,
            used as f64 / f64::from(repos)
        );
        println!(
            "{:<14} {:>8} {:>12} {:>14}",
            "key kind", "keys", "bytes", "bytes/repo"
        );
        let (mut state, mut series_bytes) = (0, 0);
        for (kind, keys, bytes) in redis_memory_by_kind(&prefix)? {
            println!(
                "{kind:<14} {keys:>8} {bytes:>12} {:>14.0}",
                bytes as f64 / f64::from(repos)
            );
            if SERIES_AND_EVENTS.contains(&kind.as_str()) {
                series_bytes += bytes;
            } else {
                state += bytes;
            }
        }
        println!(
            "per-repository state beyond the series and events: {:.0} bytes per repository; series and events: {:.0} bytes per series",
            state as f64 / f64::from(repos),
            series_bytes as f64 / series.max(1) as f64
        );
        drop(ghstats);
        redis_drop(&prefix)?;
    }
    shutdown.trigger();
    Ok(())
}
