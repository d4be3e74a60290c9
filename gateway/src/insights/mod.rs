//! Course chat insights: the course team's dashboard (`/instructor/<course>`), its CSV exports and
//! its way in from the course. Reached from the chat block's staff view, which posts a fresh chat
//! ticket to `/instructor/enter` (docs/instructor-insights.md).
//!
//! - `POST /instructor/enter` `ticket=<chat ticket>` → 303 to the course's page
//! - `GET  /instructor/{course_id}?from=YYYY-MM-DD&to=YYYY-MM-DD&block=<usage id>`
//! - `GET  /instructor/{course_id}/summary.csv`, `…/messages.csv` (same query)
//! - `POST /instructor/{course_id}/moderation/{hide,mute,unmute,pin}` (see `moderate`)

mod access;
mod enter;
mod export;
mod figures;
mod moderate;
mod page;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::chat::hub::Hub;
use crate::config::InsightsConfig;
use crate::course::TicketVerifier;
use crate::identity::session_store;
use crate::store::Db;
use crate::web::templates::Templates;

/// What the dashboard needs.
#[derive(Clone, Debug)]
pub struct InsightsState {
    pub db: Db,
    pub templates: Templates,
    pub tickets: Option<Arc<TicketVerifier>>,
    /// The chat's fan-out: moderation reaches the room's sockets on every replica.
    pub hub: Arc<Hub>,
    /// Opens the staff passes of LTI launches.
    pub sealer: Arc<crate::crypto::sealed::Sealer>,
    pub config: Arc<InsightsConfig>,
    /// Keys the learners' pseudonyms.
    pub secret_key: secrecy::SecretString,
    /// Whether the session cookie is `Secure` (an https `PUBLIC_URL`).
    pub https: bool,
}

pub fn router<S: Clone + Send + Sync + 'static>(state: InsightsState) -> Router<S> {
    // The same server sessions as the sign-in doors (one cookie): an operator signed in there is
    // known here too.
    let sessions = session_store::layer(state.db.clone(), state.https);
    Router::new()
        .route("/instructor/enter", post(enter::enter))
        .route("/instructor/{course_id}", get(page::page))
        .route("/instructor/{course_id}/summary.csv", get(export::summary))
        .route("/instructor/{course_id}/messages.csv", get(export::messages))
        .route("/instructor/{course_id}/moderation/hide", post(moderate::hide))
        .route("/instructor/{course_id}/moderation/mute", post(moderate::mute))
        .route("/instructor/{course_id}/moderation/unmute", post(moderate::unmute))
        .route("/instructor/{course_id}/moderation/pin", post(moderate::pin))
        .layer(sessions)
        .with_state(state)
}
