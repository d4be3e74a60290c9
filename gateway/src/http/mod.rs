//! The HTTP surface: `app(state)` builds the whole router, so tests drive it with `oneshot`.

pub mod bearer;
pub mod chat_api;
pub mod client_addr;
pub mod error;
pub mod local_auth;
pub mod lti;
pub mod oauth2;
mod observe;
pub mod openedx_login;
mod ops;
mod pages;
pub mod security;
mod sign_out;
pub mod widget;

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::auth::session_store::DbSessionStore;
use crate::config::Config;
use crate::state::AppState;
use error::{ApiError, PageError};

pub use observe::REQUEST_ID_HEADER;

pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/info", get(info))
        .route("/auth/register", post(local_auth::register))
        .route("/auth/login", post(local_auth::login))
        .route("/auth/logout", post(sign_out::logout))
        .route("/conversations", get(chat_api::list))
        .route("/conversations/{id}", axum::routing::delete(chat_api::delete))
        .route("/conversations/{id}/messages", get(chat_api::messages))
        .route("/messages/{id}/feedback", post(chat_api::feedback))
        .route("/analytics/summary", get(chat_api::analytics))
        .layer(cors(&state.config));

    // Browser sign-in flows keep their state in a server session (cookie: id only).
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name("ibal_session")
        .with_http_only(true)
        .with_secure(state.config.is_https())
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(12)));
    let browser = Router::new()
        .route("/oauth/openedx/login", get(openedx_login::login))
        .route("/oauth/openedx/callback", get(openedx_login::callback))
        .route("/oauth2/authorize", get(oauth2::authorize))
        .route("/oauth2/login", get(oauth2::login_page).post(oauth2::login_submit))
        .route("/oauth2/consent", post(oauth2::consent))
        .layer(sessions);

    // Called cross-origin by the widget and by OAuth clients in browsers.
    let provider = Router::new()
        .route("/oauth2/token", post(oauth2::token))
        .route("/oauth2/userinfo", get(oauth2::userinfo).post(oauth2::userinfo))
        .route("/oauth2/revoke", post(oauth2::revoke))
        .route("/.well-known/jwks.json", get(oauth2::jwks))
        .route("/.well-known/openid-configuration", get(oauth2::discovery))
        .layer(cors(&state.config));

    // Imported cross-origin by the XBlock in the LMS page (module scripts and wasm need CORS).
    let statics = Router::new().route("/static/widget/{version}/{file}", get(widget::serve)).layer(cors(&state.config));

    // LTI 1.3: the platform's browser posts here, from inside its iframe.
    let lti_routes = Router::new()
        .route("/lti/config.json", get(lti::config))
        .route("/lti/login", get(lti::login).post(lti::login))
        .route("/lti/launch", post(lti::launch))
        .route("/lti/launch/verify", post(lti::verify))
        .route("/lti/deep-link", post(lti::deep_link));

    Router::new()
        .merge(browser)
        .merge(lti_routes)
        .merge(statics)
        .merge(provider)
        .route("/", get(pages::home))
        .route("/ws/chat/", get(crate::chat::socket::handler))
        .route("/ws/chat", get(crate::chat::socket::handler))
        .route("/health", get(ops::health))
        // No icon: an empty answer instead of an error page in every browser's console.
        .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT }))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .nest("/api/v1", api)
        .fallback(fallback)
        // Tags each response with its matched route, for the metrics and the request log.
        .route_layer(middleware::from_fn(observe::tag_route))
        // Outermost last: request id → log/metrics → host check → security headers → error pages.
        .layer(middleware::from_fn_with_state(state.clone(), pages::render_error_pages))
        .layer(middleware::from_fn_with_state(state.security.clone(), security::security_headers))
        .layer(middleware::from_fn_with_state(state.security.clone(), security::check_host))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), observe::observe))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER.clone(), MakeRequestUuid))
        .with_state(state)
}

/// CORS for the API: exactly the configured origins, no credentials (the API takes bearer tokens).
fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> =
        config.allowed_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600))
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
async fn info(axum::extract::State(state): axum::extract::State<AppState>) -> Json<serde_json::Value> {
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
