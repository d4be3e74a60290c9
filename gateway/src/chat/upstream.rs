//! The `websocket` backend: an existing chat server behind the gateway. The gateway authenticates
//! the browser, then opens the upstream socket with the user's identity as a short-lived,
//! gateway-signed JWT in the handshake's `Authorization` header (verifiable with the gateway's
//! JWKS, audience `ibal-upstream`), and pipes frames both ways.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use url::Url;

use crate::course::ProvenContext;
use crate::domain::{Conversation, User, now_ms};
use crate::identity::tokens::{TokenError, TokenService};

pub type UpstreamSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The audience of identity tokens sent upstream.
pub const UPSTREAM_AUDIENCE: &str = "ibal-upstream";
/// Connection attempts before the client is told the upstream is unavailable.
pub const CONNECT_ATTEMPTS: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("signing the identity failed: {0}")]
    Identity(#[from] TokenError),
    #[error("the upstream chat server is unavailable: {0}")]
    Unavailable(String),
}

/// The identity the upstream server receives: who, in which context, for one minute.
pub fn identity(
    tokens: &TokenService,
    user: &User,
    context: &ProvenContext,
    conversation: &Conversation,
) -> Result<String, TokenError> {
    let now = now_ms() / 1000;
    tokens.sign_claims(&json!({
        "iss": tokens.issuer(),
        "aud": UPSTREAM_AUDIENCE,
        "sub": user.id,
        "iat": now,
        "exp": now + 60,
        "username": user.username,
        "name": user.name,
        "roles": [user.role.as_str()],
        "course_role": context.role_name(),
        "context_source": context.source.as_str(),
        "course_id": conversation.course_id,
        "block_id": conversation.block_id,
    }))
}

/// Opens the upstream socket (the context in its query), retrying with backoff.
pub async fn connect(
    base: &Url,
    tokens: &TokenService,
    user: &User,
    context: &ProvenContext,
    conversation: &Conversation,
) -> Result<UpstreamSocket, UpstreamError> {
    let mut url = base.clone();
    url.query_pairs_mut()
        .append_pair("course_id", &conversation.course_id)
        .append_pair("block_id", &conversation.block_id);
    let mut last = String::new();
    for attempt in 0..CONNECT_ATTEMPTS {
        if attempt > 0 {
            let backoff =
                Duration::from_millis(200 * 2u64.pow(attempt)) + Duration::from_millis(rand::random::<u64>() % 100);
            tokio::time::sleep(backoff).await;
        }
        // A fresh identity per attempt: it lives one minute.
        let mut request = url.as_str().into_client_request().map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let bearer = format!("Bearer {}", identity(tokens, user, context, conversation)?);
        let value = HeaderValue::from_str(&bearer).map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        request.headers_mut().insert("authorization", value);
        // Small buffers, as on the browser's side: the library reads into (and zeroes) 128 KiB by
        // default, per connection and per read. `true` turns Nagle's algorithm off.
        let config = WebSocketConfig::default().read_buffer_size(4 * 1024).write_buffer_size(4 * 1024);
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok((socket, _))) => return Ok(socket),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "timed out".into(),
        }
        tracing::warn!(attempt = attempt + 1, error = %last, "upstream chat server unreachable");
    }
    Err(UpstreamError::Unavailable(last))
}
