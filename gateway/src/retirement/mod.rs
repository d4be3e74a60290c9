//! Open edX learner retirement: `POST /api/v1/retirement` `{username, lms_user_id}`, called by the
//! LMS's retirement step through the service client (client credentials, scope `retirement`).
//!
//! Deletes, in one transaction, what the gateway holds on the learner signed in through an Open edX
//! door (the popup or a chat ticket): conversations and their messages, feedback, room messages
//! (removed, or "[deleted]" with `RETIREMENT_ROOM_MESSAGES=redact`), logins and refresh tokens,
//! course memberships, server sessions, identities and the user. Answers
//! `{username, removed: {table: rows}}`; a second call removes nothing.
//!
//! The learner's own data (`own_data`): their export, and the erasure of a local account.
//!
//! The learner's open chats close within a few heartbeats, on every replica: each socket checks
//! that its login (or, for a ticket sign-in, its user) still exists, and neither does any more.

mod own_data;

use axum_extra::extract::WithRejection;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::identity::Authenticator;
use crate::identity::bearer::{RetirementScope, ServiceBearer};
use crate::store::{Db, Retiree};
use crate::web::error::ApiError;

/// What the retirement API needs.
#[derive(Clone, Debug)]
pub struct RetirementState {
    pub db: Db,
    pub auth: Authenticator,
    /// The identity issuers of the Open edX doors (the popup's, the chat tickets'): only their users
    /// are retired by an Open edX username.
    pub openedx_issuers: Arc<Vec<String>>,
    /// `RETIREMENT_ROOM_MESSAGES=redact`.
    pub redact_room_messages: bool,
    /// The LMS pages (`ALLOWED_ORIGINS`) the widget calls the learner's own-data API from.
    pub cors: tower_http::cors::CorsLayer,
}

impl FromRef<RetirementState> for Authenticator {
    fn from_ref(s: &RetirementState) -> Self {
        s.auth.clone()
    }
}

pub fn router<S: Clone + Send + Sync + 'static>(state: RetirementState) -> Router<S> {
    // The widget's "My data" menu runs on the course's pages: the learner's own routes answer their
    // preflight; the service API does not (no browser calls it).
    let own = Router::new()
        .route("/api/v1/me/export", get(own_data::export))
        .route("/api/v1/me", delete(own_data::erase))
        .layer(state.cors.clone());
    Router::new()
        .merge(own)
        .route("/api/v1/retirement", post(retire))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

const MAX_BODY_BYTES: usize = 16 * 1024;
const MAX_USERNAME_CHARS: usize = 255;

#[derive(Debug, Deserialize)]
struct Retire {
    username: String,
    #[serde(default)]
    lms_user_id: Option<i64>,
}

async fn retire(
    State(state): State<RetirementState>,
    _service: ServiceBearer<RetirementScope>,
    WithRejection(Json(body), _): WithRejection<Json<Retire>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let username = body.username.trim();
    if username.is_empty() || username.chars().count() > MAX_USERNAME_CHARS {
        return Err(ApiError::bad_request(
            "bad_request",
            format!("username must be the learner's Open edX username (1 to {MAX_USERNAME_CHARS} characters)."),
        ));
    }
    let who = Retiree { issuers: &state.openedx_issuers, username, lms_user_id: body.lms_user_id };
    let removed = state.db.retire(&who, state.redact_room_messages).await?;
    // Named by LMS user id only: the username is the personal data being removed.
    tracing::info!(
        lms_user_id = body.lms_user_id,
        users = removed["users"],
        messages = removed["messages"],
        "learner retired"
    );
    Ok(Json(json!({ "username": username, "removed": removed })))
}
