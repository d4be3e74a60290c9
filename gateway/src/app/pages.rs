//! Server-rendered pages and the rendering of page errors.

use axum::extract::State;
use axum::response::Html;
use minijinja::context;

use crate::app::state::AppState;
use crate::web::error::PageError;
use crate::web::security::CspNonce;

/// The standalone home page: the gateway's own door to the chat (local accounts, dev default).
pub async fn home(State(state): State<AppState>, nonce: CspNonce) -> Result<Html<String>, PageError> {
    let c = &state.config;
    let gateway = crate::config::origin_of(&c.public_url);
    let widget_settings = serde_json::json!({
        "gateway_url": gateway,
        "ws_url": c.chat.ws_url.as_str(),
        "widget_url": format!("{gateway}{}", crate::web::widget::module_path()),
        "course_id": "",
        "usage_id": "",
        "display_name": "IBAL Chat",
        "welcome_message": "Click Start Chat to begin",
        "lang": "en",
        "auth_mode": if c.local_accounts { "local" } else { "popup" },
    });
    let html = state.templates.render(
        "standalone/index.html",
        context! {
            csp_nonce => nonce.as_str(),
            chat_backend => c.chat.backend.name(),
            local_accounts => c.local_accounts,
            openedx => c.openedx.is_some(),
            widget_embedded => crate::web::widget::embedded(),
            widget_settings => minijinja::value::Serde(widget_settings),
        },
    )?;
    Ok(Html(html))
}
