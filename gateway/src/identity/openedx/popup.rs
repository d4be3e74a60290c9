//! The Open edX popup login the widget opens: authorization code + PKCE + one-time state, the code
//! exchanged for Open edX's JWT, the user identified, and the gateway's tokens handed back to the
//! page that opened the popup, and to no one else: with `postMessage` to its exact origin, or, when a
//! cross-origin opener policy cut the opener, through a relay page on that same origin (the
//! IbalXBlock's) that passes them on over `BroadcastChannel`. Nothing is ever fetchable by a secret
//! a third party could hold. See docs/protocol.md, "Signing in".

use axum_extra::extract::WithRejection;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::config::origin_of;
use crate::crypto::random_token;
use crate::domain::now_ms;
use crate::identity::openedx::{OpenEdx, OpenEdxError};
use crate::identity::scopes;
use crate::identity::state::IdentityState;
use crate::identity::tokens::{Grant, TokenPair, WIDGET_CLIENT_ID};
use crate::web::error::PageError;
use crate::web::security::CspNonce;

/// How long the popup may take between leaving for the LMS and coming back.
const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    origin: Option<String>,
    /// The widget's own random value for this attempt: it accepts only a result that repeats it.
    nonce: Option<String>,
    /// A page on `origin` that can hand the result to the widget when the opener is gone.
    relay: Option<String>,
    /// A full-page sign-in (the provider's own login page) returns here instead of to an opener.
    next: Option<String>,
}

/// What the popup remembers between leaving for the LMS and coming back, keyed by its state.
#[derive(Debug, Serialize, Deserialize)]
struct PendingLogin {
    verifier: String,
    origin: String,
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    relay: Option<String>,
    #[serde(default)]
    next: Option<String>,
    started_at: i64,
}

fn login_key(state: &str) -> String {
    format!("openedx_login:{state}")
}

fn openedx(state: &IdentityState) -> Result<&Arc<OpenEdx>, PageError> {
    state.openedx.as_ref().ok_or_else(|| {
        PageError::new(
            StatusCode::NOT_FOUND,
            "openedx_disabled",
            "Open edX sign-in is off",
            "This gateway is not connected to an Open edX platform.",
        )
    })
}

/// A nonce is 16 to 128 URL-safe characters.
fn valid_nonce(nonce: &str) -> bool {
    (16..=128).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The relay URL, if it is a configured relay page on the page's own origin (no query or fragment:
/// an open redirect elsewhere on the origin must never receive the result).
fn valid_relay(state: &IdentityState, origin: &str, relay: &str) -> Option<String> {
    let url = url::Url::parse(relay).ok()?;
    let exact = origin_of(&url) == origin
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && !url.path().contains("..")
        && state.config.auth_relay_paths.iter().any(|p| crate::config::path_matches(p, url.path()));
    exact.then(|| url.to_string())
}

fn bad_request(code: &'static str, message: &'static str) -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, code, "Invalid request", message)
}

