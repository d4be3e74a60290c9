//! Identity: the gateway's signing keys and tokens, Open edX as an identity provider, local
//! passwords and server sessions.

pub mod bearer;
pub mod keys;
pub mod live_logins;
pub mod local;
pub mod openedx;
pub mod passwords;
pub mod provider;
pub mod scopes;
pub mod session_store;
pub mod sign_out;
mod state;
pub mod tokens;

pub use state::{Authenticator, IdentityState};

use axum::Router;
use axum::routing::{get, post};

use crate::web::cors;

/// Every door's routes: the popup sign-in with Open edX, the gateway's own OAuth2/OIDC provider and
/// local accounts, and sign-out.
pub fn router<S: Clone + Send + Sync + 'static>(state: IdentityState) -> Router<S> {
    // Browser sign-in flows keep their state in a server session (cookie: id only).
    let sessions = session_store::layer(state.db.clone(), state.config.is_https());
    let browser = Router::new()
        .route("/oauth/openedx/login", get(openedx::popup::login))
        .route("/oauth/openedx/callback", get(openedx::popup::callback))
        .route("/oauth2/authorize", get(provider::authorize))
        .route("/oauth2/login", get(provider::login_page).post(provider::login_submit))
        .route("/oauth2/consent", post(provider::consent))
        .layer(sessions);
    // Called cross-origin by the widget and by OAuth clients in browsers.
    let cross_origin = Router::new()
        .route("/oauth2/token", post(provider::token))
        .route("/oauth2/userinfo", get(provider::userinfo).post(provider::userinfo))
        .route("/oauth2/revoke", post(provider::revoke))
        .route("/.well-known/jwks.json", get(provider::jwks))
        .route("/.well-known/openid-configuration", get(provider::discovery))
        .route("/api/v1/auth/register", post(local::register))
        .route("/api/v1/auth/login", post(local::login))
        .route("/api/v1/auth/logout", post(sign_out::logout))
        .layer(cors::allowed_origins(&state.config));
    browser.merge(cross_origin).with_state(state)
}
