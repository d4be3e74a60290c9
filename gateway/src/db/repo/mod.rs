//! The repository: every read and write the gateway makes, one file per aggregate, each an
//! `impl Db` block so callers need only the one handle.

mod clients;
mod conversations;
mod feedback;
mod keys;
mod lti;
mod messages;
mod refresh_tokens;
mod sessions;
mod users;

pub use clients::*;
pub use conversations::*;
pub use keys::*;
pub use lti::*;
pub use messages::*;
pub use refresh_tokens::*;
pub use users::*;
