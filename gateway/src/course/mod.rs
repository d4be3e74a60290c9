//! Course context: which course and block a chat is in, and the user's role there. It comes only
//! from proof — a chat ticket the LMS signed ([`ticket`]) or an LTI launch the platform signed —
//! never from what a browser names. Without proof a chat is in the gateway's own context.

pub mod embeddings;
pub mod knowledge;
pub mod proof;
pub mod staff_pass;
pub mod ticket;

pub use knowledge::{Knowledge, Passage, Viewer};
pub use proof::{ContextSource, ProofError, ProvenContext, prove};
pub use staff_pass::{PassError, StaffPass};
pub use ticket::{TicketClaims, TicketError, TicketVerifier};
