//! Course staff moderating a course's rooms: hide a message (everyone in the room sees the notice at
//! once; the text stays, for the audit), mute a learner in the course's rooms for a while, pin one
//! announcement per room. Each action is checked against the course it is done in, recorded in the
//! audit list, and sent live to the room through the hub (every replica's sockets).

use crate::chat::hub::{Hub, mute_notice};
use crate::chat::protocol;
use crate::domain::{CourseKey, CourseRole, MessageRole, User, now_ms};
use crate::store::{Db, DbError, ModerationAction, NewModeration};

/// The longest mute, in minutes (30 days).
pub const MAX_MUTE_MINUTES: i64 = 30 * 24 * 60;
/// The longest announcement, in characters.
pub const MAX_PIN_CHARS: usize = 500;

/// Why an action was not done.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// No such message or room in this course.
    #[error("not found in this course")]
    NotFound,
    /// The action does not apply (a sentence for the staff member).
    #[error("{0}")]
    Refused(&'static str),
    #[error(transparent)]
    Db(DbError),
}

impl From<DbError> for ModerationError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => Self::NotFound,
            e => Self::Db(e),
        }
    }
}

/// The actor of an action: who, at which course.
#[derive(Debug, Clone, Copy)]
pub struct Moderator<'a> {
    pub db: &'a Db,
    pub hub: &'a Hub,
    pub course: &'a CourseKey,
    pub actor: &'a User,
}

impl Moderator<'_> {
    fn record(&self, action: ModerationAction) -> NewModeration<'_> {
        NewModeration {
            course: self.course,
            conversation_id: None,
            actor_id: &self.actor.id,
            actor_name: &self.actor.username,
            action,
            message_id: None,
            target_user_id: None,
            minutes: None,
        }
    }

    /// Tells the sockets of every room of the course (on every replica) what changed: a mute holds
    /// in all of the course's rooms.
    async fn tell_rooms(&self, notice: &str) -> Result<(), ModerationError> {
        for room in self.db.course_rooms(self.course).await? {
            self.hub.publish(&room.id, notice.to_owned()).await;
        }
        Ok(())
    }

    /// Hides a room message (or shows it again); the room sees the change at once.
    ///
    /// # Errors
    /// `NotFound` outside this course's rooms; storage failures.
    pub async fn set_hidden(&self, message_id: &str, hidden: bool) -> Result<(), ModerationError> {
        let message = self.db.course_room_message(self.course, message_id).await?;
        let action = if hidden { ModerationAction::Hide } else { ModerationAction::Restore };
        let audit = NewModeration {
            conversation_id: Some(&message.conversation_id),
            message_id: Some(&message.id),
            target_user_id: message.sender_id.as_deref(),
            ..self.record(action)
        };
        // None: it was so already (another staff member was quicker): nothing to record or send.
        let Some(changed) = self.db.set_message_hidden(message_id, hidden, &audit).await? else { return Ok(()) };
        tracing::info!(action = action.as_str(), "room moderated");
        self.hub.publish(&changed.conversation_id, protocol::message(&changed)).await;
        Ok(())
    }

    /// Mutes the sender of a room message in the course's rooms for `minutes`.
    ///
    /// # Errors
    /// `NotFound` outside this course's rooms; `Refused` for the assistant's or staff's messages, or
    /// a duration out of range; storage failures.
    pub async fn mute_sender(&self, message_id: &str, minutes: i64) -> Result<i64, ModerationError> {
        if !(1..=MAX_MUTE_MINUTES).contains(&minutes) {
            return Err(ModerationError::Refused("Choose a mute of 1 minute to 30 days."));
        }
        let message = self.db.course_room_message(self.course, message_id).await?;
        let Some(sender) = message.sender_id.as_deref().filter(|_| message.role == MessageRole::User) else {
            return Err(ModerationError::Refused("Only a person's messages can get their sender muted."));
        };
        if sender == self.actor.id {
            return Err(ModerationError::Refused("You cannot mute yourself."));
        }
        let staff = self.db.course_role(sender, self.course).await?.is_some_and(CourseRole::is_course_staff);
        if staff {
            return Err(ModerationError::Refused("Course staff cannot be muted."));
        }
        let until = now_ms() + minutes * 60_000;
        let audit = NewModeration {
            conversation_id: Some(&message.conversation_id),
            message_id: Some(&message.id),
            target_user_id: Some(sender),
            minutes: Some(minutes),
            ..self.record(ModerationAction::Mute)
        };
        self.db.mute(self.course, sender, until, &audit).await?;
        self.tell_rooms(&mute_notice(sender, until)).await?;
        tracing::info!(minutes, "room moderated: a learner muted");
        Ok(until)
    }

    /// Lifts a learner's mute in the course.
    ///
    /// # Errors
    /// `NotFound` when no mute of theirs is running here; storage failures.
    pub async fn unmute(&self, user_id: &str) -> Result<(), ModerationError> {
        let audit = NewModeration { target_user_id: Some(user_id), ..self.record(ModerationAction::Unmute) };
        if !self.db.unmute(self.course, user_id, &audit).await? {
            return Err(ModerationError::NotFound);
        }
        self.tell_rooms(&mute_notice(user_id, 0)).await?;
        tracing::info!("room moderated: a mute lifted");
        Ok(())
    }

    /// Pins a room's announcement (plain text), or unpins it when `content` is blank.
    ///
    /// # Errors
    /// `NotFound` for a room of another course; `Refused` for a text too long; storage failures.
    pub async fn pin(&self, room_id: &str, content: &str) -> Result<(), ModerationError> {
        self.db.course_room(self.course, room_id).await?;
        let content = content.trim();
        if content.chars().count() > MAX_PIN_CHARS {
            return Err(ModerationError::Refused("An announcement is at most 500 characters."));
        }
        let audit = |action| NewModeration { conversation_id: Some(room_id), ..self.record(action) };
        let (action, frame) = if content.is_empty() {
            if !self.db.clear_pin(room_id, &audit(ModerationAction::Unpin)).await? {
                return Ok(()); // nothing was pinned: nothing to record or send
            }
            (ModerationAction::Unpin, protocol::pinned(None))
        } else {
            let pin = self.db.set_pin(room_id, content, &self.actor.username, &audit(ModerationAction::Pin)).await?;
            (ModerationAction::Pin, protocol::pinned(Some(&pin)))
        };
        tracing::info!(action = action.as_str(), "room moderated");
        self.hub.publish(room_id, frame).await;
        Ok(())
    }
}
