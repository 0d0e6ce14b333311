//! The sockets a service serves on, bound before `serve` is called so tests
//! can bind port 0 and read the real address back.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::ServeError;

/// An HTTP and a gRPC listener, and the worker's webhook listener when
/// bound ahead (tests; else the worker binds `webhooks.listen_addr`).
#[derive(Debug)]
pub struct ServiceListeners {
    pub http: TcpListener,
    pub grpc: TcpListener,
    pub webhook: Option<TcpListener>,
}

impl ServiceListeners {
    pub async fn bind(http: SocketAddr, grpc: SocketAddr) -> Result<Self, ServeError> {
        Ok(Self {
            http: bind(http).await?,
            grpc: bind(grpc).await?,
            webhook: None,
        })
    }

    /// With a webhook listener on `127.0.0.1` and a port chosen by the system.
    pub async fn with_ephemeral_webhook(mut self) -> Result<Self, ServeError> {
        self.webhook = Some(bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?);
        Ok(self)
    }

    /// The webhook listener's address, when bound.
    pub fn webhook_addr(&self) -> Option<SocketAddr> {
        self.webhook.as_ref().map(local)
    }

    /// Both on `127.0.0.1` with ports chosen by the system (tests).
    pub async fn ephemeral() -> Result<Self, ServeError> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::bind(any, any).await
    }

    pub fn http_addr(&self) -> SocketAddr {
        local(&self.http)
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        local(&self.grpc)
    }
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

fn local(l: &TcpListener) -> SocketAddr {
    l.local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}
