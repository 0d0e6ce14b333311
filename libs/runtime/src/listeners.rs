//! The sockets a service serves on, bound before `serve` is called so tests
//! can bind port 0 and read the real address back.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::ServeError;

/// An HTTP and a gRPC listener.
#[derive(Debug)]
pub struct ServiceListeners {
    pub http: TcpListener,
    pub grpc: TcpListener,
}

impl ServiceListeners {
    pub async fn bind(http: SocketAddr, grpc: SocketAddr) -> Result<Self, ServeError> {
        Ok(Self {
            http: bind(http).await?,
            grpc: bind(grpc).await?,
        })
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
