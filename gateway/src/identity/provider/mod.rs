//! The gateway as an OAuth2/OIDC provider: discovery and JWKS, the token endpoint (refresh, token
//! exchange of an Open edX JWT or a chat ticket, client credentials, authorization code + PKCE),
//! authorize with sign-in and consent, userinfo and revocation.

mod authorize;
mod clients;
mod discovery;
mod error;
mod token;
mod userinfo;

pub use authorize::{authorize, consent, login_page, login_submit};
pub use clients::{ensured_client, new_client};
pub use discovery::{discovery, jwks};
pub use error::OAuthError;
pub use token::token;
pub use userinfo::{revoke, userinfo};

pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
/// An LMS-signed chat ticket (docs/protocol.md), exchanged for a sign-in when the LMS signs users in.
pub const TOKEN_TYPE_CHAT_TICKET: &str = "urn:ibal:params:oauth:token-type:chat-ticket";
const CODE_TTL_MS: i64 = 60_000;
/// The issuer of identities behind client-credentials tokens.
const CLIENT_ISSUER: &str = "client";
