//! HTTP serving shared by the services: the health endpoints, the process
//! metrics endpoint, a short 404 for everything else, graceful shutdown.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::ServeError;
use crate::process_metrics::ProcessMetrics;
use ghstats_core::Shutdown;
use ghstats_core::health::HealthRegistry;

/// `/livez`, `/readyz` and `/healthz` over `health`.
pub fn health_routes(health: HealthRegistry) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/healthz", get(healthz))
        .with_state(health)
}

async fn readyz(State(health): State<HealthRegistry>) -> Response {
    let report = health.report();
    if report.ready {
        return (StatusCode::OK, "ready\n").into_response();
    }
    let blocking: Vec<String> = report
        .components
        .iter()
        .filter(|(_, c)| c.status != ghstats_core::ComponentStatus::Healthy)
        .map(|(name, c)| format!("{name}: {}", c.reason))
        .collect();
    let body = format!("not ready: {}\n", blocking.join("; "));
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

#[derive(Debug, serde::Deserialize)]
struct HealthQuery {
    full: Option<String>,
}

/// `/healthz`, and with `?full=1` the fleet view where the service has one.
async fn healthz(
    State(health): State<HealthRegistry>,
    Query(q): Query<HealthQuery>,
) -> Json<ghstats_core::health::HealthReport> {
    let full = q.full.as_deref().is_some_and(|f| f == "1" || f == "true");
    Json(if full {
        health.full_report().await
    } else {
        health.report()
    })
}

/// The service's own process metrics at `path`.
pub fn process_metrics_route(path: &str, metrics: Arc<ProcessMetrics>) -> Router {
    Router::new()
        .route(path, get(render_process_metrics))
        .with_state(metrics)
}

async fn render_process_metrics(State(metrics): State<Arc<ProcessMetrics>>) -> Response {
    match metrics.render() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render metrics: {e}\n"),
        )
            .into_response(),
    }
}

/// Adds the short 404 every service answers unknown paths with.
pub fn with_fallback(router: Router) -> Router {
    router.fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
}

/// Serves `router` on `listener` until the shutdown starts.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let token = shutdown.token().clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { token.cancelled().await })
        .await
        .map_err(ServeError::Http)
}
