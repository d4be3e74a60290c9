//! What clients read before they start: the OpenID configuration and the signing keys.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::identity::scopes;
use crate::identity::state::IdentityState;

use super::GRANT_TOKEN_EXCHANGE;

/// `GET /.well-known/jwks.json`.
pub async fn jwks(State(state): State<IdentityState>) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(state.tokens.keys().jwks())).into_response()
}

/// `GET /.well-known/openid-configuration`.
pub async fn discovery(State(state): State<IdentityState>) -> Json<serde_json::Value> {
    let issuer = state.tokens.issuer();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", GRANT_TOKEN_EXCHANGE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes::KNOWN.map(|(scope, _)| scope),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "preferred_username", "name", "email"],
    }))
}
