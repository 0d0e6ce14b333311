//! gRPC serving shared by the services: `grpc.health.v1` kept in step with
//! the health registry, and a server that stops on shutdown.

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::server::Router;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::server::HealthReporter;

use crate::ServeError;
use ghstats_core::Shutdown;
use ghstats_core::health::{ComponentStatus, HealthRegistry};

/// A `grpc.health.v1` service reflecting `health`: the empty service name
/// and `ghstats.<service>` serve when the service is ready; each component
/// is `ghstats.<component>`, serving unless starting or unhealthy. Kept in
/// step by the tracked task `grpc_health_sync`.
pub fn health_service(health: &HealthRegistry, shutdown: &Shutdown) -> HealthServer<impl Health> {
    let (reporter, server) = tonic_health::server::health_reporter();
    let health = health.clone();
    let stop = shutdown.clone();
    shutdown.spawn("grpc_health_sync", async move {
        let mut changes = health.subscribe();
        loop {
            publish(&reporter, &health).await;
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                () = stop.triggered() => break,
            }
        }
        Ok::<(), String>(())
    });
    server
}

async fn publish(reporter: &HealthReporter, health: &HealthRegistry) {
    let report = health.report();
    let overall = serving(report.ready);
    reporter.set_service_status("", overall).await;
    reporter
        .set_service_status(format!("ghstats.{}", report.service), overall)
        .await;
    for (name, component) in &report.components {
        let up = !matches!(
            component.status,
            ComponentStatus::Starting | ComponentStatus::Unhealthy
        );
        reporter
            .set_service_status(format!("ghstats.{name}"), serving(up))
            .await;
    }
}

fn serving(up: bool) -> ServingStatus {
    if up {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// Serves `router` on `listener` until the shutdown starts.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let token = shutdown.token().clone();
    router
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            token.cancelled().await
        })
        .await
        .map_err(ServeError::Grpc)
}

/// The one check of admin RPCs: `authorization: Bearer <token>` equal (in
/// constant time) to the configured admin token. Without a configured
/// token, admin RPCs are refused.
#[allow(clippy::result_large_err)]
pub fn require_admin(
    metadata: &tonic::metadata::MetadataMap,
    token: Option<&str>,
) -> Result<(), tonic::Status> {
    use subtle::ConstantTimeEq;
    let Some(expected) = token else {
        return Err(tonic::Status::unauthenticated(
            "admin RPCs are disabled: no services.admin_token_env or admin_token_file is configured",
        ));
    };
    let presented = metadata
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if presented.as_bytes().ct_eq(expected.as_bytes()).into() {
        Ok(())
    } else {
        Err(tonic::Status::unauthenticated(
            "missing or wrong admin token",
        ))
    }
}
