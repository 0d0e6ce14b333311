//! What the simulator's own tests share: a simulator on a spare port, and
//! authenticated GETs of its API.

use ghstats_core::Shutdown;
use ghstats_simulator::{DEMO_TOKEN, SimConfig, Simulator};
use serde_json::Value;

/// A default simulator; keep the shutdown alive while using it.
pub async fn start() -> (Simulator, Shutdown) {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    (
        Simulator::start(SimConfig::default(), listener, &shutdown).unwrap(),
        shutdown,
    )
}

/// GET `path` with the demo token: status and JSON body (null if none).
pub async fn fetch(sim: &Simulator, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", sim.api_base()))
        .header("authorization", format!("token {DEMO_TOKEN}"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}
