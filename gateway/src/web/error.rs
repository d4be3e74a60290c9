//! Errors at the HTTP boundary. API routes answer `{"error": {"code", "message"}}` with a stable
//! code; pages answer the `error.html` page. Internal detail is logged here, once, and never sent.

use std::borrow::Cow;

use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::DbError;

type Source = Box<dyn std::error::Error + Send + Sync>;

/// An error an API handler returns.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Cow<'static, str>,
    pub retry_after: Option<u64>,
    source: Option<Source>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, code, message: message.into(), retry_after: None, source: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such resource.")
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Too many requests; try again later.")
        }
    }

    /// A failure of ours: the client learns only that it happened; the log learns why.
    pub fn internal(source: impl Into<Source>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error.")
        }
    }

    pub fn unavailable(source: impl Into<Source>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "A service the gateway depends on is unavailable; try again shortly.",
            )
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => Self::not_found(),
            DbError::Conflict(code) => Self::new(StatusCode::CONFLICT, code, "That conflicts with existing data."),
            DbError::Unavailable(_) => Self::unavailable(e),
            DbError::Migration(_) | DbError::Other(_) => Self::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        log_once(self.status, self.code, self.source.as_deref());
        let mut response =
            (self.status, Json(json!({ "error": { "code": self.code, "message": self.message } }))).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Malformed input, answered in the layer's own shape (with `axum_extra::extract::WithRejection`) instead
/// of axum's plain text. axum's sentence names the field and position, never our internals.
fn rejection_text(text: String) -> String {
    text.chars().take(300).collect()
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match &rejection {
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            JsonRejection::JsonSyntaxError(_) => "invalid_json",
            _ => "invalid_body",
        };
        Self::new(rejection.status(), code, rejection_text(rejection.body_text()))
    }
}

impl From<FormRejection> for ApiError {
    fn from(rejection: FormRejection) -> Self {
        Self::new(rejection.status(), "invalid_form", rejection_text(rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(rejection.status(), "invalid_query", rejection_text(rejection.body_text()))
    }
}

/// An error a page handler returns; rendered as `error.html` by the page-error layer, which has
/// the templates and the request id.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: Cow<'static, str>,
    pub message: Cow<'static, str>,
    source: Option<Source>,
}

/// What the page-error layer needs to render the page; travels in the response's extensions.
#[derive(Debug, Clone)]
pub struct PageErrorInfo {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: Cow<'static, str>,
    pub message: Cow<'static, str>,
}

impl PageError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self { status, code, title: title.into(), message: message.into(), source: None }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Page not found", "There is nothing at this address.")
    }

    pub fn internal(source: impl Into<Source>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong",
                "The gateway could not complete this request.",
            )
        }
    }

    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }
}

impl From<FormRejection> for PageError {
    fn from(rejection: FormRejection) -> Self {
        let message = rejection_text(rejection.body_text());
        Self::new(rejection.status(), "invalid_form", "This request cannot be completed", message)
    }
}

impl From<QueryRejection> for PageError {
    fn from(rejection: QueryRejection) -> Self {
        let message = rejection_text(rejection.body_text());
        Self::new(rejection.status(), "invalid_query", "This address is not complete", message)
    }
}

impl From<DbError> for PageError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => Self::not_found(),
            DbError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable",
                "The chat is unavailable right now; please try again in a moment.",
            )
            .with_source(e),
            other => Self::internal(other),
        }
    }
}

impl From<minijinja::Error> for PageError {
    fn from(e: minijinja::Error) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        log_once(self.status, self.code, self.source.as_deref());
        let info =
            PageErrorInfo { status: self.status, code: self.code, title: self.title, message: self.message.clone() };
        // A plain-text body in case the layer is absent; normally replaced by the rendered page.
        let mut response = (self.status, self.message.into_owned()).into_response();
        response.extensions_mut().insert(info);
        response
    }
}

/// The single log line of a failed request: server faults at error level with their cause,
/// client mistakes at debug (they are the client's to fix, and would let anyone flood the log).
fn log_once(status: StatusCode, code: &'static str, source: Option<&(dyn std::error::Error + Send + Sync + 'static)>) {
    if status.is_server_error() {
        match source {
            Some(source) => {
                tracing::error!(status = status.as_u16(), code, error = %ErrorChain(source), "request failed")
            }
            None => tracing::error!(status = status.as_u16(), code, "request failed"),
        }
    } else {
        tracing::debug!(status = status.as_u16(), code, "request refused");
    }
}

/// Displays an error with its causes, `outer: inner: root`.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}
