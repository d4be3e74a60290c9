//! CSRF protection of forms posted with the session cookie: one random token per session, written
//! into every form of a page and compared in constant time when the form comes back. Many forms on
//! one page share it, so it stays in the session (not spent on use); a new session (sign-in cycles
//! the id and starts without one) gets a new token.

use axum::http::StatusCode;
use tower_sessions::Session;

use crate::crypto::{constant_time_eq, random_token};
use crate::web::error::PageError;

/// The session's key for the token.
const KEY: &str = "form_csrf";

/// The session's token, made on first use.
///
/// # Errors
/// When the session store fails.
pub async fn token(session: &Session) -> Result<String, PageError> {
    if let Some(token) = session.get::<String>(KEY).await.map_err(PageError::internal)? {
        return Ok(token);
    }
    let token = random_token(24);
    session.insert(KEY, &token).await.map_err(PageError::internal)?;
    Ok(token)
}

/// Whether `presented` is the session's token; 403 otherwise.
///
/// # Errors
/// 403 for a missing or wrong token; session store failures.
pub async fn check(session: &Session, presented: &str) -> Result<(), PageError> {
    let expected = session.get::<String>(KEY).await.map_err(PageError::internal)?;
    match expected {
        Some(expected) if !presented.is_empty() && constant_time_eq(&expected, presented) => Ok(()),
        _ => Err(PageError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "Form expired",
            "This form expired or came from another site. Reload the page and try again.",
        )),
    }
}
