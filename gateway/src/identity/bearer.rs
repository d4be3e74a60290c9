//! The `Authorization: Bearer <access token>` extractors for the gateway's APIs: any valid token,
//! one granted the `chat` scope (the conversation API), or a service's token granted one of the
//! service scopes (the course index and retirement APIs).

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use crate::identity::scopes;
use crate::identity::state::Authenticator;
use crate::identity::tokens::{AccessClaims, TokenError};
use crate::web::error::ApiError;

/// A caller holding a valid gateway access token.
#[derive(Debug, Clone)]
pub struct Bearer(pub AccessClaims);

impl<S> FromRequestParts<S> for Bearer
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Authenticator::from_ref(state);
        let value = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("A bearer access token is required."))?;
        match auth.tokens.verify_access(token.trim()).await {
            // A token of a login that was revoked (sign-out, a reused refresh token) or has reached
            // its absolute end is refused, though it has not expired yet.
            Ok(claims) if !auth.login_alive(&claims).await => Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "session_revoked",
                "This sign-in has ended; sign in again.",
            )),
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

/// A caller whose token was granted the `chat` scope.
#[derive(Debug, Clone)]
pub struct ChatBearer(pub AccessClaims);

impl<S> FromRequestParts<S> for ChatBearer
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Bearer(claims) = Bearer::from_request_parts(parts, state).await?;
        if !scopes::has(&claims.scope, scopes::CHAT) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "insufficient_scope",
                "This token was not granted the chat scope.",
            ));
        }
        Ok(Self(claims))
    }
}

/// A service scope an API requires (see [`ServiceBearer`]).
pub trait ServiceScope {
    const SCOPE: &'static str;
}

/// The course index API's scope.
#[derive(Debug, Clone, Copy)]
pub struct IndexScope;
impl ServiceScope for IndexScope {
    const SCOPE: &'static str = scopes::INDEX;
}

/// The retirement API's scope.
#[derive(Debug, Clone, Copy)]
pub struct RetirementScope;
impl ServiceScope for RetirementScope {
    const SCOPE: &'static str = scopes::RETIREMENT;
}

/// A confidential client acting for itself (client credentials) whose token was granted `S::SCOPE`.
/// A person's token is refused whatever its scopes.
#[derive(Debug, Clone)]
pub struct ServiceBearer<S>(pub AccessClaims, PhantomData<S>);

impl<S, T> FromRequestParts<S> for ServiceBearer<T>
where
    S: Send + Sync,
    T: ServiceScope,
    Authenticator: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Bearer(claims) = Bearer::from_request_parts(parts, state).await?;
        if !claims.svc || !scopes::has(&claims.scope, T::SCOPE) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("This API takes a service client's token granted the {} scope.", T::SCOPE),
            ));
        }
        Ok(Self(claims, PhantomData))
    }
}
