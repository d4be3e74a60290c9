//! The OAuth endpoints' errors, in RFC 6749's shape.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::identity::tokens::TokenError;

/// An error of the OAuth endpoints, in RFC 6749's shape.
#[derive(Debug)]
pub struct OAuthError {
    pub(super) status: StatusCode,
    pub(super) error: &'static str,
    pub(super) description: String,
}

impl OAuthError {
    pub(super) fn new(error: &'static str, description: impl Into<String>) -> Self {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "slow_down" => StatusCode::TOO_MANY_REQUESTS,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self { status, error, description: description.into() }
    }

    pub(super) fn server(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "token endpoint failed");
        Self::new("server_error", "The gateway could not complete the request.")
    }
}

impl From<TokenError> for OAuthError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Invalid => Self::new("invalid_grant", "The grant is invalid."),
            TokenError::Expired => Self::new("invalid_grant", "The grant has expired."),
            TokenError::Reused => {
                Self::new("invalid_grant", "The refresh token was already used; the login has been revoked.")
            }
            TokenError::WrongClient => Self::new("invalid_grant", "The grant was issued to another client."),
            other => Self::server(other),
        }
    }
}

impl From<axum::extract::rejection::FormRejection> for OAuthError {
    fn from(rejection: axum::extract::rejection::FormRejection) -> Self {
        Self::new("invalid_request", rejection.body_text().chars().take(300).collect::<String>())
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::debug!(error = self.error, "token request refused");
        let mut response = (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"ibal\""));
        }
        response
    }
}
