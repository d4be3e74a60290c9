//! Chat tickets: short-lived JWS the IbalXBlock mints inside the LMS, behind the LMS session, saying
//! who the user is, which course and block the chat is in, the user's role there and what the
//! course team set for the block. The LMS signs (RS256) with a key only it holds; the gateway only
//! verifies, against the public keys in `TICKET_JWKS`, so a leaked gateway cannot mint tickets.

use ibal_protocol::ErrorCode;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use crate::crypto::jwks::RsaKeys;
use crate::domain::{ChatContext, Controls, CourseRole, Groups, IdentityClaims, Role, Unit, clip, now_ms};

/// The longest a ticket may live (exp − iat), in seconds.
pub const MAX_TICKET_LIFETIME_SECS: i64 = 300;
const LEEWAY_SECS: u64 = 30;
/// Ids and names longer than these are not what an LMS sends.
const MAX_ID_LEN: usize = 255;
const MAX_USERNAME_LEN: usize = 150;
/// The block's title and instructions are cut to these many characters.
pub const MAX_TITLE_CHARS: usize = 255;
pub const MAX_INSTRUCTIONS_CHARS: usize = 8000;
/// The unit's text: the XBlock cuts it to 12,000 characters by default and 50,000 at most.
pub const MAX_UNIT_TEXT_CHARS: usize = 50_000;

/// The claims of a chat ticket (docs/protocol.md, "Chat tickets").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TicketClaims {
    pub iss: String,
    pub sub: String,
    pub preferred_username: String,
    #[serde(default)]
    pub user_id: Option<i64>,
    pub course_id: String,
    pub usage_id: String,
    #[serde(deserialize_with = "course_role")]
    pub role: CourseRole,
    #[serde(default)]
    pub global_staff: bool,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub course_title: String,
    #[serde(default)]
    pub unit: Unit,
    /// The learner's group in each of the course's user partitions (cohorts, enrollment tracks):
    /// partition id → group id. Course blocks restricted to groups are retrieved only for members.
    #[serde(default, deserialize_with = "partition_groups")]
    pub groups: Groups,
    /// The course team's controls: `mode`, `starters`, `tutor_style`, `style_prompt`, `disclosure`, `exam`.
    #[serde(flatten)]
    pub controls: Controls,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// The most partitions a ticket's `groups` may name (a course has a handful).
pub const MAX_PARTITIONS: usize = 64;

fn partition_groups<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Groups, D::Error> {
    let groups = Groups::deserialize(d)?;
    if groups.len() > MAX_PARTITIONS || groups.keys().any(|k| k.parse::<i64>().is_err()) {
        return Err(serde::de::Error::custom(format!(
            "groups must map at most {MAX_PARTITIONS} partition ids (integers) to a group id"
        )));
    }
    Ok(groups)
}

fn course_role<'de, D: serde::Deserializer<'de>>(d: D) -> Result<CourseRole, D::Error> {
    let value = String::deserialize(d)?;
    CourseRole::parse(&value).ok_or_else(|| serde::de::Error::custom("role must be learner, staff or instructor"))
}

impl TicketClaims {
    /// The chat context the ticket proves: the LMS (its issuer), the course and the block.
    pub fn context(&self) -> ChatContext {
        ChatContext { platform: self.iss.clone(), course_id: self.course_id.clone(), block_id: self.usage_id.clone() }
    }

    /// The person the LMS vouches for, at `identity_issuer` (the LMS as an identity provider); LMS
    /// global staff are the gateway's operators.
    pub fn identity(&self, identity_issuer: &str) -> IdentityClaims {
        IdentityClaims {
            issuer: identity_issuer.to_owned(),
            subject: self.sub.clone(),
            username: self.preferred_username.clone(),
            name: String::new(),
            email: String::new(),
            role: Some(if self.global_staff { Role::Admin } else { Role::Learner }),
        }
    }

    /// When the ticket stops being valid, in Unix milliseconds.
    pub fn expires_at_ms(&self) -> i64 {
        self.exp.saturating_mul(1000)
    }
}

/// Why a ticket was refused. Each has a stable code for the `error` frame or the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket has expired")]
    Expired,
    #[error("the ticket is not for this gateway (audience)")]
    WrongAudience,
    #[error("the ticket was not issued by the configured LMS (issuer)")]
    WrongIssuer,
    #[error("the ticket is signed with an unknown key")]
    UnknownKey,
    #[error("the ticket's signature is not valid")]
    BadSignature,
    #[error("the ticket is malformed: {0}")]
    Malformed(&'static str),
    #[error("chat tickets are not configured on this gateway")]
    NotConfigured,
}

