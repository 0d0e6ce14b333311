//! The conformance suite on the real Redis (127.0.0.1:6379), each case
//! under its own key prefix, deleted afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ghstats_store::{RedisAuth, RedisStore, RedisTarget, Store, StoreSettings, conformance};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A prefix no other test (or run) uses.
fn unique_prefix(test: &str) -> String {
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

async fn redis_store(settings: StoreSettings) -> RedisStore {
    let target = RedisTarget::Standalone {
        addr: "127.0.0.1:6379".into(),
        tls: false,
    };
    RedisStore::connect(&target, &RedisAuth::default(), settings)
        .await
        .unwrap()
}

#[tokio::test]
async fn redis_store_conforms() {
    let used: Arc<Mutex<Vec<StoreSettings>>> = Arc::default();
    let record = used.clone();
    conformance::run_all(move |settings| {
        let settings = StoreSettings {
            prefix: unique_prefix("conformance"),
            ..settings
        };
        record.lock().unwrap().push(settings.clone());
        async move { Box::new(redis_store(settings).await) as Box<dyn Store> }
    })
    .await;
    let used: Vec<StoreSettings> = used.lock().unwrap().clone();
    for settings in used {
        redis_store(settings).await.delete_all_keys().await.unwrap();
    }
}
