//! The dashboard's room moderation: the course's newest room messages with what staff may do to
//! them (hide or restore one, mute its sender for a while), the mutes running, each room's pinned
//! announcement, and the audit list. The forms post with the session cookie and the session's CSRF
//! token; each action is done and sent to the room live by `chat::moderation`.
//!
//! - `POST /instructor/{course_id}/moderation/hide`   `message_id`, `restore` (optional)
//! - `POST /instructor/{course_id}/moderation/mute`   `message_id`, `minutes`
//! - `POST /instructor/{course_id}/moderation/unmute` `user_id`
//! - `POST /instructor/{course_id}/moderation/pin`    `room_id`, `content` (blank: unpin)

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::WithRejection;
use minijinja::{Value, context};
use serde::Deserialize;
use tower_sessions::Session;

use super::InsightsState;
use super::access::{Viewer, viewer};
use crate::chat::moderation::{ModerationError, Moderator};
use crate::crypto::pseudonym;
use crate::domain::{CourseRole, rfc3339_ms};
use crate::web::csrf;
use crate::web::error::PageError;

/// Room messages listed for moderation.
const LISTED_MESSAGES: i64 = 50;
/// Actions listed in the audit.
const LISTED_ACTIONS: i64 = 100;
/// The mute durations offered, in minutes, with their labels.
const MUTE_CHOICES: [(i64, &str); 4] = [(10, "10 minutes"), (60, "1 hour"), (1440, "1 day"), (10080, "7 days")];

fn shown_time(ms: i64) -> String {
    // `YYYY-MM-DDTHH:MM:SS.mmmZ` → `YYYY-MM-DD HH:MM UTC`
    let full = rfc3339_ms(ms);
    format!("{} {} UTC", full.get(..10).unwrap_or_default(), full.get(11..16).unwrap_or_default())
}

/// How the dashboard names a person: by pseudonym unless the operator shows names.
async fn person(state: &InsightsState, user_id: Option<&str>, username: Option<&str>) -> String {
    let Some(user_id) = user_id else { return "(a retired learner)".to_owned() };
    if state.config.show_names {
        if let Some(name) = username {
            return name.to_owned();
        }
        if let Ok(user) = state.db.get_user(user_id).await {
            return user.username;
        }
    }
    pseudonym(&state.secret_key, user_id)
}

/// What the moderation section of the page shows.
///
/// # Errors
/// Storage and session failures.
pub async fn panel(
    state: &InsightsState,
    session: &Session,
    who: &Viewer,
    block: Option<&str>,
) -> Result<Value, PageError> {
    let course = &who.course;
    let mut rooms = Vec::new();
    for room in state.db.course_rooms(course).await? {
        let pin = state.db.pin(&room.id).await?;
        rooms.push(context! {
            id => room.id,
            block_id => room.block_id,
            title => room.title,
            pin => pin.map(|p| context! { content => p.content, author => p.author_name, at => shown_time(p.created_at) }),
        });
    }
    let mut messages = Vec::new();
    for m in state.db.recent_room_messages(course, block, LISTED_MESSAGES).await? {
        let person_message = m.role == "user" && m.sender_id.is_some();
        let staff = CourseRole::parse(&m.sender_role).is_some_and(CourseRole::is_course_staff);
        let sender = if person_message {
            person(state, m.sender_id.as_deref(), Some(&m.sender_name)).await
        } else {
            "assistant".to_owned()
        };
        messages.push(context! {
            id => m.id,
            block_id => m.block_id,
            sender => sender,
            staff => staff,
            mutable => person_message && !staff && m.sender_id.as_deref() != Some(who.user.id.as_str()),
            content => m.content,
            hidden => m.hidden_at.is_some(),
            at => shown_time(m.created_at),
        });
    }
    let mut mutes = Vec::new();
    for mute in state.db.course_mutes(course).await? {
        mutes.push(context! {
            user_id => &mute.user_id,
            who => person(state, Some(&mute.user_id), None).await,
            until => shown_time(mute.until_ms),
        });
    }
    let mut audit = Vec::new();
    for entry in state.db.moderation_log(course, LISTED_ACTIONS).await? {
        let target = match entry.target_user_id.as_deref() {
            Some(id) => person(state, Some(id), None).await,
            None => String::new(),
        };
        audit.push(context! {
            at => shown_time(entry.created_at),
            actor => entry.actor_name,
            action => entry.action,
            block_id => entry.block_id,
            target => target,
            minutes => entry.minutes,
        });
    }
    let choices: Vec<Value> =
        MUTE_CHOICES.iter().map(|&(m, label)| context! { minutes => m, label => label }).collect();
    Ok(context! {
        csrf => csrf::token(session).await?,
        rooms => rooms,
        messages => messages,
        mutes => mutes,
        audit => audit,
        mute_choices => choices,
    })
}

