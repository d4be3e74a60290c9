//! The chat's REST side: a user's conversations and their pages of messages, deleting one's own
//! conversation, rating a reply, and the analytics summary for course staff and operators.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::WithRejection;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::chat::protocol::{message_value, timestamp};
use crate::chat::state::ChatState;
use crate::domain::{Conversation, CourseKey, now_ms};
use crate::identity::bearer::ChatBearer;
use crate::store::{DbError, MAX_HISTORY_PAGE, MessageTotals};
use crate::web::error::ApiError;

/// The conversation, if it is this user's own (a room belongs to no one: 404).
async fn own_conversation(state: &ChatState, id: &str, user_id: &str) -> Result<Conversation, ApiError> {
    match state.db.get_conversation(id).await {
        Ok(c) if c.user_id.as_deref() == Some(user_id) => Ok(c),
        Ok(_) | Err(DbError::NotFound) => Err(ApiError::not_found()),
        Err(e) => Err(e.into()),
    }
}

fn conversation_value(c: &Conversation) -> Value {
    json!({
        "id": c.id, "course_id": c.course_id, "block_id": c.block_id, "title": c.title,
        "created_at": timestamp(c.created_at), "updated_at": timestamp(c.updated_at),
    })
}

/// `GET /api/v1/conversations`.
pub async fn list(State(state): State<ChatState>, ChatBearer(claims): ChatBearer) -> Result<Json<Value>, ApiError> {
    let conversations = state.db.list_conversations(&claims.sub, 100).await?;
    Ok(Json(json!({ "conversations": conversations.iter().map(conversation_value).collect::<Vec<_>>() })))
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    before: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/conversations/{id}/messages?before=&limit=`.
pub async fn messages(
    State(state): State<ChatState>,
    ChatBearer(claims): ChatBearer,
    Path(id): Path<String>,
    WithRejection(Query(q), _): WithRejection<Query<PageQuery>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let conversation = own_conversation(&state, &id, &claims.sub).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_HISTORY_PAGE);
    let page = state.db.history(&conversation.id, q.before.as_deref(), limit).await?;
    let has_more = i64::try_from(page.len()).unwrap_or(0) >= limit;
    Ok(Json(json!({ "messages": page.iter().map(message_value).collect::<Vec<_>>(), "has_more": has_more })))
}

/// `DELETE /api/v1/conversations/{id}`: one's own only.
pub async fn delete(
    State(state): State<ChatState>,
    ChatBearer(claims): ChatBearer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if state.db.delete_conversation(&id, &claims.sub).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found())
    }
}

#[derive(Debug, Deserialize)]
pub struct Feedback {
    rating: Value,
    #[serde(default)]
    comment: String,
}

/// `POST /api/v1/messages/{id}/feedback`: `rating` 1–5, or "up"/"down" (5/1); optional comment.
pub async fn feedback(
    State(state): State<ChatState>,
    ChatBearer(claims): ChatBearer,
    Path(id): Path<String>,
    WithRejection(Json(f), _): WithRejection<Json<Feedback>, ApiError>,
) -> Result<Response, ApiError> {
    let rating = match &f.rating {
        Value::String(s) if s == "up" => 5,
        Value::String(s) if s == "down" => 1,
        Value::Number(n) => n
            .as_i64()
            .filter(|r| (1..=5).contains(r))
            .ok_or_else(|| ApiError::bad_request("invalid_rating", "rating is 1 to 5, \"up\" or \"down\"."))?,
        _ => return Err(ApiError::bad_request("invalid_rating", "rating is 1 to 5, \"up\" or \"down\".")),
    };
    if f.comment.chars().count() > 2000 {
        return Err(ApiError::bad_request("invalid_comment", "Comments are at most 2000 characters."));
    }
    let message = state.db.get_message(&id).await?;
    let conversation = state.db.get_conversation(&message.conversation_id).await?;
    if !(conversation.is_room() || conversation.user_id.as_deref() == Some(claims.sub.as_str())) {
        return Err(ApiError::not_found());
    }
    state.db.set_feedback(&message.id, &claims.sub, rating, &f.comment).await?;
    forward_rating(&state, &message.id, rating, f.comment);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sends a thumbs up (4–5) or down (1–2), with its comment, to the backend that wrote the reply
/// (Flowise's feedback), in the background: the learner's rating is stored whatever it answers. A 3
/// has no thumb and stays in IBAL.
fn forward_rating(state: &ChatState, message_id: &str, rating: i64, comment: String) {
    let thumbs_up = match rating {
        4.. => true,
        ..=2 => false,
        _ => return,
    };
    if !state.chat.assistant.is_assistant() {
        return;
    }
    let (db, chat, message_id) = (state.db.clone(), state.chat.clone(), message_id.to_owned());
    tokio::spawn(async move {
        match db.backend_reference(&message_id).await {
            Ok(Some((request_id, reference))) => {
                chat.assistant.forward_rating(&request_id, &reference, thumbs_up, &comment).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "the backend's id of a rated reply could not be read"),
        }
    });
}

#[derive(Debug, Deserialize)]
pub struct AnalyticsQuery {
    course_id: Option<String>,
    platform: Option<String>,
}

/// `GET /api/v1/analytics/summary[?course_id=…[&platform=…]]`: operators see every course (or the
/// one named); course staff see the courses they staff (or the one named, if theirs); anyone else
/// is refused. Roles are read as stored now, not as they were when the token was issued.
pub async fn analytics(
    State(state): State<ChatState>,
    ChatBearer(claims): ChatBearer,
    WithRejection(Query(q), _): WithRejection<Query<AnalyticsQuery>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let user = state.db.get_user(&claims.sub).await?;
    let operator = user.role.is_operator();
    let staffed = state.db.staffed_courses(&user.id).await?;
    if !operator && staffed.is_empty() {
        return Err(ApiError::forbidden("Analytics are for course staff and operators."));
    }
    let named = |c: &CourseKey| {
        q.course_id.as_deref().is_none_or(|id| c.course_id == id)
            && q.platform.as_deref().is_none_or(|p| c.platform == p)
    };
    let courses: Vec<CourseKey> = match (&q.course_id, operator) {
        (None, true) => return Ok(Json(all_courses(&state).await?)),
        (None, false) => staffed,
        (Some(_), true) => state.db.known_courses().await?.into_iter().filter(named).collect(),
        (Some(_), false) => staffed.into_iter().filter(named).collect(),
    };
    if courses.is_empty() {
        return Err(ApiError::forbidden("You are not on the staff of this course."));
    }
    let since = now_ms() - DAY_MS;
    let mut rows = Vec::with_capacity(courses.len());
    let mut sum = Summary::default();
    for course in &courses {
        let totals = state.db.message_totals(Some(course)).await?;
        let row = Summary {
            users: state.db.count_course_members(course).await?,
            active_today: state.db.course_active_senders(course, since).await?,
            conversations: state.db.count_course_conversations(course).await?,
            totals,
        };
        let mut value = row.to_json();
        value["platform"] = json!(course.platform);
        value["course_id"] = json!(course.course_id);
        rows.push(value);
        sum.add(&row);
    }
    let mut body = sum.to_json();
    body["scope"] = json!("courses");
    body["courses"] = json!(rows);
    Ok(Json(body))
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// An operator's view of the whole gateway.
async fn all_courses(state: &ChatState) -> Result<Value, ApiError> {
    let summary = Summary {
        users: state.db.count_users().await?,
        active_today: state.db.count_users_seen_since(now_ms() - DAY_MS).await?,
        conversations: state.db.count_conversations().await?,
        totals: state.db.message_totals(None).await?,
    };
    let mut body = summary.to_json();
    body["scope"] = json!("all");
    Ok(body)
}

#[derive(Debug, Default)]
struct Summary {
    users: i64,
    active_today: i64,
    conversations: i64,
    totals: MessageTotals,
}

impl Summary {
    fn add(&mut self, other: &Self) {
        self.users += other.users;
        self.active_today += other.active_today;
        self.conversations += other.conversations;
        let (a, b) = (&mut self.totals, &other.totals);
        // Means combine weighted by the replies they were taken over.
        a.mean_latency_ms = match (a.mean_latency_ms, b.mean_latency_ms) {
            (Some(x), Some(y)) if a.replies + b.replies > 0 => {
                Some((x * a.replies + y * b.replies) / (a.replies + b.replies))
            }
            (x, y) => x.or(y),
        };
        a.messages += b.messages;
        a.replies += b.replies;
        a.failed_replies += b.failed_replies;
        a.tokens += b.tokens;
    }

    fn to_json(&self) -> Value {
        let t = &self.totals;
        let error_rate = if t.replies > 0 { t.failed_replies as f64 / t.replies as f64 } else { 0.0 };
        json!({
            "total_users": self.users,
            "active_today": self.active_today,
            "conversations": self.conversations,
            "messages": t.messages,
            "tokens": t.tokens,
            "average_response_ms": t.mean_latency_ms,
            "error_rate": error_rate,
        })
    }
}
