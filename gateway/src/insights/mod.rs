//! Course chat insights: the course team's dashboard (`/instructor/<course>`), its CSV exports and
//! its way in from the course. Reached from the chat block's staff view, which posts a fresh chat
//! ticket to `/instructor/enter` (docs/instructor-insights.md).
//!
//! - `POST /instructor/enter` `ticket=<chat ticket>` → 303 to the course's page
//! - `GET  /instructor/{course_id}?from=YYYY-MM-DD&to=YYYY-MM-DD&block=<usage id>`
//! - `GET  /instructor/{course_id}/summary.csv`, `…/messages.csv` (same query)

mod access;
mod enter;
mod export;
mod figures;
mod page;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::config::InsightsConfig;
use crate::course::TicketVerifier;
use crate::identity::session_store::DbSessionStore;
use crate::store::Db;
use crate::web::templates::Templates;

/// What the dashboard needs.
#[derive(Clone, Debug)]
pub struct InsightsState {
    pub db: Db,
    pub templates: Templates,
    pub tickets: Option<Arc<TicketVerifier>>,
    pub config: Arc<InsightsConfig>,
    /// Keys the learners' pseudonyms.
    pub secret_key: secrecy::SecretString,
    /// Whether the session cookie is `Secure` (an https `PUBLIC_URL`).
    pub https: bool,
}

pub fn router<S: Clone + Send + Sync + 'static>(state: InsightsState) -> Router<S> {
    // The same server sessions as the sign-in doors (one cookie): an operator signed in there is
    // known here too. Lax: the way in is a top-level POST from the LMS, then same-site GETs.
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name("ibal_session")
        .with_http_only(true)
        .with_secure(state.https)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(12)));
    Router::new()
        .route("/instructor/enter", post(enter::enter))
        .route("/instructor/{course_id}", get(page::page))
        .route("/instructor/{course_id}/summary.csv", get(export::summary))
        .route("/instructor/{course_id}/messages.csv", get(export::messages))
        .layer(sessions)
        .with_state(state)
}
