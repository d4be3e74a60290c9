//! The chat widget's files at a versioned path, `/static/widget/<version>/…`: the widget and the
//! gateway's protocol always ship together, so the files can be cached forever.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::web::error::ApiError;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The URL path of the widget's module.
pub fn module_path() -> String {
    format!("/static/widget/{VERSION}/ibal_widget.js")
}

#[cfg(ibal_widget)]
fn file(name: &str) -> Option<(&'static [u8], &'static str)> {
    match name {
        "ibal_widget.js" => Some((include_bytes!(env!("IBAL_WIDGET_JS")), "text/javascript; charset=utf-8")),
        "ibal_widget_bg.wasm" => Some((include_bytes!(env!("IBAL_WIDGET_WASM")), "application/wasm")),
        "ibal_widget.css" => Some((include_bytes!(env!("IBAL_WIDGET_CSS")), "text/css; charset=utf-8")),
        _ => None,
    }
}

#[cfg(not(ibal_widget))]
fn file(_name: &str) -> Option<(&'static [u8], &'static str)> {
    None
}

/// True when this binary carries the widget.
pub fn embedded() -> bool {
    cfg!(ibal_widget)
}

pub async fn serve(Path((version, name)): Path<(String, String)>) -> Response {
    if version != VERSION {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("This gateway serves widget version {VERSION}."),
        )
        .into_response();
    }
    if !embedded() {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "widget_not_built",
            "This gateway was built without the chat widget: run scripts/build-widget.sh (or make widget), then rebuild.",
        )
        .into_response();
    }
    match file(&name) {
        Some((bytes, content_type)) => (
            [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")],
            bytes,
        )
            .into_response(),
        None => ApiError::not_found().into_response(),
    }
}

/// The widget's files, imported cross-origin by the XBlock in the LMS page (module scripts and wasm
/// need CORS).
pub fn router<S: Clone + Send + Sync + 'static>(config: &crate::config::Config) -> axum::Router<S> {
    axum::Router::new()
        .route("/static/widget/{version}/{file}", axum::routing::get(serve))
        .layer(crate::web::cors::allowed_origins(config))
}
