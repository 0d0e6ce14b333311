//! `/metrics`: content negotiation (OpenMetrics when asked, Prometheus
//! text otherwise, 406 for formats neither), gzip when accepted, the
//! current exposition's shared bytes, and a bound on concurrent scrapes.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use tower::limit::ConcurrencyLimitLayer;

use crate::cache::{Published, ReplicaBlock};
use crate::render::Format;

/// Concurrent `/metrics` requests served at once; more wait their turn.
pub const MAX_CONCURRENT_SCRAPES: usize = 32;

#[derive(Debug, Clone)]
pub struct MetricsState {
    pub published: Published,
    /// This gateway's own block (its refresh duration).
    pub replica: ReplicaBlock,
}

pub fn routes(state: MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .layer(ConcurrencyLimitLayer::new(MAX_CONCURRENT_SCRAPES))
        .with_state(state)
}

/// The format an `Accept` header asks for, if one we serve.
pub fn negotiate(accept: Option<&str>) -> Option<Format> {
    let Some(accept) = accept.map(str::to_ascii_lowercase) else {
        return Some(Format::Text);
    };
    if accept.trim().is_empty() {
        return Some(Format::Text);
    }
    if accept.contains("application/openmetrics-text") {
        Some(Format::OpenMetrics)
    } else if accept.contains("text/plain") || accept.contains("*/*") || accept.contains("text/*") {
        Some(Format::Text)
    } else {
        None
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|e| {
                e.split(';')
                    .next()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case("gzip"))
            })
        })
}

async fn metrics(State(state): State<MetricsState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let Some(format) = negotiate(accept) else {
        return (
            StatusCode::NOT_ACCEPTABLE,
            "serves application/openmetrics-text or text/plain\n",
        )
            .into_response();
    };
    let exposition = state.published.current();
    // Nothing published yet: the first load has not finished.
    if exposition.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics cache not loaded yet\n",
        )
            .into_response();
    }
    let replica = state.replica.current();
    let (parts, gzip) = exposition.body_with(format, accepts_gzip(&headers), replica.as_deref());
    let length: usize = parts.iter().map(Bytes::len).sum();
    let body = Body::from_stream(futures::stream::iter(
        parts.into_iter().map(Ok::<_, std::convert::Infallible>),
    ));
    let mut resp = ([(header::CONTENT_TYPE, format.content_type())], body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, header::HeaderValue::from(length));
    resp.headers_mut().insert(
        header::VARY,
        header::HeaderValue::from_static("accept, accept-encoding"),
    );
    if gzip {
        resp.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_like_prometheus_expects() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prometheus)), Some(Format::OpenMetrics));
        assert_eq!(negotiate(None), Some(Format::Text));
        assert_eq!(negotiate(Some("text/plain")), Some(Format::Text));
        assert_eq!(negotiate(Some("*/*")), Some(Format::Text));
        assert_eq!(negotiate(Some("image/png")), None);
    }
}
