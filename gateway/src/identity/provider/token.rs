//! `POST /oauth2/token`: each grant the gateway supports.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use axum_extra::extract::WithRejection;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::crypto::{constant_time_eq, s256, sha256_hex};
use crate::domain::{CourseKey, IdentityClaims, now_ms};
use crate::identity::scopes;
use crate::identity::state::IdentityState;
use crate::identity::tokens::Grant;
use crate::web::client_addr::ClientAddr;

use super::clients::{Client, authenticate_client};
use super::error::OAuthError;
use super::{CLIENT_ISSUER, GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS, TOKEN_TYPE_CHAT_TICKET, TOKEN_TYPE_JWT};

#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    pub(super) grant_type: String,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) refresh_token: Option<String>,
    pub(super) code: Option<String>,
    pub(super) redirect_uri: Option<String>,
    pub(super) code_verifier: Option<String>,
    pub(super) subject_token: Option<String>,
    pub(super) subject_token_type: Option<String>,
    pub(super) scope: Option<String>,
}

/// `POST /oauth2/token`.
pub async fn token(
    State(state): State<IdentityState>,
    addr: ClientAddr,
    headers: HeaderMap,
    WithRejection(Form(form), _): WithRejection<Form<TokenForm>, OAuthError>,
) -> Result<Response, OAuthError> {
    let client = authenticate_client(&state, &headers, &form).await?;
    if !client.allows(&form.grant_type) {
        return Err(OAuthError::new(
            "unauthorized_client",
            format!("This client may not use the {} grant.", form.grant_type),
        ));
    }
    let body = match form.grant_type.as_str() {
        "refresh_token" => {
            let refresh = form
                .refresh_token
                .as_deref()
                .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is required."))?;
            json!(state.tokens.refresh(refresh, &client.id).await?)
        }
        GRANT_TOKEN_EXCHANGE => token_exchange(&state, &addr, &client, &form).await?,
        "client_credentials" => client_credentials(&state, &client, &form).await?,
        "authorization_code" => authorization_code(&state, &client, &form).await?,
        other => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!("Unsupported grant type {:?}.", short(other)),
            ));
        }
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

pub(super) fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

/// RFC 8693: an Open edX JWT (or an LMS-signed chat ticket) in, the gateway's tokens out.
pub(super) async fn token_exchange(
    state: &IdentityState,
    addr: &ClientAddr,
    client: &Client,
    form: &TokenForm,
) -> Result<serde_json::Value, OAuthError> {
    if form.subject_token_type.as_deref() == Some(TOKEN_TYPE_CHAT_TICKET) {
        let ticket = form
            .subject_token
            .as_deref()
            .ok_or_else(|| OAuthError::new("invalid_request", "subject_token is required."))?;
        return ticket_sign_in(state, addr, client, ticket).await;
    }
    let edx = state
        .openedx
        .as_ref()
        .ok_or_else(|| OAuthError::new("unsupported_grant_type", "Open edX is not configured."))?;
    let subject = form
        .subject_token
        .as_deref()
        .ok_or_else(|| OAuthError::new("invalid_request", "subject_token is required."))?;
    match form.subject_token_type.as_deref() {
        Some(TOKEN_TYPE_JWT | TOKEN_TYPE_ACCESS) => {}
        _ => return Err(OAuthError::new("invalid_request", format!("subject_token_type must be {TOKEN_TYPE_JWT}."))),
    }
    // An Open edX token buys a gateway session only for a client that can prove who it is.
    if !client.confidential {
        return Err(OAuthError::new(
            "unauthorized_client",
            "Only a registered confidential client may exchange an Open edX token.",
        ));
    }
    if let Err(wait) = state.login_limiter.check(&format!("exchange:{}", addr.key())) {
        return Err(OAuthError::new("slow_down", format!("Too many attempts; retry in {} s.", wait.as_secs() + 1)));
    }
    let (claims, subject_token) = edx.identify_subject(subject).await.map_err(|e| {
        tracing::info!(error = %e, "token exchange refused");
        match e {
            crate::identity::openedx::OpenEdxError::InvalidToken(why) => {
                OAuthError::new("invalid_grant", format!("The subject token is not acceptable: {why}."))
            }
            _ => OAuthError::new("temporarily_unavailable", "The LMS could not be asked about this token."),
        }
    })?;
    // The session ends with the token it was bought with, and each token buys one session.
    let expires_ms = subject_token.expires_at.map(|s| s.saturating_mul(1000));
    let remembered_until = expires_ms.unwrap_or_else(|| now_ms() + 24 * 3600 * 1000);
    let first_use = state
        .db
        .spend_token(&edx.config().issuer, &subject_token.once_key, remembered_until)
        .await
        .map_err(OAuthError::server)?;
    if !first_use {
        tracing::info!("token exchange refused: the subject token was exchanged already");
        return Err(OAuthError::new("invalid_grant", "This subject token was exchanged already."));
    }
    let user = state.db.upsert_identity(&claims).await.map_err(OAuthError::server)?;
    let grant = Grant { client_id: client.id.clone(), scope: scopes::CHAT.into(), ctx: None, service: false };
    let pair = state.tokens.start_login_until(&user, &grant, expires_ms).await?;
    let mut body = json!(pair);
    body["issued_token_type"] = json!(TOKEN_TYPE_ACCESS);
    Ok(body)
}

