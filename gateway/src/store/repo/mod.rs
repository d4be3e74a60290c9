//! The repository: every read and write the gateway makes, one file per aggregate, each an
//! `impl Db` block so callers need only the one handle.

mod clients;
mod contexts;
mod conversations;
mod course_index;
mod disclosures;
mod feedback;
mod insights;
mod keys;
mod lti;
mod memberships;
mod messages;
mod moderation;
mod passage_vectors;
mod refresh_tokens;
mod retention;
mod retirement;
mod sessions;
mod spent_tokens;
mod users;

pub use clients::*;
pub use contexts::*;
pub use course_index::*;
pub use insights::*;
pub use keys::*;
pub use lti::*;
pub use messages::*;
pub use moderation::*;
pub use refresh_tokens::*;
pub use retention::*;
pub use retirement::*;
pub use users::*;
