//! One span and one log line per request (method, route, status, latency, request id) and the
//! request metrics. Only the path is recorded, never the query string: it may carry a token.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics::Metrics;

pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The route pattern that answered, carried from the router to the outer layers.
#[derive(Clone, Debug)]
struct RouteTag(MatchedPath);

/// Runs inside routing (as a route layer), where the matched path is known.
pub async fn tag_route(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(matched) = matched {
        response.extensions_mut().insert(RouteTag(matched));
    }
    response
}

/// Paths that orchestrators poll: logged at debug so they do not drown the rest.
const QUIET: &[&str] = &["/health", "/ready", "/metrics"];

pub async fn observe(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id =
        request.headers().get(&REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let span = tracing::info_span!("request", %method, path = %path, request_id = %request_id);
    let response = next.run(request).instrument(span.clone()).await;

    let elapsed = start.elapsed();
    let route = response
        .extensions()
        .get::<RouteTag>()
        .map(|t| t.0.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let status = response.status().as_u16();
    metrics.observe_request(method.as_str(), &route, status, elapsed);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if QUIET.contains(&path.as_str()) && status < 500 {
            tracing::debug!(route, status, latency_ms, "request");
        } else {
            tracing::info!(route, status, latency_ms, "request");
        }
    });
    response
}
