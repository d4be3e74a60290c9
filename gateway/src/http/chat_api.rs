//! The chat's REST side: a user's conversations and their pages of messages, deleting one's own
//! conversation, rating a reply, and the staff-only analytics summary.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::chat::protocol::{message_value, timestamp};
use crate::db::{Conversation, DbError, MAX_HISTORY_PAGE, now_ms};
use crate::http::bearer::Bearer;
use crate::http::error::ApiError;
use crate::state::AppState;

/// The conversation, if it is this user's own (a room belongs to no one: 404).
async fn own_conversation(state: &AppState, id: &str, user_id: &str) -> Result<Conversation, ApiError> {
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
pub async fn list(State(state): State<AppState>, Bearer(claims): Bearer) -> Result<Json<Value>, ApiError> {
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
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let conversation = own_conversation(&state, &id, &claims.sub).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_HISTORY_PAGE);
    let page = state.db.history(&conversation.id, q.before.as_deref(), limit).await?;
    let has_more = i64::try_from(page.len()).unwrap_or(0) >= limit;
    Ok(Json(json!({ "messages": page.iter().map(message_value).collect::<Vec<_>>(), "has_more": has_more })))
}

/// `DELETE /api/v1/conversations/{id}`: one's own only.
pub async fn delete(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
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
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    Path(id): Path<String>,
    Json(f): Json<Feedback>,
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
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/analytics/summary`: staff and admins only.
pub async fn analytics(State(state): State<AppState>, Bearer(claims): Bearer) -> Result<Json<Value>, ApiError> {
    // The role as stored now, not as it was when the token was issued.
    let user = state.db.get_user(&claims.sub).await?;
    if !user.role.is_staff() {
        return Err(ApiError::forbidden("Analytics are for staff and administrators."));
    }
    let totals = state.db.message_totals().await?;
    let error_rate = if totals.replies > 0 { totals.failed_replies as f64 / totals.replies as f64 } else { 0.0 };
    Ok(Json(json!({
        "total_users": state.db.count_users().await?,
        "active_today": state.db.count_users_seen_since(now_ms() - 24 * 3600 * 1000).await?,
        "conversations": state.db.count_conversations().await?,
        "messages": totals.messages,
        "tokens": totals.tokens,
        "average_response_ms": totals.mean_latency_ms,
        "error_rate": error_rate,
    })))
}
