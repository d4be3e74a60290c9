//! What a chat is made of: where it happens, whose it is, and its messages.

use sha2::{Digest, Sha256};
use sqlx::FromRow;

/// Where a conversation happens: the platform (Open edX issuer or LTI platform), the course
/// (or LTI context) and the block (or LTI resource link).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatContext {
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub course_id: String,
    #[serde(default)]
    pub block_id: String,
}

impl ChatContext {
    /// A fixed-length key for the unique index: the three parts may each be long.
    pub fn key(&self) -> String {
        let mut hash = Sha256::new();
        for part in [&self.platform, &self.course_id, &self.block_id] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        hex::encode(hash.finalize())
    }
}

/// Whose conversation: one user's, or the room everyone in the context shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner<'a> {
    User(&'a str),
    Room,
}

pub const ROOM_OWNER: &str = "room";

#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct Conversation {
    pub id: String,
    pub owner: String,
    pub user_id: Option<String>,
    pub platform: String,
    pub course_id: String,
    pub block_id: String,
    pub title: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Conversation {
    pub fn is_room(&self) -> bool {
        self.owner == ROOM_OWNER
    }

    pub fn context(&self) -> ChatContext {
        ChatContext {
            platform: self.platform.clone(),
            course_id: self.course_id.clone(),
            block_id: self.block_id.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    User,
    Assistant,
    System,
}

impl MessageRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::System => "system",
        }
    }
}

impl TryFrom<String> for MessageRole {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        match v.as_str() {
            "user" => Ok(Self::User),
            "assistant" => Ok(Self::Assistant),
            "system" => Ok(Self::System),
            other => Err(format!("unknown message role {other:?}")),
        }
    }
}

/// How a message ended: complete, or an assistant reply cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Complete,
    Stopped,
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }
}

impl TryFrom<String> for MessageStatus {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        match v.as_str() {
            "complete" => Ok(Self::Complete),
            "stopped" => Ok(Self::Stopped),
            "failed" => Ok(Self::Failed),
            other => Err(format!("unknown message status {other:?}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub sender_id: Option<String>,
    pub client_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub role: MessageRole,
    pub sender_name: String,
    /// The sender's role in the course when they sent it (`learner`, `staff`, `instructor`); empty
    /// outside a course and for the assistant.
    pub sender_role: String,
    pub content: String,
    #[sqlx(try_from = "String")]
    pub status: MessageStatus,
    pub reply_to: Option<String>,
    /// A regenerated reply: the reply it is a new version of.
    pub replaces: Option<String>,
    pub error_code: Option<String>,
    pub tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    /// An assistant reply: how long its first token took, in milliseconds (none when none came).
    pub first_token_ms: Option<i64>,
    /// An assistant reply: the course passages it cites (JSON array of `{n, title, breadcrumb, url,
    /// snippet}`).
    pub sources: Option<String>,
    /// A room message course staff hid: since when. Its text stays, for the audit; nobody is sent it.
    pub hidden_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// An id chosen beforehand (a streamed reply is announced under its id); None draws one.
    pub id: Option<&'a str>,
    pub conversation_id: &'a str,
    pub sender_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub role: MessageRole,
    pub sender_name: &'a str,
    pub sender_role: &'a str,
    pub content: &'a str,
    pub status: MessageStatus,
    pub reply_to: Option<&'a str>,
    pub replaces: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    pub first_token_ms: Option<i64>,
    pub sources: Option<&'a str>,
}

impl<'a> NewMessage<'a> {
    /// A message a person sent.
    pub fn from_user(
        conversation_id: &'a str,
        sender_id: &'a str,
        sender_name: &'a str,
        client_id: &'a str,
        content: &'a str,
    ) -> Self {
        Self {
            id: None,
            conversation_id,
            sender_id: Some(sender_id),
            client_id: Some(client_id),
            role: MessageRole::User,
            sender_name,
            sender_role: "",
            content,
            status: MessageStatus::Complete,
            reply_to: None,
            replaces: None,
            error_code: None,
            tokens: None,
            latency_ms: None,
            first_token_ms: None,
            sources: None,
        }
    }
}
