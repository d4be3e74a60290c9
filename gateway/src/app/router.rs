//! The HTTP surface: `app(state)` builds the whole router, so tests drive it with `oneshot`.

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

use crate::app::state::AppState;
use crate::config::Config;
use crate::identity::session_store::DbSessionStore;
use crate::web::error::{ApiError, PageError};

pub use super::middleware::observe::REQUEST_ID_HEADER;

pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/info", get(info))
        .route("/auth/register", post(crate::identity::local::register))
        .route("/auth/login", post(crate::identity::local::login))
        .route("/auth/logout", post(crate::identity::sign_out::logout))
        .route("/conversations", get(crate::chat::api::list))
        .route("/conversations/{id}", axum::routing::delete(crate::chat::api::delete))
        .route("/conversations/{id}/messages", get(crate::chat::api::messages))
        .route("/messages/{id}/feedback", post(crate::chat::api::feedback))
        .route("/analytics/summary", get(crate::chat::api::analytics))
        .layer(cors(&state.config));

    // Browser sign-in flows keep their state in a server session (cookie: id only).
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name("ibal_session")
        .with_http_only(true)
        .with_secure(state.config.is_https())
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(12)));
    let browser = Router::new()
        .route("/oauth/openedx/login", get(crate::identity::openedx::popup::login))
        .route("/oauth/openedx/callback", get(crate::identity::openedx::popup::callback))
        .route("/oauth2/authorize", get(crate::identity::provider::authorize))
        .route(
            "/oauth2/login",
            get(crate::identity::provider::login_page).post(crate::identity::provider::login_submit),
        )
        .route("/oauth2/consent", post(crate::identity::provider::consent))
        .layer(sessions);

    // Called cross-origin by the widget and by OAuth clients in browsers.
    let provider = Router::new()
        .route("/oauth2/token", post(crate::identity::provider::token))
        .route("/oauth2/userinfo", get(crate::identity::provider::userinfo).post(crate::identity::provider::userinfo))
        .route("/oauth2/revoke", post(crate::identity::provider::revoke))
        .route("/.well-known/jwks.json", get(crate::identity::provider::jwks))
        .route("/.well-known/openid-configuration", get(crate::identity::provider::discovery))
        .layer(cors(&state.config));

    // Imported cross-origin by the XBlock in the LMS page (module scripts and wasm need CORS).
    let statics = Router::new()
        .route("/static/widget/{version}/{file}", get(crate::web::widget::serve))
        .layer(cors(&state.config));

    // LTI 1.3: the platform's browser posts here, from inside its iframe.
    let lti_routes = Router::new()
        .route("/lti/config.json", get(crate::lti::routes::config))
        .route("/lti/login", get(crate::lti::routes::login).post(crate::lti::routes::login))
        .route("/lti/launch", post(crate::lti::routes::launch))
        .route("/lti/launch/verify", post(crate::lti::routes::verify))
        .route("/lti/deep-link", post(crate::lti::routes::deep_link));

    Router::new()
        .merge(browser)
        .merge(lti_routes)
        .merge(statics)
        .merge(provider)
        .route("/", get(super::pages::home))
        .route("/ws/chat/", get(crate::chat::socket::handler))
        .route("/ws/chat", get(crate::chat::socket::handler))
        .route("/health", get(super::ops::health))
        // No icon: an empty answer instead of an error page in every browser's console.
        .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT }))
        .route("/ready", get(super::ops::ready))
        .route("/metrics", get(super::ops::metrics))
        .nest("/api/v1", api)
        .fallback(fallback)
        // Tags each response with its matched route, for the metrics and the request log.
        .route_layer(middleware::from_fn(super::middleware::observe::tag_route))
        // Outermost last: request id → log/metrics → host check → security headers → error pages.
        .layer(middleware::from_fn_with_state(state.clone(), super::pages::render_error_pages))
        .layer(middleware::from_fn_with_state(state.security.clone(), crate::web::security::security_headers))
        .layer(middleware::from_fn_with_state(state.security.clone(), crate::web::security::check_host))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), super::middleware::observe::observe))
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
