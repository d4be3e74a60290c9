//! The context a chat socket has proved, and what the course team set for it.

use ibal_protocol::ErrorCode;

use crate::course::ticket::{TicketClaims, TicketError, TicketVerifier};
use crate::domain::{ChatContext, CourseKey, User};
use crate::domain::{Controls, CourseRole, Groups, Unit};
use crate::store::{Db, DbError};

/// Where a socket's context came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextSource {
    /// No proof: the gateway's own context (the standalone page, local accounts, other doors).
    Gateway,
    /// A chat ticket the LMS signed.
    Ticket,
    /// An LTI launch the platform signed.
    Lti,
}

impl ContextSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Ticket => "ticket",
            Self::Lti => "lti",
        }
    }
}

/// A socket's proven context: the conversation it may use, the user's role there, and the block's
/// title and instructions for the assistant — all from what the platform signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenContext {
    pub ctx: ChatContext,
    pub source: ContextSource,
    /// Outside a course, the role is None.
    pub role: Option<CourseRole>,
    pub title: String,
    pub instructions: String,
    /// The course's title and the unit the block sits in (LMS tickets; empty for launches).
    pub course_title: String,
    pub unit: Unit,
    pub controls: Controls,
    /// The learner's group per user partition, as the LMS signed it (empty for launches).
    pub groups: Groups,
}

impl ProvenContext {
    /// The gateway's own context, for sockets with no proof of a course.
    pub fn gateway() -> Self {
        Self {
            ctx: ChatContext::default(),
            source: ContextSource::Gateway,
            role: None,
            title: String::new(),
            instructions: String::new(),
            course_title: String::new(),
            unit: Unit::default(),
            controls: Controls::default(),
            groups: Groups::new(),
        }
    }

    /// The role as messages and frames carry it: empty outside a course.
    pub fn role_name(&self) -> &'static str {
        self.role.map_or("", CourseRole::as_str)
    }
}

/// Why a socket's claim to a context was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error(transparent)]
    Ticket(#[from] TicketError),
    /// A valid ticket, but for another user than the token's.
    #[error("the ticket was issued to another user")]
    NotYours,
    /// A launch's token carries its context already; a ticket beside it is contradictory.
    #[error("a launch token cannot carry a ticket")]
    Contradictory,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ProofError {
    /// The `error` frame's code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Ticket(e) => e.code(),
            Self::NotYours => ErrorCode::TicketMismatch,
            Self::Contradictory => ErrorCode::TicketInvalid,
            Self::Db(_) => ErrorCode::Internal,
        }
    }
}

/// Proves the context a socket may use: the ticket's (verified and bound to `user`), the LTI
/// launch's that the access token carries, or the gateway's own. The user's course role is
/// recorded from a ticket, read back for a launch (the launch recorded it).
///
/// # Errors
/// Why the proof was refused, or a storage failure.
pub async fn prove(
    db: &Db,
    tickets: Option<&TicketVerifier>,
    user: &User,
    launch: Option<&ChatContext>,
    ticket: Option<&str>,
) -> Result<ProvenContext, ProofError> {
    match (ticket, launch) {
        (Some(_), Some(_)) => Err(ProofError::Contradictory),
        (Some(ticket), None) => {
            let verifier = tickets.ok_or(TicketError::NotConfigured)?;
            let claims = verifier.verify(ticket)?;
            if !ticket_is_users(db, verifier, user, &claims).await? {
                return Err(ProofError::NotYours);
            }
            let ctx = claims.context();
            db.set_course_role(&user.id, &CourseKey::of(&ctx), claims.role).await?;
            Ok(ProvenContext {
                ctx,
                source: ContextSource::Ticket,
                role: Some(claims.role),
                controls: claims.controls,
                title: claims.title,
                instructions: claims.instructions,
                course_title: claims.course_title,
                unit: claims.unit,
                groups: claims.groups,
            })
        }
        (None, Some(ctx)) => {
            let role = db.course_role(&user.id, &CourseKey::of(ctx)).await?.unwrap_or_default();
            let settings = db.chat_settings(ctx).await?.unwrap_or_default();
            Ok(ProvenContext {
                ctx: ctx.clone(),
                source: ContextSource::Lti,
                role: Some(role),
                title: settings.title,
                instructions: settings.instructions,
                course_title: String::new(),
                unit: Unit::default(),
                controls: settings.controls,
                groups: Groups::new(),
            })
        }
        (None, None) => Ok(ProvenContext::gateway()),
    }
}

/// Whether the ticket speaks for `user`: their identity at the LMS is the ticket's subject, or —
/// for a popup sign-in whose subject the block could not compute — they signed in through the
/// same LMS under the ticket's username (both the LMS's word).
pub async fn ticket_is_users(
    db: &Db,
    verifier: &TicketVerifier,
    user: &User,
    claims: &TicketClaims,
) -> Result<bool, DbError> {
    let issuer = verifier.identity_issuer();
    if let Some(owner) = db.find_user_by_identity(issuer, &claims.sub).await? {
        return Ok(owner.id == user.id);
    }
    Ok(user.username == claims.preferred_username && db.has_identity(&user.id, issuer).await?)
}
