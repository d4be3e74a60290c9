//! Operations endpoints: liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::app::state::AppState;
use crate::crypto::constant_time_eq;
use crate::web::error::ApiError;

/// Liveness: the process answers. No I/O, so a slow database never gets the pod killed.
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Readiness: the dependencies answer. 503 takes the replica out of the load balancer.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let database = match tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    };
    let backend = state.chat.assistant.health().await;
    let ready = database.is_ok() && !matches!(backend, Some(Err(_)));
    if let Err(e) = &database {
        tracing::warn!(error = %e, "not ready: database");
    }
    if let Some(Err(e)) = &backend {
        tracing::warn!(error = %e.detail, backend = state.chat.assistant.name(), "not ready: chat backend");
    }
    let mut checks = json!({ "database": if database.is_ok() { "ok" } else { "unavailable" } });
    if let Some(result) = &backend {
        checks["chat_backend"] = json!(if result.is_ok() { "ok" } else { "unavailable" });
    }
    let mut body = json!({ "status": if ready { "ready" } else { "unavailable" }, "checks": checks });
    if let Some(Err(e)) = &backend {
        // Which variable to fix; the details (URLs, what the server said) stay in the log.
        body["reasons"] = json!({ "chat_backend": e.reason });
    }
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

/// Prometheus text. With `METRICS_TOKEN`, only for `Authorization: Bearer <METRICS_TOKEN>` (the
/// figures tell an outsider how busy each course is).
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.config.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !constant_time_eq(presented.trim(), expected.expose_secret()) {
            return ApiError::unauthorized("/metrics needs the METRICS_TOKEN bearer token.").into_response();
        }
    }
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], state.metrics.render()).into_response()
}
