//! What every LTI page shares: the refusal page the platform's iframe may show, the platform's
//! origins that may frame us, and the per-login browser cookie.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::origin_of;
use crate::lti::state::LtiState;
use crate::store::{DbError, LtiPlatform};
use crate::web::error::PageError;
use crate::web::security::Framable;

/// A launch that cannot go on: an error page, framable by the platform when it is known.
#[derive(Debug)]
pub struct Refusal {
    /// The origins that may frame the page: the platform's, once it is known.
    frame_origins: Vec<String>,
    error: PageError,
}

impl From<axum::extract::rejection::FormRejection> for Refusal {
    fn from(rejection: axum::extract::rejection::FormRejection) -> Self {
        Self::new("invalid_form", rejection.body_text().chars().take(300).collect::<String>())
    }
}

impl Refusal {
    /// A request the tool refuses (400), with a code and a sentence for the person in front of it.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        let error = PageError::new(StatusCode::BAD_REQUEST, code, "This launch cannot be completed", message.into());
        Self { frame_origins: Vec::new(), error }
    }

    /// The platform is known: its pages may frame the error.
    #[must_use]
    pub fn framable_by(mut self, platform: &LtiPlatform) -> Self {
        self.frame_origins = platform_origins(platform);
        self
    }

    /// The login's state is not this browser's (or it expired).
    pub fn state_mismatch() -> Self {
        tracing::warn!("LTI launch refused: state mismatch");
        Self::new(
            "state_mismatch",
            "This launch did not start in this browser, or it expired. Reload the page to launch again.",
        )
    }
}

impl From<PageError> for Refusal {
    fn from(error: PageError) -> Self {
        Self { frame_origins: Vec::new(), error }
    }
}

impl From<DbError> for Refusal {
    fn from(e: DbError) -> Self {
        PageError::from(e).into()
    }
}

impl From<minijinja::Error> for Refusal {
    fn from(e: minijinja::Error) -> Self {
        PageError::from(e).into()
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        framed_by(self.error.into_response(), self.frame_origins)
    }
}

/// `response`, framable by the platform's pages (the default refuses framing).
pub fn framed(response: impl IntoResponse, platform: &LtiPlatform) -> Response {
    framed_by(response.into_response(), platform_origins(platform))
}

fn framed_by(mut response: Response, origins: Vec<String>) -> Response {
    response.extensions_mut().insert(Framable { extra_ancestors: origins, ..Framable::default() });
    response
}

/// The origins a platform frames us from: its issuer's and its login endpoint's.
pub fn platform_origins(platform: &LtiPlatform) -> Vec<String> {
    let mut origins = Vec::new();
    for raw in [&platform.issuer, &platform.auth_url] {
        if let Ok(url) = url::Url::parse(raw) {
            let origin = origin_of(&url);
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
    }
    origins
}

pub fn launch_url(state: &LtiState) -> String {
    format!("{}/lti/launch", state.config.public_url.as_str().trim_end_matches('/'))
}

/// Where a login's state (its platform and nonce) is kept until the launch.
pub fn state_record(state: &str) -> String {
    format!("lti_state:{state}")
}

/// The browser-binding cookie of one login: one per state, so several launches on a page coexist.
pub fn state_cookie_name(state: &str) -> String {
    format!("ibal_lti_{}", &crate::crypto::sha256_hex(state)[..24])
}

/// Cookies inside the platform's iframe are third-party: `SameSite=None; Secure; Partitioned`
/// over https. Plain http (development) can only use Lax.
pub fn cookie(state: &LtiState, name: &str, value: &str, max_age: i64) -> String {
    let attrs = if state.config.is_https() { "SameSite=None; Secure; Partitioned" } else { "SameSite=Lax" };
    format!("{name}={value}; Path=/lti; HttpOnly; Max-Age={max_age}; {attrs}")
}

pub fn has_cookie(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim().split_once('=').is_some_and(|(n, _)| n == name))
}
