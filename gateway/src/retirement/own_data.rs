//! The learner's own data: `GET /api/v1/me/export`, everything the gateway keeps on the signed-in
//! user as JSON; `DELETE /api/v1/me`, a local account erased (accounts of Open edX or an LTI platform
//! go with their platform's retirement, not from here).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::RetirementState;
use crate::domain::{LOCAL_ISSUER, Message, rfc3339_ms};
use crate::identity::bearer::ChatBearer;
use crate::web::error::ApiError;

/// The most conversations an export holds (their messages all): more than a learner has.
const MAX_CONVERSATIONS: i64 = 10_000;

fn message_value(m: &Message) -> Value {
    // An assistant reply's cited course passages, as stored (a JSON array).
    let sources = m.sources.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok());
    json!({
        "id": m.id, "role": m.role.as_str(), "content": m.content, "status": m.status.as_str(),
        "sender": m.sender_name, "reply_to": m.reply_to, "sources": sources, "created_at": rfc3339_ms(m.created_at),
        // Their own words, course staff's hiding notwithstanding: the export says it was hidden.
        "hidden_by_staff": m.hidden_at.is_some(),
    })
}

/// `GET /api/v1/me/export`: the user, their conversations with every message, what they wrote in
/// course rooms, and their ratings. A download (`Content-Disposition: attachment`).
pub async fn export(
    State(state): State<RetirementState>,
    ChatBearer(claims): ChatBearer,
) -> Result<Response, ApiError> {
    let db = &state.db;
    let user = db.get_user(&claims.sub).await?;
    let mut conversations = Vec::new();
    for c in db.list_conversations(&user.id, MAX_CONVERSATIONS).await? {
        let messages = db.all_messages(&c.id).await?;
        conversations.push(json!({
            "id": c.id, "course_id": c.course_id, "block_id": c.block_id, "title": c.title,
            "created_at": rfc3339_ms(c.created_at),
            "messages": messages.iter().map(message_value).collect::<Vec<_>>(),
        }));
    }
    let room_messages = db.room_messages_by(&user.id).await?;
    let feedback: Vec<Value> = db
        .feedback_by(&user.id)
        .await?
        .into_iter()
        .map(|(message_id, rating, comment, at)| {
            json!({"message_id": message_id, "rating": rating, "comment": comment, "created_at": rfc3339_ms(at)})
        })
        .collect();
    tracing::info!(conversations = conversations.len(), "learner data exported");
    let body = json!({
        "user": {
            "username": user.username, "name": user.name, "email": user.email,
            "created_at": rfc3339_ms(user.created_at),
        },
        "conversations": conversations,
        "room_messages": room_messages.iter().map(message_value).collect::<Vec<_>>(),
        "feedback": feedback,
        "exported_at": rfc3339_ms(crate::domain::now_ms()),
    });
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"ibal-my-data.json\""));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /api/v1/me`: erases the signed-in local account and everything of it, as a retirement
/// does; its sockets close within a few heartbeats. 403 for an account of another door.
pub async fn erase(State(state): State<RetirementState>, ChatBearer(claims): ChatBearer) -> Result<Response, ApiError> {
    if !state.db.has_identity(&claims.sub, LOCAL_ISSUER).await? {
        return Err(ApiError::forbidden(
            "Only a local account is deleted here; an account of your LMS goes when the LMS retires it.",
        ));
    }
    let removed = state.db.erase_account(&claims.sub, state.redact_room_messages).await?;
    tracing::info!(messages = removed["messages"], "local account erased by its owner");
    Ok((StatusCode::OK, Json(json!({ "removed": removed }))).into_response())
}
