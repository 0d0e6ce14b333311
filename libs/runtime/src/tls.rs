//! TLS of gRPC from `services.grpc_tls`: the identity a server presents and
//! the CA its callers verify it with. Files are read once, at start; a
//! missing or unreadable file is an error naming the key.

use std::path::Path;

use ghstats_config::GrpcTlsConfig;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::ServeError;

fn read(key: &'static str, path: Option<&Path>) -> Result<Vec<u8>, ServeError> {
    let path = path.ok_or_else(|| ServeError::task("grpc tls", format!("{key} is not set")))?;
    std::fs::read(path)
        .map_err(|e| ServeError::task("grpc tls", format!("{key} {}: {e}", path.display())))
}

/// The server side, when TLS is enabled.
pub fn server(c: &GrpcTlsConfig) -> Result<Option<ServerTlsConfig>, ServeError> {
    if !c.enabled {
        return Ok(None);
    }
    let cert = read("services.grpc_tls.cert_file", c.cert_file.as_deref())?;
    let key = read("services.grpc_tls.key_file", c.key_file.as_deref())?;
    Ok(Some(
        ServerTlsConfig::new().identity(Identity::from_pem(cert, key)),
    ))
}

/// How callers verify peers, when TLS is enabled.
#[derive(Debug, Clone)]
pub struct PeerTls {
    ca: Certificate,
    server_name: Option<String>,
}

impl PeerTls {
    pub fn from_config(c: &GrpcTlsConfig) -> Result<Option<Self>, ServeError> {
        if !c.enabled {
            return Ok(None);
        }
        let ca = read("services.grpc_tls.ca_file", c.ca_file.as_deref())?;
        Ok(Some(Self {
            ca: Certificate::from_pem(ca),
            server_name: c.server_name.clone().filter(|s| !s.is_empty()),
        }))
    }

    /// The client config for a peer reached under `host`.
    pub fn client(&self, host: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .domain_name(self.server_name.clone().unwrap_or_else(|| host.to_owned()))
    }
}
