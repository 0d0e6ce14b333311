//! The conformance suite on the memory backend.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ghstats_store::{MemoryStore, Store, conformance};

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run_all(|settings| async move {
        Box::new(MemoryStore::new(settings)) as Box<dyn Store>
    })
    .await;
}