/// `GET /oauth/openedx/login?origin=<page origin>&nonce=<random>[&relay=<relay page>]`: starts the
/// popup flow.
pub async fn login(
    State(state): State<IdentityState>,
    session: Session,
    WithRejection(Query(q), _): WithRejection<Query<LoginQuery>, PageError>,
) -> Result<Response, PageError> {
    let edx = openedx(&state)?;
    let origin = q.origin.unwrap_or_default();
    if !state.config.allowed_origins.contains(&origin) {
        tracing::warn!(origin = %origin, "popup login refused: origin not allowed");
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "origin_not_allowed",
            "This page may not sign in here",
            "The page that opened this window is not allowed to use this chat gateway.",
        ));
    }
    let next = q.next.filter(|n| n.starts_with("/oauth2/authorize?") && !n.contains("//"));
    // The widget's sign-in names its attempt; the provider's own login page (`next`) needs none.
    let nonce = q.nonce.unwrap_or_default();
    if next.is_none() && !valid_nonce(&nonce) {
        return Err(bad_request("invalid_nonce", "The sign-in request is malformed (nonce)."));
    }
    // A relay page that is not allowed is not used (and said so in the log): the sign-in goes on, to
    // the opener only. Refusing it would end every sign-in where the operator's relay path differs.
    let relay = q.relay.as_deref().filter(|r| !r.is_empty()).and_then(|relay| {
        let valid = valid_relay(&state, &origin, relay);
        if valid.is_none() {
            tracing::warn!(
                "popup login: the relay page is not on the page's origin or not in AUTH_RELAY_PATHS; not used"
            );
        }
        valid
    });
    let login_state = random_token(32);
    let (challenge, verifier) = OpenEdx::pkce();
    let verifier = verifier.secret().clone();
    let pending = PendingLogin { verifier, origin, nonce, relay, next, started_at: now_ms() };
    session.insert(&login_key(&login_state), pending).await.map_err(PageError::internal)?;
    let url = edx.authorize_url(&login_state, challenge);
    tracing::info!("popup login: redirecting to the LMS");
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /oauth/openedx/callback`: the LMS sends the browser back here with a code (or an error).
pub async fn callback(
    State(state): State<IdentityState>,
    session: Session,
    nonce: CspNonce,
    WithRejection(Query(q), _): WithRejection<Query<CallbackQuery>, PageError>,
) -> Result<Response, PageError> {
    let edx = openedx(&state)?.clone();
    // The state is consumed whatever happens next: a replayed callback finds nothing.
    let pending: Option<PendingLogin> = match &q.state {
        Some(s) if !s.is_empty() => session.remove(&login_key(s)).await.map_err(PageError::internal)?,
        _ => None,
    };
    let Some(pending) = pending.filter(|p| now_ms() - p.started_at < LOGIN_TTL_MS) else {
        tracing::warn!("popup login refused: unknown, expired or replayed state");
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "invalid_state",
            "Sign-in expired",
            "This sign-in attempt is unknown or was already used. Close this window and click Start Chat again.",
        ));
    };

    let outcome = match (q.error.as_deref(), q.code.as_deref()) {
        (Some(error), _) => Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "access_denied",
            format!("The LMS did not sign you in ({}).", short(error)),
        )),
        (None, None) => {
            Err(Failure::new(StatusCode::BAD_REQUEST, "invalid_request", "The LMS sent no authorization code."))
        }
        (None, Some(code)) => complete(&state, &edx, code, &pending.verifier).await,
    };

    match outcome {
        Ok((pair, user_id)) => {
            session.cycle_id().await.map_err(PageError::internal)?; // a new session id at sign-in
            session.insert("user_id", user_id).await.map_err(PageError::internal)?;
            session.insert("auth_time", now_ms() / 1000).await.map_err(PageError::internal)?;
            if let Some(next) = &pending.next {
                return Ok(Redirect::to(next).into_response());
            }
            let payload = serde_json::json!({
                "type": "ibal:auth",
                "nonce": pending.nonce,
                "access_token": pair.access_token,
                "expires_in": pair.expires_in,
                "refresh_token": pair.refresh_token,
                "username": pair.username,
            });
            tracing::info!(username = %pair.username, "popup login complete");
            render(
                &state,
                &nonce,
                StatusCode::OK,
                "Signed in",
                "You are signed in. This window closes by itself.",
                &payload,
                &pending,
            )
        }
        Err(failure) => {
            let payload = serde_json::json!({
                "type": "ibal:auth-error", "nonce": pending.nonce, "code": failure.code, "message": failure.message,
            });
            render(&state, &nonce, failure.status, "Sign-in failed", &failure.message, &payload, &pending)
        }
    }
}

struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
}

fn short(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect()
}

/// Code → Open edX JWT → identity → user → gateway tokens. Each failure is logged once, here.
async fn complete(
    state: &IdentityState,
    edx: &OpenEdx,
    code: &str,
    verifier: &str,
) -> Result<(TokenPair, String), Failure> {
    let lms = |e: OpenEdxError| {
        tracing::warn!(error = %e, "popup login failed at the LMS");
        match e {
            OpenEdxError::Timeout => Failure::new(
                StatusCode::GATEWAY_TIMEOUT,
                "lms_timeout",
                "The LMS did not answer in time. Please try again.",
            ),
            OpenEdxError::Unreachable => Failure::new(
                StatusCode::BAD_GATEWAY,
                "lms_unreachable",
                "The LMS cannot be reached right now. Please try again.",
            ),
            // The LMS refusing the code (4xx: replayed, expired, wrong client) is a bad request; the
            // LMS failing (5xx) is a bad gateway.
            OpenEdxError::Refused { status, .. } if status < 500 => {
                Failure::new(StatusCode::BAD_REQUEST, "lms_refused", "The LMS refused the sign-in. Please try again.")
            }
            OpenEdxError::Refused { .. } => {
                Failure::new(StatusCode::BAD_GATEWAY, "lms_error", "The LMS failed to complete the sign-in.")
            }
            OpenEdxError::Malformed(_) => {
                Failure::new(StatusCode::BAD_GATEWAY, "lms_error", "The LMS answered something unexpected.")
            }
            OpenEdxError::InvalidToken(_) => {
                Failure::new(StatusCode::UNAUTHORIZED, "invalid_token", "The LMS's token could not be verified.")
            }
        }
    };
    let token = edx.exchange_code(code, verifier).await.map_err(lms)?;
    let claims = edx.identify(&token.access_token).await.map_err(lms)?;
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "popup login failed in the gateway");
        Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "The gateway could not complete the sign-in.")
    };
    let user = state.db.upsert_identity(&claims).await.map_err(|e| internal(&e))?;
    let grant = Grant { client_id: WIDGET_CLIENT_ID.into(), scope: scopes::CHAT.into(), ctx: None, service: false };
    let pair = state.tokens.start_login(&user, &grant).await.map_err(|e| internal(&e))?;
    Ok((pair, user.id))
}

fn render(
    state: &IdentityState,
    nonce: &CspNonce,
    status: StatusCode,
    title: &str,
    message: &str,
    payload: &serde_json::Value,
    pending: &PendingLogin,
) -> Result<Response, PageError> {
    let html = state.templates.render(
        "openedx/popup_callback.html",
        context! {
            csp_nonce => nonce.as_str(),
            title => title,
            message => message,
            payload => minijinja::value::Serde(payload),
            target_origin => &pending.origin,
            relay => &pending.relay,
        },
    )?;
    // Tokens in the page: never cached, never sent on as a referrer.
    Ok((status, [(header::CACHE_CONTROL, "no-store"), (header::REFERRER_POLICY, "no-referrer")], Html(html))
        .into_response())
}
