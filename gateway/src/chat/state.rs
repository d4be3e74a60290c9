//! What the chat's socket and API need from the application, taken from its state by `FromRef`.
//! Each open socket holds one: it is kept small.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::chat::Chat;
use crate::config::Config;
use crate::course::TicketVerifier;
use crate::identity::Authenticator;
use crate::store::Db;

#[derive(Clone, Debug)]
pub struct ChatState {
    pub config: Arc<Config>,
    pub db: Db,
    pub chat: Arc<Chat>,
    pub auth: Authenticator,
    /// The verifier of LMS-signed chat tickets, when `TICKET_JWKS` is configured.
    pub tickets: Option<Arc<TicketVerifier>>,
}

impl FromRef<ChatState> for Authenticator {
    fn from_ref(s: &ChatState) -> Self {
        s.auth.clone()
    }
}
