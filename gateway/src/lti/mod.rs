//! The gateway as an LTI 1.3 tool: its registration document, OIDC third-party login initiation,
//! launch validation as the 1EdTech Security Framework requires, the chat page of a launch, and
//! deep linking.

pub mod claims;
mod deep_link;
pub mod jwks;
mod launch;
mod login;
mod page;
mod state;
pub mod validation;

pub use state::LtiState;

use axum::Router;
use axum::routing::{get, post};

/// The tool's endpoints. The platform's browser posts here, from inside the platform's iframe.
pub fn router<S: Clone + Send + Sync + 'static>(state: LtiState) -> Router<S> {
    Router::new()
        .route("/lti/config.json", get(login::config))
        .route("/lti/login", get(login::login).post(login::login))
        .route("/lti/launch", post(launch::launch))
        .route("/lti/launch/verify", post(launch::verify))
        .route("/lti/deep-link", post(deep_link::deep_link))
        .with_state(state)
}
