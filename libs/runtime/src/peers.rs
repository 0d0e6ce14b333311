//! Reaching the replicas of another service over gRPC: each configured
//! endpoint is resolved to all its addresses (a headless Service name gives
//! every pod), and each address is dialled with a deadline.

use std::net::SocketAddr;
use std::time::Duration;

use ghstats_config::HttpUrl;
use tonic::transport::{Channel, Endpoint};

/// Every address of every endpoint; an endpoint that does not resolve is
/// returned as an error with its URL.
pub async fn resolve(endpoints: &[HttpUrl]) -> Vec<Result<SocketAddr, (String, String)>> {
    let mut out = Vec::new();
    for e in endpoints {
        let url = e.url();
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            out.push(Err((url.to_string(), "no host or port".to_owned())));
            continue;
        };
        match tokio::net::lookup_host((host, port)).await {
            Ok(addrs) => {
                let mut addrs: Vec<_> = addrs.collect();
                addrs.sort();
                addrs.dedup();
                out.extend(addrs.into_iter().map(Ok));
            }
            Err(err) => out.push(Err((url.to_string(), format!("cannot resolve: {err}")))),
        }
    }
    out
}

/// A channel to `addr`, connected within `timeout`, whose calls also time
/// out after `timeout`.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Channel, String> {
    Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect()
        .await
        .map_err(|e| format!("cannot connect: {e}"))
}
