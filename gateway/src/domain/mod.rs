//! The types every layer shares: users, courses, conversations and messages. Nothing here knows how
//! they are stored, sent or shown.

mod chat;
mod course;
mod ids;
mod material;
mod user;

pub use chat::*;
pub use course::*;
pub use ids::*;
pub use material::*;
pub use user::*;
