//! `server`, `metrics` and `services`: where each service listens and how
//! the services find each other.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::net::{HttpUrl, ListenAddr};
use crate::ConfigError;
use crate::Duration;
use crate::check::Check;
use crate::secret::SecretSource;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One JSON object per line (default; what log pipelines expect).
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

/// `server`: the gateway's HTTP listener (the one Prometheus scrapes) and
/// process-wide settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// HTTP address of the gateway: `/metrics`, `/livez`, `/readyz`, `/healthz`.
    pub listen_addr: ListenAddr,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    /// How long in-flight work may take to finish after SIGTERM.
    pub shutdown_grace_period: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen_addr: ListenAddr::from_static(":8080"),
            log_level: LogLevel::Info,
            log_format: LogFormat::Json,
            shutdown_grace_period: Duration::from_secs(20),
        }
    }
}

impl ServerConfig {
    pub(crate) fn check(&self, c: &mut Check) {
        c.non_zero("server.shutdown_grace_period", self.shutdown_grace_period);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topology {
    /// Prometheus scrapes one Service in front of every gateway replica.
    SingleServiceTarget,
}

/// `metrics`: how Prometheus reaches the exposition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub topology: Topology,
    /// Informational: the DNS name Prometheus scrapes (shown in `/healthz`).
    pub scrape_service_dns: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            topology: Topology::SingleServiceTarget,
            scrape_service_dns: "github-stats-metrics.github-stats.svc.cluster.local:8080".into(),
        }
    }
}

/// Listeners of the gateway besides `server.listen_addr`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayService {
    pub grpc_listen_addr: ListenAddr,
}

/// Listeners of the scheduler or a worker, and how others reach them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeerService {
    /// HTTP: `/livez`, `/readyz`, `/healthz`, process `/metrics`.
    pub http_listen_addr: ListenAddr,
    pub grpc_listen_addr: ListenAddr,
    /// gRPC endpoints of every replica, as the gateway and the CLI dial them.
    /// In Kubernetes, a headless Service name that resolves to every pod.
    pub endpoints: Vec<HttpUrl>,
}

/// `services`: the three-service split.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServicesConfig {
    pub gateway: GatewayService,
    pub scheduler: PeerService,
    pub worker: PeerService,
    /// Deadline of one status call to a peer.
    pub peer_timeout: Duration,
    /// Environment variable holding the bearer token of admin RPCs.
    pub admin_token_env: Option<String>,
    /// File holding the bearer token of admin RPCs.
    pub admin_token_file: Option<PathBuf>,
    /// TLS of the gRPC servers and of the calls between services.
    pub grpc_tls: GrpcTlsConfig,
}

/// `services.grpc_tls`: every gRPC server presents `cert_file`/`key_file`;
/// callers (the gateway's fleet view, `ghstats ctl`) verify peers against
/// `ca_file`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcTlsConfig {
    pub enabled: bool,
    /// PEM certificate (chain) this service presents.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub key_file: Option<PathBuf>,
    /// PEM CA certificate that signed the peers' certificates.
    pub ca_file: Option<PathBuf>,
    /// Name to verify in peer certificates instead of the endpoint's host.
    pub server_name: Option<String>,
}

impl Default for GatewayService {
    fn default() -> Self {
        Self {
            grpc_listen_addr: ListenAddr::from_static(":9090"),
        }
    }
}

impl PeerService {
    /// The HTTP and gRPC addresses to bind.
    pub fn listen_addrs(&self) -> (std::net::SocketAddr, std::net::SocketAddr) {
        (
            self.http_listen_addr.socket_addr(),
            self.grpc_listen_addr.socket_addr(),
        )
    }

    fn local(http: &'static str, grpc: &'static str, endpoint: &'static str) -> Self {
        Self {
            http_listen_addr: ListenAddr::from_static(http),
            grpc_listen_addr: ListenAddr::from_static(grpc),
            endpoints: vec![HttpUrl::from_static(endpoint)],
        }
    }
}

impl Default for PeerService {
    fn default() -> Self {
        Self::local(":8081", ":9091", "http://127.0.0.1:9091")
    }
}

impl Default for ServicesConfig {
    fn default() -> Self {
        Self {
            gateway: GatewayService::default(),
            scheduler: PeerService::default(),
            worker: PeerService::local(":8082", ":9092", "http://127.0.0.1:9092"),
            peer_timeout: Duration::from_secs(2),
            admin_token_env: None,
            admin_token_file: None,
            grpc_tls: GrpcTlsConfig::default(),
        }
    }
}

impl ServicesConfig {
    /// Where the admin token comes from.
    pub fn admin_token(&self) -> SecretSource {
        SecretSource::choose(
            "admin_token",
            None,
            self.admin_token_env.as_deref(),
            self.admin_token_file.as_ref(),
        )
        .unwrap_or(SecretSource::Unset)
    }

    /// The admin token itself, read from its source; `None` when none is
    /// configured (admin RPCs are then refused).
    pub fn admin_token_value(&self) -> Result<Option<String>, ConfigError> {
        Ok(self
            .admin_token()
            .resolve("services.admin_token")?
            .map(|s| s.expose().to_owned()))
    }

    pub(crate) fn check(&self, c: &mut Check) {
        c.non_zero("services.peer_timeout", self.peer_timeout);
        if let Err(e) = SecretSource::choose(
            "admin_token",
            None,
            self.admin_token_env.as_deref(),
            self.admin_token_file.as_ref(),
        ) {
            c.fail("services.admin_token_env", e.to_string());
        }
        let tls = &self.grpc_tls;
        if tls.enabled {
            for (key, value) in [
                ("services.grpc_tls.cert_file", &tls.cert_file),
                ("services.grpc_tls.key_file", &tls.key_file),
                ("services.grpc_tls.ca_file", &tls.ca_file),
            ] {
                if value.is_none() {
                    c.fail(key, "is required with services.grpc_tls.enabled: true");
                }
            }
        }
    }
}