fn failed(e: ModerationError) -> PageError {
    match e {
        ModerationError::NotFound => PageError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not in this course",
            "This message, room or mute is not one of this course's rooms'.",
        ),
        ModerationError::Refused(why) => PageError::new(StatusCode::BAD_REQUEST, "refused", "This cannot be done", why),
        ModerationError::Db(e) => e.into(),
    }
}

/// Back to the page's moderation section.
fn back(course_id: &str) -> Response {
    let path = url::form_urlencoded::byte_serialize(course_id.as_bytes()).collect::<String>();
    Redirect::to(&format!("/instructor/{path}#moderation")).into_response()
}

/// Who may act, after the CSRF check.
async fn moderator_of(
    state: &InsightsState,
    session: &Session,
    course_id: &str,
    csrf_token: &str,
) -> Result<Viewer, PageError> {
    let who = viewer(session, &state.db, course_id).await?;
    csrf::check(session, csrf_token).await?;
    Ok(who)
}

/// The viewer, acting in their course's rooms.
fn acting<'a>(state: &'a InsightsState, who: &'a Viewer) -> Moderator<'a> {
    Moderator { db: &state.db, hub: &state.hub, course: &who.course, actor: &who.user }
}

#[derive(Debug, Deserialize)]
pub struct HideForm {
    csrf: String,
    message_id: String,
    /// Present: show the message again.
    #[serde(default)]
    restore: Option<String>,
}

pub async fn hide(
    State(state): State<InsightsState>,
    session: Session,
    Path(course_id): Path<String>,
    WithRejection(Form(form), _): WithRejection<Form<HideForm>, PageError>,
) -> Result<Response, PageError> {
    let who = moderator_of(&state, &session, &course_id, &form.csrf).await?;
    acting(&state, &who).set_hidden(form.message_id.trim(), form.restore.is_none()).await.map_err(failed)?;
    Ok(back(&course_id))
}

#[derive(Debug, Deserialize)]
pub struct MuteForm {
    csrf: String,
    message_id: String,
    minutes: i64,
}

pub async fn mute(
    State(state): State<InsightsState>,
    session: Session,
    Path(course_id): Path<String>,
    WithRejection(Form(form), _): WithRejection<Form<MuteForm>, PageError>,
) -> Result<Response, PageError> {
    let who = moderator_of(&state, &session, &course_id, &form.csrf).await?;
    acting(&state, &who).mute_sender(form.message_id.trim(), form.minutes).await.map_err(failed)?;
    Ok(back(&course_id))
}

#[derive(Debug, Deserialize)]
pub struct UnmuteForm {
    csrf: String,
    user_id: String,
}

pub async fn unmute(
    State(state): State<InsightsState>,
    session: Session,
    Path(course_id): Path<String>,
    WithRejection(Form(form), _): WithRejection<Form<UnmuteForm>, PageError>,
) -> Result<Response, PageError> {
    let who = moderator_of(&state, &session, &course_id, &form.csrf).await?;
    acting(&state, &who).unmute(form.user_id.trim()).await.map_err(failed)?;
    Ok(back(&course_id))
}

#[derive(Debug, Deserialize)]
pub struct PinForm {
    csrf: String,
    room_id: String,
    #[serde(default)]
    content: String,
}

pub async fn pin(
    State(state): State<InsightsState>,
    session: Session,
    Path(course_id): Path<String>,
    WithRejection(Form(form), _): WithRejection<Form<PinForm>, PageError>,
) -> Result<Response, PageError> {
    let who = moderator_of(&state, &session, &course_id, &form.csrf).await?;
    acting(&state, &who).pin(form.room_id.trim(), &form.content).await.map_err(failed)?;
    Ok(back(&course_id))
}
