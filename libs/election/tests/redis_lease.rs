//! Leader election over the Redis lease, two replicas in one process on
//! the real Redis: exactly one leads; a released lease passes at once; an
//! abandoned one passes after it expires; the old leader's term is fenced.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use ghstats_core::Shutdown;
use ghstats_election::RedisLease;
use ghstats_election::{RoleHooks, Timings, run_election};
use ghstats_store::{
    Family, RedisAuth, RedisStore, RedisTarget, SeriesKey, Store, StoreError, StoreSettings,
    WriteCtx,
};

#[derive(Default)]
struct Recorder {
    /// (replica, term) while leading.
    leading: Mutex<Vec<(String, u64)>>,
    name: String,
}

#[async_trait]
impl RoleHooks for Recorder {
    async fn elected(&self, term: u64, _scope: Shutdown) {
        self.leading.lock().unwrap().push((self.name.clone(), term));
    }
    async fn demoted(&self) {
        self.leading.lock().unwrap().clear();
    }
}

async fn store(prefix: &str) -> Arc<RedisStore> {
    let settings = StoreSettings {
        prefix: prefix.into(),
        shards: 4,
        retention: Duration::from_secs(3600),
        max_series: 1000,
        change_log_len: 1000,
    };
    let target = RedisTarget::Standalone {
        addr: "127.0.0.1:6379".into(),
        tls: false,
    };
    Arc::new(
        RedisStore::connect(&target, &RedisAuth::default(), settings)
            .await
            .unwrap(),
    )
}

const TIMINGS: Timings = Timings {
    retry_period: Duration::from_millis(200),
    renew_deadline: Duration::from_millis(1200),
};
const LEASE: Duration = Duration::from_millis(2000);

fn leader_of(replicas: &[Arc<Recorder>]) -> Vec<(String, u64)> {
    replicas
        .iter()
        .flat_map(|r| r.leading.lock().unwrap().clone())
        .collect()
}

async fn wait_for(replicas: &[Arc<Recorder>], want: &str) -> u64 {
    for _ in 0..400 {
        let leaders = leader_of(replicas);
        assert!(leaders.len() <= 1, "two leaders at once: {leaders:?}");
        if let [(name, term)] = leaders.as_slice()
            && name == want
        {
            return *term;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{want} never led: {:?}", leader_of(replicas));
}

#[tokio::test]
async fn one_leader_handover_and_fencing() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("test:lease:{}:{nanos}:", std::process::id());
    let s = store(&prefix).await;
    let a = Arc::new(Recorder {
        name: "a".into(),
        ..Recorder::default()
    });
    let b = Arc::new(Recorder {
        name: "b".into(),
        ..Recorder::default()
    });
    let replicas = [a.clone(), b.clone()];

    let (stop_a, stop_b) = (Shutdown::new(), Shutdown::new());
    let lease_a = RedisLease::new(s.clone(), "scheduler", "a", LEASE);
    let lease_b = RedisLease::new(s.clone(), "scheduler", "b", LEASE);
    let (ha, sa) = (a.clone(), stop_a.clone());
    let task_a = tokio::spawn(async move { run_election(&lease_a, TIMINGS, &*ha, sa).await });
    let term_a = wait_for(&replicas, "a").await;
    let (hb, sb) = (b.clone(), stop_b.clone());
    let task_b = tokio::spawn(async move { run_election(&lease_b, TIMINGS, &*hb, sb).await });

    // b waits while a renews.
    for _ in 0..10 {
        assert_eq!(leader_of(&replicas), vec![("a".to_owned(), term_a)]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // a shuts down and releases: b leads with a higher term.
    stop_a.trigger();
    task_a.await.unwrap();
    let term_b = wait_for(&replicas, "b").await;
    assert!(term_b > term_a);

    // a's late write under its old term is refused.
    let key = SeriesKey::new(Family::ScrapeDuration, ["org"]);
    let err = s
        .set_gauges(WriteCtx::leader(term_a), &[(key.clone(), 1.0)], Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced { .. }), "{err}");
    s.set_gauges(WriteCtx::leader(term_b), &[(key, 1.0)], Utc::now())
        .await
        .unwrap();

    // b vanishes without releasing: after the lease expires a new
    // replica takes over.
    task_b.abort();
    let c = Arc::new(Recorder {
        name: "c".into(),
        ..Recorder::default()
    });
    let lease_c = RedisLease::new(s.clone(), "scheduler", "c", LEASE);
    let stop_c = Shutdown::new();
    let (hc, sc) = (c.clone(), stop_c.clone());
    let task_c = tokio::spawn(async move { run_election(&lease_c, TIMINGS, &*hc, sc).await });
    let term_c = wait_for(std::slice::from_ref(&c), "c").await;
    assert!(term_c > term_b);
    stop_c.trigger();
    task_c.await.unwrap();
    stop_b.trigger();
    s.delete_all_keys().await.unwrap();
}
