//! Who uses the gateway: users, the identities they sign in with, and their global role.

use sqlx::FromRow;

/// The issuer of accounts created on the gateway itself.
pub const LOCAL_ISSUER: &str = "local";

/// A user's global role. It is for gateway operators only: what someone may do in a course comes
/// from their [`crate::domain::CourseRole`] there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Learner,
    /// A gateway operator: Open edX global staff, or granted with `ibal-gateway users grant-operator`.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Learner => "learner",
            Self::Admin => "admin",
        }
    }

    /// Operators see every course's analytics.
    pub fn is_operator(self) -> bool {
        matches!(self, Self::Admin)
    }
}

impl TryFrom<String> for Role {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "admin" => Ok(Self::Admin),
            // Course-blind roles of earlier versions carry no global rights.
            "learner" | "staff" | "instructor" => Ok(Self::Learner),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct User {
    pub id: String,
    pub username: String,
    pub name: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_seen_at: Option<i64>,
}

/// What a door knows about the person behind it.
#[derive(Debug, Clone)]
pub struct IdentityClaims {
    pub issuer: String,
    pub subject: String,
    pub username: String,
    pub name: String,
    pub email: String,
    /// The global role the door vouches for (Open edX global staff are operators); None for doors
    /// that say nothing about the gateway (LTI, local accounts, services), which leave it as it is.
    pub role: Option<Role>,
}
