//! The conformance suite on the real Redis (127.0.0.1:6379), each case
//! under its own key prefix, removed afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};

use ghstats_store::{RedisAuth, RedisStore, RedisTarget, Store, StoreSettings, conformance};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A prefix no other test (or run) uses.
pub fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test:{test}:{}:{nanos}:{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn redis_store(settings: StoreSettings) -> Box<dyn Store> {
    let settings = StoreSettings {
        prefix: unique_prefix("conformance"),
        ..settings
    };
    let target = RedisTarget::Standalone {
        addr: "127.0.0.1:6379".into(),
        tls: false,
    };
    Box::new(
        RedisStore::connect(&target, &RedisAuth::default(), settings)
            .await
            .unwrap(),
    )
}

async fn delete_prefix(pattern: &str) {
    let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn redis_store_conforms() {
    conformance::run_all(redis_store).await;
    delete_prefix(&format!("test:conformance:{}:*", std::process::id())).await;
}
