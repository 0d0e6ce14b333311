//! Hosts one service: its HTTP router (health, process metrics, the
//! service's own routes, a short 404) and its gRPC server (health plus the
//! service's own services), both stopped by the same shutdown.

use std::sync::Arc;

use axum::Router;
use tonic::service::RoutesBuilder;

use crate::health::{HealthRegistry, Readiness};
use crate::process_metrics::ProcessMetrics;
use crate::{ServeError, ServiceListeners, Shutdown, grpc, http};

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
        }
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
        } = self;
        health.register("http_server", Readiness::Required);
        health.register("grpc_server", Readiness::Required);
        grpc.add_service(grpc::health_service(&health, &shutdown));
        let grpc_router = tonic::transport::Server::builder().add_routes(grpc.routes());
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
