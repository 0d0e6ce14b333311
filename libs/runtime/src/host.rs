//! Hosts one service: its HTTP router (health, process metrics, the
//! service's own routes, a short 404) and its gRPC server (health plus the
//! service's own services), both stopped by the same shutdown.

use std::sync::Arc;

use axum::Router;
use tonic::service::RoutesBuilder;

use crate::process_metrics::ProcessMetrics;
use crate::{ServeError, ServiceListeners, grpc, http};
use ghstats_core::Shutdown;
use ghstats_core::health::{HealthRegistry, Readiness};

/// What a service adds to the common endpoints.
#[derive(Debug)]
pub struct ServiceHost {
    pub name: &'static str,
    pub health: HealthRegistry,
    pub metrics: ProcessMetrics,
    /// Where the process metrics are served (`/metrics`, or
    /// `/metrics/process` on the gateway, whose `/metrics` is the product).
    pub metrics_path: &'static str,
    pub http: Router,
    pub grpc: RoutesBuilder,
    /// Set by [`ServiceHost::use_grpc_tls`].
    grpc_tls: Option<tonic::transport::ServerTlsConfig>,
}

impl ServiceHost {
    pub fn new(name: &'static str, metrics_path: &'static str) -> Self {
        Self {
            name,
            health: HealthRegistry::new(name),
            metrics: ProcessMetrics::new(name),
            metrics_path,
            http: Router::new(),
            grpc: RoutesBuilder::default(),
            grpc_tls: None,
        }
    }

    /// Serves gRPC over TLS when `services.grpc_tls` says so.
    pub fn use_grpc_tls(
        &mut self,
        config: &ghstats_config::GrpcTlsConfig,
    ) -> Result<(), ServeError> {
        self.grpc_tls = crate::tls::server(config)?;
        Ok(())
    }

    /// Serves until the shutdown starts or a server fails (which starts it).
    pub async fn serve(
        self,
        listeners: ServiceListeners,
        shutdown: Shutdown,
    ) -> Result<(), ServeError> {
        let Self {
            name,
            health,
            metrics,
            metrics_path,
            http,
            mut grpc,
            grpc_tls,
        } = self;
        health.register("http_server", Readiness::Required);
        health.register("grpc_server", Readiness::Required);
        grpc.add_service(grpc::health_service(&health, &shutdown));
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = grpc_tls {
            server = server
                .tls_config(tls)
                .map_err(|e| ServeError::task("grpc tls", e))?;
        }
        let grpc_router = server.add_routes(grpc.routes());
        let http_router = http::with_fallback(
            http.merge(http::health_routes(health.clone()))
                .merge(http::process_metrics_route(metrics_path, Arc::new(metrics))),
        );
        tracing::info!(
            service = name,
            http = %listeners.http_addr(),
            grpc = %listeners.grpc_addr(),
            "serving"
        );
        // The sockets are bound and accepting from here on.
        health.set_healthy("http_server");
        health.set_healthy("grpc_server");
        let result = tokio::try_join!(
            http::serve(listeners.http, http_router, shutdown.clone()),
            grpc::serve(grpc_router, listeners.grpc, shutdown.clone()),
        );
        if result.is_err() {
            shutdown.trigger();
        }
        result.map(|_| ())
    }
}
