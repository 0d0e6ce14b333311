//! Two scheduler processes electing over the Redis lease: exactly one
//! leads; when it is killed (SIGKILL, no release) the other takes over
//! once the lease expires. When it is paused (SIGSTOP) past its lease the
//! other takes over; resumed (SIGCONT) it steps down, and writes under its
//! old term are refused by the store. Never two leaders scraping: in the
//! simulator's request log (each process names itself in its User-Agent)
//! the processes take turns; a leader paused mid-call delivers at most what
//! it had under way. Takeover times are
//! printed, not asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ghstats_core::Shutdown;
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator};

use ghstats_testkit::spare_port;

fn role_of(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET /healthz HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let json = body.split("\r\n\r\n").nth(1)?;
    let doc: serde_json::Value = serde_json::from_str(json).ok()?;
    doc["role"].as_str().map(str::to_owned)
}

struct Scheduler {
    child: Child,
    http: u16,
    grpc: u16,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &std::path::Path, identity: &str, prefix: &str) -> Scheduler {
    let (http, grpc) = (spare_port(), spare_port());
    let child = Command::new(env!("CARGO_BIN_EXE_ghstats-scheduler"))
        .args(["--config", config.to_str().unwrap()])
        .env("GHSTATS__LEADER_ELECTION__IDENTITY", identity)
        .env("GHSTATS__STORE__KEY_PREFIX", prefix)
        .env(
            "GHSTATS__SERVICES__SCHEDULER__HTTP_LISTEN_ADDR",
            format!("127.0.0.1:{http}"),
        )
        .env(
            "GHSTATS__SERVICES__SCHEDULER__GRPC_LISTEN_ADDR",
            format!("127.0.0.1:{grpc}"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Scheduler { child, http, grpc }
}

/// Waits until exactly one of `schedulers` leads (never two) and returns
/// its HTTP port.
fn one_leader(schedulers: &[&Scheduler]) -> u16 {
    for _ in 0..200 {
        let l = leaders(schedulers);
        assert!(l.len() <= 1, "two leaders at once");
        if let [one] = l[..] {
            return one;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nobody took the lease");
}

fn signal(s: &Scheduler, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig}");
}

/// Polls until `port` reports `role`; the time it took, or `None`.
fn wait_role(port: u16, role: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if role_of(port).as_deref() == Some(role) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn write_config(dir: &std::path::Path, sim: &Simulator) -> std::path::PathBuf {
    let token = dir.join("token");
    std::fs::write(&token, DEMO_TOKEN).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "leader_election:\n  backend: redis\n  lease_name: test\n  lease_duration: 3s\n  renew_deadline: 2s\n  retry_period: 500ms\nstore:\n  redis_addr: 127.0.0.1:6379\ngithub:\n  orgs:\n    - org: org-a\n      token_file: {}\n      api_base_url: {}\n      scrape_interval: 1s\n",
            token.display(),
            sim.api_base()
        ),
    )
    .unwrap();
    config
}

fn unique_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test:election:{}:{nanos}:", std::process::id())
}

async fn store_with(prefix: &str) -> ghstats_store::RedisStore {
    let target = ghstats_store::RedisTarget::Standalone {
        addr: "127.0.0.1:6379".into(),
        tls: false,
    };
    let settings = ghstats_store::StoreSettings {
        prefix: prefix.to_owned(),
        ..ghstats_store::StoreSettings::from_config(&ghstats_config::StoreConfig::default())
    };
    ghstats_store::RedisStore::connect(&target, &ghstats_store::RedisAuth::default(), settings)
        .await
        .unwrap()
}

async fn term_of(grpc: u16) -> u64 {
    use ghstats_proto::v1::GetSchedulerStatusRequest;
    use ghstats_proto::v1::scheduler_control_client::SchedulerControlClient;
    let mut c = SchedulerControlClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();
    c.get_status(GetSchedulerStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .lease_term
}

/// The processes that called GitHub, in the order of their runs of
/// requests; a process that appears twice scraped while another did.
fn reigns(sim: &Simulator) -> Vec<String> {
    let mut log = sim.requests();
    log.sort_by_key(|r| r.at);
    let mut out: Vec<String> = Vec::new();
    for r in log {
        if out.last() != Some(&r.user_agent) {
            out.push(r.user_agent);
        }
    }
    out
}

/// The processes took turns calling GitHub: once a newer process has
/// started, an earlier one sends at most `stragglers` more requests. A
/// leader paused in the middle of a call may still deliver what it had
/// under way when it resumes (at most one request per concurrent
/// repository task), but starts nothing new once its tenure ran out.
fn assert_one_leader_at_a_time(sim: &Simulator, stragglers: usize) {
    let mut log = sim.requests();
    log.sort_by_key(|r| r.at);
    assert!(!log.is_empty(), "somebody scraped");
    let mut started: Vec<String> = Vec::new();
    let mut late: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &log {
        assert!(r.user_agent.starts_with("ghstats/"), "{}", r.user_agent);
        match started.iter().position(|who| *who == r.user_agent) {
            None => started.push(r.user_agent.clone()),
            Some(i) if i + 1 < started.len() => *late.entry(r.user_agent.clone()).or_default() += 1,
            Some(_) => {}
        }
    }
    for (who, n) in &late {
        assert!(
            *n <= stragglers,
            "{who} sent {n} requests after the next leader began (at most {stragglers}): {:?}",
            reigns(sim)
        );
    }
}

fn leaders(schedulers: &[&Scheduler]) -> Vec<u16> {
    schedulers
        .iter()
        .filter(|s| role_of(s.http).as_deref() == Some("leader"))
        .map(|s| s.http)
        .collect()
}

/// Two scheduler processes on one simulator and one key prefix, once one
/// of them leads and the other answers as its follower.
struct Pair {
    shutdown: Shutdown,
    sim: Simulator,
    prefix: String,
    a: Scheduler,
    b: Scheduler,
    /// HTTP port of the one that leads.
    leader: u16,
    _dir: tempfile::TempDir,
}

async fn two_schedulers() -> Pair {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(SimConfig::default(), listener, &shutdown).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim);
    let prefix = unique_prefix();
    let a = start(&config, "a", &prefix);
    let b = start(&config, "b", &prefix);
    let leader = one_leader(&[&a, &b]);
    let follower = if leader == a.http { b.http } else { a.http };
    wait_role(follower, "follower", Duration::from_secs(10))
        .expect("the other scheduler answers as a follower");
    Pair {
        shutdown,
        sim,
        prefix,
        a,
        b,
        leader,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_one_leads_and_the_other_takes_over_after_a_kill() {
    let Pair {
        shutdown,
        sim,
        prefix,
        a,
        b,
        leader,
        _dir,
    } = two_schedulers().await;
    // It stays that way.
    for _ in 0..10 {
        assert_eq!(leaders(&[&a, &b]), vec![leader]);
        std::thread::sleep(Duration::from_millis(100));
    }

    let (mut dead, survivor) = if leader == a.http { (a, b) } else { (b, a) };
    dead.child.kill().unwrap();
    let took = wait_role(survivor.http, "leader", Duration::from_secs(10))
        .expect("the survivor never took over");
    println!(
        "takeover after SIGKILL: {:.2} s (lease_duration 3 s + retry_period 0.5 s)",
        took.as_secs_f64()
    );
    // The survivor scrapes too (1 s interval), then the log is checked.
    std::thread::sleep(Duration::from_millis(2500));
    drop(dead);
    drop(survivor);
    assert_one_leader_at_a_time(&sim, 0);
    assert_eq!(reigns(&sim).len(), 2, "{:?}", reigns(&sim));

    store_with(&prefix).await.delete_all_keys().await.unwrap();
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_leader_is_replaced_steps_down_and_is_fenced() {
    use ghstats_store::{Store, StoreError, WriteCtx};
    let Pair {
        shutdown,
        sim,
        prefix,
        a,
        b,
        leader,
        _dir,
    } = two_schedulers().await;
    let (old, new) = if leader == a.http { (a, b) } else { (b, a) };
    let old_term = term_of(old.grpc).await;
    assert!(old_term > 0);

    signal(&old, "-STOP");
    let took = wait_role(new.http, "leader", Duration::from_secs(15));
    signal(&old, "-CONT");
    let took = took.expect("the other replica never took over from the paused leader");
    println!(
        "takeover from a SIGSTOPped leader: {:.2} s (lease 3 s)",
        took.as_secs_f64()
    );
    let stepped = wait_role(old.http, "follower", Duration::from_secs(10));
    let stepped = stepped.expect("the resumed old leader did not step down");
    println!(
        "the resumed old leader stepped down after {:.2} s",
        stepped.as_secs_f64()
    );
    for _ in 0..20 {
        assert_eq!(
            leaders(&[&old, &new]),
            vec![new.http],
            "one leader after the resume"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let store = store_with(&prefix).await;
    let current = store.current_term().await.unwrap();
    assert!(
        current > old_term,
        "the new leader raised the term ({current} > {old_term})"
    );
    assert_eq!(term_of(new.grpc).await, current);
    let late = store
        .advance_checkpoint(
            WriteCtx::leader(old_term),
            "org-a",
            "repo-000",
            chrono::Utc::now(),
        )
        .await;
    assert!(
        matches!(late, Err(StoreError::Fenced { .. })),
        "a write under the old term is refused: {late:?}"
    );
    drop(old);
    drop(new);
    // Paused mid-cycle, the old leader may deliver the requests it had under
    // way: at most one per concurrent repository task (per_org_concurrency 8).
    assert_one_leader_at_a_time(&sim, 8);
    store.delete_all_keys().await.unwrap();
    shutdown.trigger();
}
