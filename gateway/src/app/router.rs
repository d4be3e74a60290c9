//! The whole HTTP surface: every feature's routes, the operations endpoints, and the middleware
//! every request passes through. `serve` and the tests build the app with [`app`].

use axum::extract::{FromRef, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use super::middleware::{error_pages, observe};
use super::{ops, pages};
use crate::app::state::AppState;
use crate::chat::{self, ChatState};
use crate::course_index::{self, CourseIndexState};
use crate::identity::{self, IdentityState};
use crate::insights::{self, InsightsState};
use crate::lti::{self, LtiState};
use crate::retirement::{self, RetirementState};
use crate::web::error::{ApiError, PageError};
use crate::web::{cors, widget};

pub use observe::REQUEST_ID_HEADER;

pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(identity::router(IdentityState::from_ref(&state)))
        .merge(lti::router(LtiState::from_ref(&state)))
        .merge(chat::router(ChatState::from_ref(&state)))
        .merge(course_index::router(CourseIndexState::from_ref(&state)))
        .merge(retirement::router(RetirementState::from_ref(&state)))
        .merge(insights::router(InsightsState::from_ref(&state)))
        .merge(widget::router(&state.config))
        .route("/api/v1/info", get(info).layer(cors::allowed_origins(&state.config)))
        .route("/", get(pages::home))
        .route("/health", get(ops::health))
        // No icon: an empty answer instead of an error page in every browser's console.
        .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT }))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .fallback(fallback)
        // Tags each response with its matched route, for the metrics and the request log.
        .route_layer(middleware::from_fn(observe::tag_route))
        // Outermost last: request id → log/metrics → host check → security headers → error pages.
        .layer(middleware::from_fn_with_state(state.clone(), error_pages::render))
        .layer(middleware::from_fn_with_state(state.security.clone(), super::middleware::security_headers::add))
        .layer(middleware::from_fn_with_state(state.security.clone(), super::middleware::allowed_hosts::check))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), observe::observe))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER.clone(), MakeRequestUuid))
        .with_state(state)
}

/// Unknown paths: a JSON error under `/api/`, the error page elsewhere.
async fn fallback(request: Request) -> Response {
    if request.uri().path().starts_with("/api/") {
        ApiError::not_found().into_response()
    } else {
        PageError::not_found().into_response()
    }
}

/// What a client needs to know before it signs in: the version and the doors that are open.
async fn info(State(state): State<AppState>) -> Json<serde_json::Value> {
    let c = &state.config;
    Json(serde_json::json!({
        "name": "ibal-gateway",
        "version": env!("CARGO_PKG_VERSION"),
        "chat_backend": c.chat.backend.name(),
        "ws_url": c.chat.ws_url.as_str(),
        "auth": {
            "openedx": c.openedx.is_some(),
            "local_accounts": c.local_accounts,
        },
    }))
}
