//! The peer address of a request, for rate limits. Behind a proxy this is the proxy; the limits
//! then also key on the account, which the proxy cannot hide.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<SocketAddr>);

impl ClientAddr {
    pub fn key(&self) -> String {
        self.0.map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)))
    }
}