/// LMS sign-in: the chat ticket is the LMS vouching for its user (the IbalXBlock minted it behind
/// the LMS session). Each ticket signs in once; the session is one access token, because the page
/// can always ask the LMS for a new ticket — nothing here outlives what the LMS said.
pub(super) async fn ticket_sign_in(
    state: &IdentityState,
    addr: &ClientAddr,
    client: &Client,
    ticket: &str,
) -> Result<serde_json::Value, OAuthError> {
    let verifier = state.tickets.as_deref().ok_or_else(|| {
        OAuthError::new("invalid_request", "Chat tickets are not accepted here: TICKET_JWKS is not configured.")
    })?;
    if let Err(wait) = state.login_limiter.check(&format!("exchange:{}", addr.key())) {
        return Err(OAuthError::new("slow_down", format!("Too many attempts; retry in {} s.", wait.as_secs() + 1)));
    }
    let claims = verifier.verify(ticket).map_err(|e| {
        tracing::info!(code = e.code().as_str(), reason = %e, "chat ticket sign-in refused");
        OAuthError::new("invalid_grant", format!("The chat ticket is not acceptable: {e}."))
    })?;
    // Remembered a little past its expiry, as long as the verifier's leeway accepts it.
    let spent_until = claims.expires_at_ms() + 60_000;
    if !state.db.spend_token(verifier.issuer(), &claims.jti, spent_until).await.map_err(OAuthError::server)? {
        tracing::info!("chat ticket sign-in refused: the ticket was used already");
        return Err(OAuthError::new("invalid_grant", "This chat ticket was used already; ask the LMS for a new one."));
    }
    let user =
        state.db.upsert_identity(&claims.identity(verifier.identity_issuer())).await.map_err(OAuthError::server)?;
    let course = CourseKey::of(&claims.context());
    state.db.set_course_role(&user.id, &course, claims.role).await.map_err(OAuthError::server)?;
    let grant = Grant { client_id: client.id.clone(), scope: scopes::CHAT.into(), ctx: None, service: false };
    tracing::info!(course = %course.course_id, "signed in by chat ticket");
    let mut body = json!(state.tokens.access_only(&user, &grant)?);
    body["issued_token_type"] = json!(TOKEN_TYPE_ACCESS);
    Ok(body)
}

/// A registered confidential client acting for itself.
pub(super) async fn client_credentials(
    state: &IdentityState,
    client: &Client,
    form: &TokenForm,
) -> Result<serde_json::Value, OAuthError> {
    let claims = IdentityClaims {
        issuer: CLIENT_ISSUER.into(),
        subject: client.id.clone(),
        username: client.id.clone(),
        name: client.name.clone(),
        email: String::new(),
        role: None,
    };
    // A public client cannot prove it is itself, so it never acts for itself.
    if !client.confidential {
        return Err(OAuthError::new("unauthorized_client", "Only a confidential client may use client credentials."));
    }
    let scope = scopes::grant_to_service(form.scope.as_deref(), &client.scopes).map_err(|bad| {
        OAuthError::new("invalid_scope", format!("The scope {bad:?} is not registered for this client."))
    })?;
    let user = state.db.upsert_identity(&claims).await.map_err(OAuthError::server)?;
    let grant = Grant { client_id: client.id.clone(), scope, ctx: None, service: true };
    Ok(json!(state.tokens.access_only(&user, &grant)?))
}

/// What an authorization code stands for until it is redeemed (once, within a minute).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct AuthzCode {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) user_id: String,
    pub(super) code_challenge: String,
    pub(super) scope: String,
    pub(super) nonce: Option<String>,
    pub(super) auth_time: i64,
}

pub(super) fn code_record_id(code: &str) -> String {
    format!("authz:{}", sha256_hex(code))
}

pub(super) async fn authorization_code(
    state: &IdentityState,
    client: &Client,
    form: &TokenForm,
) -> Result<serde_json::Value, OAuthError> {
    let code = form.code.as_deref().ok_or_else(|| OAuthError::new("invalid_request", "code is required."))?;
    // Taken first: a code presented at all is spent, whatever is wrong with the rest.
    let record = state.db.session_take(&code_record_id(code), now_ms()).await.map_err(OAuthError::server)?;
    let Some(record) = record else {
        return Err(OAuthError::new("invalid_grant", "The code is unknown, expired or already used."));
    };
    let verifier = form
        .code_verifier
        .as_deref()
        .ok_or_else(|| OAuthError::new("invalid_request", "code_verifier is required (PKCE)."))?;
    let authz: AuthzCode = serde_json::from_str(&record).map_err(OAuthError::server)?;
    if authz.client_id != client.id {
        return Err(OAuthError::new("invalid_grant", "The code was issued to another client."));
    }
    if form.redirect_uri.as_deref() != Some(authz.redirect_uri.as_str()) {
        return Err(OAuthError::new("invalid_grant", "redirect_uri does not match the authorization request."));
    }
    if !constant_time_eq(&s256(verifier), &authz.code_challenge) {
        return Err(OAuthError::new("invalid_grant", "The code_verifier does not match the code_challenge."));
    }
    let user = state.db.get_user(&authz.user_id).await.map_err(OAuthError::server)?;
    let grant = Grant { client_id: client.id.clone(), scope: authz.scope.clone(), ctx: None, service: false };
    let mut pair = state.tokens.start_login(&user, &grant).await?;
    if scopes::has(&authz.scope, scopes::OPENID) {
        pair.id_token =
            Some(state.tokens.id_token(&user, &client.id, &authz.scope, authz.nonce.as_deref(), authz.auth_time)?);
    }
    Ok(json!(pair))
}
