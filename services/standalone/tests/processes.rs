//! The three services as separate processes (two schedulers electing over
//! the Redis lease, two workers, two gateways) on a Redis of the test's own
//! (append-only file, so it can be killed and restarted) and the shared
//! RabbitMQ under unique names, against the simulator, through faults: GitHub
//! answering 503 and then secondary rate limits, the leader killed, the
//! leader paused past its lease, Redis killed and restarted from its
//! append-only file, a worker killed with a backlog of slow jobs. At the end
//! every value of the activity families equals the simulator's truth, both
//! gateways serve byte-identical bodies with those values, and every dead
//! letter (if any) is a window that failed during the injected outage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DurationRound, Utc};
use ghstats_core::Shutdown;
use ghstats_queue::{JobQueue, RabbitQueue, Topology};
use ghstats_simulator::{FaultRule, TruthOptions};
use ghstats_store::{Family, RedisAuth, RedisStore, RedisTarget, Store, StoreSettings};
use ghstats_testkit::{Gauges, loc_truth, spare_port, unique};

/// A child process, killed when dropped.
struct Proc {
    child: Child,
    name: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {sig} {}", self.name);
    }
}

struct Service {
    proc: Proc,
    http: u16,
}

/// Runs one service (`scheduler`, `worker`, `gateway`) as its own process:
/// `ghstats <service>` runs exactly what the service's binary runs.
fn service(
    section: &str,
    name: &str,
    config: &Path,
    logs: &Path,
    env: &[(&str, String)],
) -> Service {
    let http = spare_port();
    let grpc = spare_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ghstats"));
    cmd.args([section, "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(logs.join(format!("{name}.log"))).unwrap());
    if section == "gateway" {
        cmd.env("GHSTATS__SERVER__LISTEN_ADDR", format!("127.0.0.1:{http}"));
    } else {
        cmd.env(
            format!(
                "GHSTATS__SERVICES__{}__HTTP_LISTEN_ADDR",
                section.to_uppercase()
            ),
            format!("127.0.0.1:{http}"),
        );
    }
    cmd.env(
        format!(
            "GHSTATS__SERVICES__{}__GRPC_LISTEN_ADDR",
            section.to_uppercase()
        ),
        format!("127.0.0.1:{grpc}"),
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    Service {
        proc: Proc {
            child: cmd.spawn().unwrap(),
            name: name.to_owned(),
        },
        http,
    }
}

fn redis_server(port: u16, dir: &Path) -> Proc {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--dir",
            dir.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Proc {
        child,
        name: "redis".into(),
    }
}

async fn get(port: u16, path: &str) -> Option<String> {
    let resp = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    resp.status().is_success().then_some(())?;
    resp.text().await.ok()
}

async fn role(port: u16) -> Option<String> {
    let body = get(port, "/healthz").await?;
    let doc: serde_json::Value = serde_json::from_str(&body).ok()?;
    doc["role"].as_str().map(str::to_owned)
}

/// The index of the one scheduler that leads, once exactly one does.
async fn leader(schedulers: &[&Service], limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let mut leading = Vec::new();
        for (i, s) in schedulers.iter().enumerate() {
            if role(s.http).await.as_deref() == Some("leader") {
                leading.push(i);
            }
        }
        if let [one] = leading[..] {
            return one;
        }
        assert!(Instant::now() < deadline, "no single leader: {leading:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A `/metrics` body without the answering gateway's own family (its
/// refresh duration): the part every gateway serves alike.
fn shared(body: &str) -> String {
    body.lines()
        .filter(|l| !l.contains(ghstats_gateway::cache::REFRESH_DURATION))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// `gh_activity_*_24h{org="..",repo="..",user=".."} v` lines of an
/// exposition, non-zero ones.
fn exposed_24h(body: &str) -> Gauges {
    let mut out = Gauges::new();
    for line in body.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((name, labels)) = series.split_once('{') else {
            continue;
        };
        if !Family::ACTIVITY_24H.iter().any(|f| f.name() == name) {
            continue;
        }
        let labels: BTreeMap<&str, &str> = labels
            .trim_end_matches('}')
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        let v: f64 = value.parse().unwrap();
        if v > 0.0 {
            out.insert(
                (
                    name.to_owned(),
                    labels["org"].to_owned(),
                    labels["repo"].to_owned(),
                    labels["user"].to_owned(),
                ),
                v,
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_processes_survive_every_fault_and_end_equal_to_the_truth() {
    let shutdown = Shutdown::new();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let data = dir.path().join("redis");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let redis_port = spare_port();
    let mut redis = redis_server(redis_port, &data);

    let w = ghstats_testkit::world(&shutdown, "");
    let token = dir.path().join("token");
    std::fs::write(&token, ghstats_simulator::DEMO_TOKEN).unwrap();
    let u = unique("processes");
    let prefix = format!("{u}:");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  log_level: warn\n\
             leader_election:\n  backend: redis\n  lease_name: processes\n  lease_duration: 3s\n  renew_deadline: 2s\n  retry_period: 500ms\n\
             store:\n  redis_addr: 127.0.0.1:{redis_port}\n  key_prefix: \"{prefix}\"\n  metric_refresh_interval: 1s\n\
             amqp:\n  url: {amqp}\n  exchange: {u}.x\n  queue: {u}.jobs\n  dlq: {u}.dlq\n  retry_queue_prefix: {u}.retry\n\
             backfill:\n  requeue_delays: [1s, 2s, 4s]\n  consumer_count: 2\n  coalesce_window: 1m\n\
             retry:\n  max_attempts: 5\n  initial_backoff: 10ms\n  max_backoff: 100ms\n\
             loc:\n  refresh_interval: 1h\n\
             github:\n  unhealthy_failure_threshold: 3\n  unhealthy_cooldown: 5s\n  orgs:\n    - org: org-a\n      token_file: {token}\n      api_base_url: {api}\n      scrape_interval: 2s\n",
            amqp = ghstats_testkit::amqp_url(),
            token = token.display(),
            api = w.sim.api_base(),
        ),
    )
    .unwrap();
    let parsed = ghstats_config::load_file(&config).unwrap();
    let identity = |name: &str| vec![("GHSTATS__LEADER_ELECTION__IDENTITY", name.to_owned())];
    let mut s1 = service("scheduler", "scheduler-1", &config, &logs, &identity("s1"));
    let mut s2 = service("scheduler", "scheduler-2", &config, &logs, &identity("s2"));
    let _w1 = service("worker", "worker-1", &config, &logs, &[]);
    let w2 = service("worker", "worker-2", &config, &logs, &[]);
    let g1 = service("gateway", "gateway-1", &config, &logs, &[]);
    let g2 = service("gateway", "gateway-2", &config, &logs, &[]);
    let mut w1 = Some(_w1);

    let store = RedisStore::connect(
        &RedisTarget::Standalone {
            addr: format!("127.0.0.1:{redis_port}"),
            tls: false,
        },
        &RedisAuth::default(),
        StoreSettings {
            prefix: prefix.clone(),
            ..StoreSettings::from_config(&parsed.store)
        },
    )
    .await
    .unwrap();
    let activity = |n: usize| {
        let repos = w.sim.repo_names("org-a");
        for i in 0..n {
            let repo = &repos[(i * 7 + n) % repos.len()];
            let kind =
                ghstats_simulator::ACTIVITY_KINDS[i % ghstats_simulator::ACTIVITY_KINDS.len()];
            w.sim.add_activity("org-a", repo, kind).unwrap();
        }
    };

    let first = leader(&[&s1, &s2], Duration::from_secs(60)).await;
    // The exporter observes from its first cycle, 24 hours back.
    let started = loop {
        if let Some(r) = w
            .sim
            .requests()
            .into_iter()
            .find(|r| r.endpoint == "list_org_repos")
        {
            break r.at.duration_trunc(chrono::Duration::seconds(1)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // GitHub answers 503 for a while, then secondary rate limits.
    activity(10);
    w.sim.set_fault(FaultRule {
        endpoint: "*".into(),
        status: 503,
        fail_every: 1,
        ..FaultRule::default()
    });
    tokio::time::sleep(Duration::from_secs(8)).await;
    w.sim.clear_faults();
    w.sim.set_fault(FaultRule {
        endpoint: "list_pulls".into(),
        secondary_limit_retry_after_seconds: Some(1),
        fail_next: 4,
        ..FaultRule::default()
    });
    activity(6);
    tokio::time::sleep(Duration::from_secs(4)).await;
    w.sim.clear_faults();

    // The leader is killed; the other takes over; the dead one comes back.
    let schedulers = [&mut s1, &mut s2];
    schedulers[first].proc.signal("-KILL");
    activity(6);
    let other = 1 - first;
    assert_eq!(
        leader(&[&*schedulers[other]], Duration::from_secs(30)).await,
        0,
        "the other scheduler took over"
    );
    let name = if first == 0 { "s1" } else { "s2" };
    *schedulers[first] = service(
        "scheduler",
        &format!("scheduler-{}-again", first + 1),
        &config,
        &logs,
        &identity(name),
    );

    // The new leader is paused past its lease, then resumed.
    schedulers[other].proc.signal("-STOP");
    activity(6);
    tokio::time::sleep(Duration::from_secs(5)).await;
    schedulers[other].proc.signal("-CONT");
    activity(4);

    // Redis is killed, and restarted from its append-only file.
    redis.signal("-KILL");
    drop(redis);
    activity(4);
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis = redis_server(redis_port, &data);
    activity(4);

    // A backlog of slow jobs, and a worker killed in the middle of it.
    w.sim.set_fault(FaultRule {
        endpoint: "list_issue_comments".into(),
        status: 503,
        fail_every: 1,
        ..FaultRule::default()
    });
    activity(8);
    tokio::time::sleep(Duration::from_secs(6)).await;
    w.sim.clear_faults();
    w.sim.set_fault(FaultRule {
        endpoint: "list_issue_comments".into(),
        delay_ms: 1500,
        ..FaultRule::default()
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    if let Some(w1) = w1.take() {
        w1.proc.signal("-KILL");
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    w.sim.clear_faults();
    activity(6);

    // Everything settles: the store, and both gateways, equal the truth.
    let truth = TruthOptions {
        org: Some("org-a".into()),
        include_forks: true,
        observed_since: Some(started - chrono::Duration::hours(24) + chrono::Duration::seconds(1)),
        ..TruthOptions::default()
    };
    let settling = Instant::now();
    // (LOC waits for GitHub to compute stats: rechecks back off to minutes.)
    let deadline = settling + Duration::from_secs(300);
    let mut last = String::new();
    loop {
        let now = Utc::now()
            .duration_trunc(chrono::Duration::seconds(1))
            .unwrap();
        let want_24h = w.sim.expected_24h(now, &truth, |_| true);
        // (Our own connection may still be finding the restarted Redis.)
        let Ok(snapshot) = store.snapshot().await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let of = |families: &[Family]| -> Gauges {
            snapshot
                .series
                .iter()
                .filter(|(k, v)| families.contains(&k.family) && *v > 0.0)
                .map(|(k, v)| {
                    let [org, repo, user] =
                        [&k.labels[0], &k.labels[1], &k.labels[2]].map(Clone::clone);
                    ((k.family.name().to_owned(), org, repo, user), *v)
                })
                .collect()
        };
        let got_24h = of(&Family::ACTIVITY_24H);
        let loc_ok = of(&[Family::LocAddedWeekly, Family::LocRemovedWeekly])
            == loc_truth(&w.sim, now, &truth);
        let since = now - chrono::Duration::hours(24) + chrono::Duration::seconds(1);
        let want_last: Gauges = w
            .sim
            .truth(since, now + chrono::Duration::seconds(1), &truth)
            .into_iter()
            .filter(|r| r.last_event_unixtime > 0)
            .map(|r| {
                let key = (Family::LastEvent.name().to_owned(), r.org, r.repo, r.user);
                (key, r.last_event_unixtime as f64)
            })
            .collect();
        let got_last = of(&[Family::LastEvent]);
        let (b1, b2) = (
            get(g1.http, "/metrics").await,
            get(g2.http, "/metrics").await,
        );
        let gateways_ok = match (&b1, &b2) {
            (Some(a), Some(b)) => shared(a) == shared(b) && exposed_24h(a) == want_24h,
            _ => false,
        };
        if got_24h == want_24h && loc_ok && got_last == want_last && gateways_ok {
            println!(
                "settled to the truth {:.1} s after the last fault (before: {last})",
                settling.elapsed().as_secs_f64()
            );
            break;
        }
        last = format!(
            "24h equal: {}, loc equal: {loc_ok}, last events equal: {}, gateways: {gateways_ok}; 24h diff: {:?}",
            got_24h == want_24h,
            got_last == want_last,
            want_24h
                .iter()
                .filter(|(k, v)| got_24h.get(*k) != Some(v))
                .take(5)
                .collect::<Vec<_>>()
        );
        assert!(
            Instant::now() < deadline,
            "never settled to the truth: {last} (logs in {})",
            logs.display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(role(w2.http).await.is_some(), "the surviving worker serves");

    // Dead letters: only windows that failed during the injected outages.
    let rabbit = RabbitQueue::new(
        ghstats_testkit::amqp_url(),
        Topology::from_config(&parsed.amqp, &parsed.backfill),
        ghstats_testkit::quick_backoff(),
    );
    rabbit.connect().await.unwrap();
    let dead = rabbit.take_dead_letters(1000).await.unwrap();
    for d in &dead {
        assert!(
            d.error.contains("503") || d.error.to_lowercase().contains("rate limit"),
            "an unexplained dead letter: {d:?}"
        );
    }
    println!("dead letters (all from injected outages): {}", dead.len());
    rabbit.delete_topology().await.unwrap();
    drop(redis);
    shutdown.trigger();
}
