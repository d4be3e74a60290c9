//! Error pages: a handler answers a page error with its status and text; this renders them into
//! `error.html`, with the request id for support.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;

use super::observe::REQUEST_ID_HEADER;
use crate::app::state::AppState;
use crate::web::error::PageErrorInfo;
use crate::web::security::CspNonce;

/// Turns a `PageError` response into the rendered `error.html`, with the request id for support.
pub async fn render(State(state): State<AppState>, request: Request, next: Next) -> Response {
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