impl TicketError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Expired => ErrorCode::TicketExpired,
            Self::NotConfigured => ErrorCode::TicketNotAccepted,
            _ => ErrorCode::TicketInvalid,
        }
    }
}

pub struct TicketVerifier {
    issuer: String,
    /// The issuer of the identities the LMS's users have here: Open edX's JWT issuer when the popup
    /// sign-in is configured too (one user, whichever door), else the tickets' own issuer.
    identity_issuer: String,
    audience: String,
    keys: RsaKeys,
}

impl std::fmt::Debug for TicketVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys)
            .finish()
    }
}

impl TicketVerifier {
    /// Keys from a JWK set: every key needs a `kid` (tickets name theirs).
    ///
    /// # Errors
    /// A sentence saying which key is unusable.
    pub fn new(issuer: &str, audience: &str, jwks: &str) -> Result<Self, String> {
        let keys = RsaKeys::parse(jwks)?.require_kids()?;
        Ok(Self { issuer: issuer.to_owned(), identity_issuer: issuer.to_owned(), audience: audience.to_owned(), keys })
    }

    /// Users signed in by ticket share the identities of another door (Open edX's popup).
    #[must_use]
    pub fn with_identity_issuer(mut self, issuer: &str) -> Self {
        issuer.clone_into(&mut self.identity_issuer);
        self
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn identity_issuer(&self) -> &str {
        &self.identity_issuer
    }

    /// Verifies a ticket: RS256 only, a known `kid`, exact `iss` and `aud`, `exp` in the future (30 s
    /// of leeway), `iat` not in the future and at most five minutes before `exp`, and every claim the
    /// contract requires, within its size.
    ///
    /// # Errors
    /// Why it was refused.
    pub fn verify(&self, ticket: &str) -> Result<TicketClaims, TicketError> {
        let header = jsonwebtoken::decode_header(ticket).map_err(|_| TicketError::Malformed("not a JWS"))?;
        if header.alg != Algorithm::RS256 {
            return Err(TicketError::Malformed("the algorithm must be RS256"));
        }
        let kid = header.kid.ok_or(TicketError::UnknownKey)?;
        let key = self.keys.find(Some(&kid)).ok_or(TicketError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let mut claims = jsonwebtoken::decode::<TicketClaims>(ticket, key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TicketError::Expired,
                ErrorKind::InvalidIssuer => TicketError::WrongIssuer,
                ErrorKind::InvalidAudience => TicketError::WrongAudience,
                ErrorKind::InvalidSignature => TicketError::BadSignature,
                ErrorKind::MissingRequiredClaim(_) => TicketError::Malformed("a required claim is missing"),
                ErrorKind::Json(_) => TicketError::Malformed("a claim is missing or has the wrong type"),
                _ => TicketError::Malformed("unreadable"),
            })?
            .claims;
        let now = now_ms() / 1000;
        let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(30);
        if claims.iat > now + leeway {
            return Err(TicketError::Malformed("issued in the future"));
        }
        if claims.exp - claims.iat > MAX_TICKET_LIFETIME_SECS {
            return Err(TicketError::Malformed("a ticket may live five minutes at most"));
        }
        let sized = |value: &str, max: usize| !value.trim().is_empty() && value.len() <= max;
        if !sized(&claims.sub, MAX_ID_LEN) || !sized(&claims.jti, MAX_ID_LEN) {
            return Err(TicketError::Malformed("sub and jti must be 1 to 255 characters"));
        }
        if !sized(&claims.preferred_username, MAX_USERNAME_LEN) {
            return Err(TicketError::Malformed("preferred_username must be 1 to 150 characters"));
        }
        if !sized(&claims.usage_id, MAX_ID_LEN) || claims.course_id.len() > MAX_ID_LEN {
            return Err(TicketError::Malformed("usage_id (required) and course_id are at most 255 characters"));
        }
        claims.title = clip(&claims.title, MAX_TITLE_CHARS);
        claims.instructions = clip(&claims.instructions, MAX_INSTRUCTIONS_CHARS);
        claims.course_title = clip(&claims.course_title, MAX_TITLE_CHARS);
        let unit = &mut claims.unit;
        for title in [&mut unit.section, &mut unit.subsection, &mut unit.title] {
            *title = clip(title, MAX_TITLE_CHARS);
        }
        if unit.text.chars().count() > MAX_UNIT_TEXT_CHARS {
            unit.text = clip(&unit.text, MAX_UNIT_TEXT_CHARS);
            unit.truncated = true;
        }
        // Neither a learner's exam nor the unit's text may leak into an exam: the LMS leaves the text
        // out already; the gateway does not rely on it.
        claims.controls = claims.controls.within_limits();
        if claims.controls.exam {
            claims.unit.text.clear();
        }
        Ok(claims)
    }
}
