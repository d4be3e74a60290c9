//! The types every layer shares: users, courses, conversations and messages. Nothing here knows how
//! they are stored, sent or shown.

mod chat;
mod course;
mod ids;
mod user;

pub use chat::*;
pub use course::*;
pub use ids::*;
pub use user::*;
