//! Server-rendered pages and the rendering of page errors.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;

use crate::app::middleware::observe::REQUEST_ID_HEADER;
use crate::app::state::AppState;
use crate::web::error::{PageError, PageErrorInfo};
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

/// Turns a `PageError` response into the rendered `error.html`, with the request id for support.
pub async fn render_error_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let nonce = request.extensions().get::<CspNonce>().cloned();
    let request_id = request.headers().get(&REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let response = next.run(request).await;
    let Some(info) = response.extensions().get::<PageErrorInfo>().cloned() else {
        return response;
    };
    let rendered = state.templates.render(
        "error.html",
        context! {
            csp_nonce => nonce.as_ref().map(CspNonce::as_str).unwrap_or_default(),
            status => info.status.as_u16(),
            code => info.code,
            title => info.title.as_ref(),
            message => info.message.as_ref(),
            request_id => request_id,
        },
    );
    match rendered {
        Ok(html) => {
            let (mut parts, _) = response.into_parts();
            parts.headers.remove(header::CONTENT_LENGTH);
            let mut page = (parts.status, Html(html)).into_response();
            // Keep what handlers set on the error (framing, cookies), replacing only the body.
            for (name, value) in parts.headers.iter() {
                if name != header::CONTENT_TYPE {
                    page.headers_mut().insert(name.clone(), value.clone());
                }
            }
            *page.extensions_mut() = parts.extensions;
            page
        }
        Err(e) => {
            tracing::error!(error = %e, "error page could not be rendered");
            response
        }
    }
}
