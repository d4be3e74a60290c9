//! The `Authorization: Bearer <access token>` extractor for the gateway's APIs.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::auth::tokens::{AccessClaims, TokenError};
use crate::http::error::ApiError;
use crate::state::AppState;

/// A caller holding a valid gateway access token.
#[derive(Debug, Clone)]
pub struct Bearer(pub AccessClaims);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("A bearer access token is required."))?;
        match state.tokens.verify_access(token.trim()).await {
            Ok(claims) => Ok(Self(claims)),
            Err(TokenError::Expired) => Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "token_expired",
                "The access token has expired.",
            )),
            Err(_) => Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "invalid_token",
                "The access token is not valid.",
            )),
        }
    }
}
