//! The Redis store through Sentinel: the test starts its own master,
//! replica and sentinel on spare ports, fails the master over, and the
//! store keeps writing through the new master without restarting and
//! without losing a write the replica had confirmed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use ghstats_store::{
    Family, RedisAuth, RedisStore, RedisTarget, SeriesKey, Store, StoreSettings, WriteCtx,
};

use ghstats_testkit::spare_port;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis(args: &[&str]) -> Server {
    Server(
        Command::new("redis-server")
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

async fn wait_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {port}");
}

async fn replica_has(port: u16, key: &str, field: &str) -> bool {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let Ok(mut c) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    let v: Option<String> = redis::cmd("HGET")
        .arg(key)
        .arg(field)
        .query_async(&mut c)
        .await
        .unwrap_or(None);
    v.is_some()
}

/// Whether the sentinel lists a healthy replica of `ghstats`.
async fn sentinel_knows_a_replica(port: u16) -> bool {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let Ok(mut c) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    let replicas: Vec<std::collections::HashMap<String, String>> = redis::cmd("SENTINEL")
        .arg("REPLICAS")
        .arg("ghstats")
        .query_async(&mut c)
        .await
        .unwrap_or_default();
    replicas.iter().any(|r| {
        r.get("flags").is_some_and(|f| f == "slave")
            && r.get("master-link-status").is_some_and(|l| l == "ok")
    })
}

#[tokio::test]
async fn writes_continue_after_a_failover() {
    let (m, r, s) = (spare_port(), spare_port(), spare_port());
    let dir = tempfile::tempdir().unwrap();
    let common = ["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"];
    let mut master = Some(redis(
        &[&["--port", &m.to_string()][..], &common[..]].concat(),
    ));
    let _replica = redis(
        &[
            &[
                "--port",
                &r.to_string(),
                "--replicaof",
                "127.0.0.1",
                &m.to_string(),
            ][..],
            &common[..],
        ]
        .concat(),
    );
    wait_port(m).await;
    wait_port(r).await;
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!("port {s}\nbind 127.0.0.1\nsentinel monitor ghstats 127.0.0.1 {m} 1\nsentinel down-after-milliseconds ghstats 400\nsentinel failover-timeout ghstats 2000\n"),
    )
    .unwrap();
    let _sentinel = Server(
        Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(s).await;

    let settings = StoreSettings {
        prefix: "sentinel:".into(),
        shards: 4,
        retention: Duration::from_secs(86400),
        max_series: 1000,
        change_log_len: 1000,
    };
    let target = RedisTarget::Sentinel {
        sentinels: vec![format!("127.0.0.1:{s}")],
        master: "ghstats".into(),
        tls: false,
    };
    let store = RedisStore::connect(&target, &RedisAuth::default(), settings)
        .await
        .unwrap();

    let before = SeriesKey::new(Family::ScrapeDuration, ["before"]);
    store
        .set_gauges(WriteCtx::leader(0), &[(before.clone(), 1.0)], Utc::now())
        .await
        .unwrap();
    // Confirmed: the replica holds it.
    let shard_key = format!(
        "sentinel:series:{}",
        ghstats_store::shard_of(&before.field(), 4)
    );
    let mut replicated = false;
    for _ in 0..200 {
        if replica_has(r, &shard_key, &before.field()).await {
            replicated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(replicated, "the replica never got the write");

    // Sentinel learns replicas from the master's INFO, polled every few
    // seconds: fail over only once it knows one to promote.
    let mut known = false;
    for _ in 0..400 {
        if sentinel_knows_a_replica(s).await {
            known = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(known, "the sentinel never saw the replica");
    drop(master.take()); // kills the master
    let after = SeriesKey::new(Family::ScrapeDuration, ["after"]);
    let mut written = false;
    for _ in 0..300 {
        if store
            .set_gauges(WriteCtx::leader(0), &[(after.clone(), 2.0)], Utc::now())
            .await
            .is_ok()
        {
            written = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(written, "the store never reached the new master");
    let snapshot = store.snapshot().await.unwrap();
    let has = |k: &SeriesKey| snapshot.series.iter().any(|(s, _)| s == k);
    assert!(has(&before), "a confirmed write survived the failover");
    assert!(has(&after));
}
