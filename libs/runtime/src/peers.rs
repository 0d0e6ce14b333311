//! Reaching the replicas of another service over gRPC: each configured
//! endpoint is resolved to all its addresses (a headless Service name gives
//! every pod), and each address is dialled with a deadline, over TLS when
//! `services.grpc_tls` is enabled.

use std::net::SocketAddr;
use std::time::Duration;

use ghstats_config::HttpUrl;
use tonic::transport::{Channel, Endpoint};

use crate::tls::PeerTls;

/// One replica to dial: the endpoint's host name (for TLS) and an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub host: String,
    pub addr: SocketAddr,
}

/// Every address of every endpoint; an endpoint that does not resolve is
/// returned as an error with its URL.
pub async fn resolve(endpoints: &[HttpUrl]) -> Vec<Result<Peer, (String, String)>> {
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
                out.extend(addrs.into_iter().map(|addr| {
                    Ok(Peer {
                        host: host.to_owned(),
                        addr,
                    })
                }));
            }
            Err(err) => out.push(Err((url.to_string(), format!("cannot resolve: {err}")))),
        }
    }
    out
}

/// Why no channel to a peer could be opened.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("bad address: {0}")]
    Address(#[source] tonic::transport::Error),
    #[error("TLS: {0}")]
    Tls(#[source] tonic::transport::Error),
    #[error("cannot connect: {0}")]
    Connect(#[source] tonic::transport::Error),
}

/// A channel to `peer`, connected within `timeout`, whose calls also time
/// out after `timeout`; over TLS when `tls` is given.
pub async fn connect(
    peer: &Peer,
    timeout: Duration,
    tls: Option<&PeerTls>,
) -> Result<Channel, PeerError> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{}", peer.addr))
        .map_err(PeerError::Address)?
        .connect_timeout(timeout)
        .timeout(timeout);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls.client(&peer.host))
            .map_err(PeerError::Tls)?;
    }
    endpoint.connect().await.map_err(PeerError::Connect)
}
