//! Identity: the gateway's signing keys and tokens, Open edX as an identity provider, local
//! passwords and server sessions.

pub mod bearer;
pub mod keys;
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
