//! `GET /oauth2/authorize` with the gateway's own sign-in page and consent.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::WithRejection;
use minijinja::context;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::crypto::{constant_time_eq, random_token};
use crate::domain::now_ms;
use crate::identity::scopes;
use crate::identity::state::IdentityState;
use crate::identity::tokens::WIDGET_CLIENT_ID;
use crate::web::client_addr::ClientAddr;
use crate::web::error::PageError;
use crate::web::security::CspNonce;

use super::CODE_TTL_MS;
use super::clients::Client;
use super::token::{AuthzCode, code_record_id};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizeQuery {
    pub(super) response_type: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) redirect_uri: Option<String>,
    pub(super) scope: Option<String>,
    pub(super) state: Option<String>,
    pub(super) code_challenge: Option<String>,
    pub(super) code_challenge_method: Option<String>,
    pub(super) nonce: Option<String>,
}

pub(super) fn redirect_error(redirect_uri: &str, error: &str, state: Option<&str>) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    url.query_pairs_mut().append_pair("error", error);
    if let Some(state) = state {
        url.query_pairs_mut().append_pair("state", state);
    }
    Redirect::to(url.as_str()).into_response()
}

/// `GET /oauth2/authorize`: registered clients, authorization code + PKCE (S256) only.
pub async fn authorize(
    State(state): State<IdentityState>,
    session: Session,
    nonce: CspNonce,
    uri: axum::http::Uri,
    WithRejection(Query(q), _): WithRejection<Query<AuthorizeQuery>, PageError>,
) -> Result<Response, PageError> {
    let bad = |message: &'static str| {
        PageError::new(StatusCode::BAD_REQUEST, "invalid_request", "Invalid sign-in request", message)
    };
    let client_id = q.client_id.clone().unwrap_or_default();
    let found = if client_id == WIDGET_CLIENT_ID { None } else { state.db.get_client(&client_id).await? };
    let Some(client) = found.map(Client::from_row) else {
        return Err(bad("The application asking you to sign in is not registered."));
    };
    let redirect_uri = q.redirect_uri.clone().unwrap_or_default();
    // Exact match only: never send a code anywhere the client did not register.
    if !client.redirect_uris.contains(&redirect_uri) {
        return Err(bad("The application's return address is not registered."));
    }
    let st = q.state.as_deref();
    if q.response_type.as_deref() != Some("code") || !client.allows("authorization_code") {
        return Ok(redirect_error(&redirect_uri, "unsupported_response_type", st));
    }
    let challenge = q.code_challenge.clone().unwrap_or_default();
    if challenge.len() < 43 || q.code_challenge_method.as_deref() != Some("S256") {
        return Ok(redirect_error(&redirect_uri, "invalid_request", st));
    }

    let Ok(scope) = scopes::grant(q.scope.as_deref(), &client.scopes) else {
        return Ok(redirect_error(&redirect_uri, "invalid_scope", st));
    };

    let user_id: Option<String> = session.get("user_id").await.map_err(PageError::internal)?;
    let Some(user_id) = user_id else {
        let next = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
        return Ok(Redirect::to(&format!("/oauth2/login?next={}", urlencode(&next))).into_response());
    };
    if !client.first_party {
        // Consent is to these scopes: asking for more asks again.
        let consented: Option<Vec<String>> = session.get("consented_clients").await.map_err(PageError::internal)?;
        if !consented.unwrap_or_default().contains(&consent_key(&client.id, &scope)) {
            return consent_page(&state, &session, &nonce, &client, &scope, &uri).await;
        }
    }
    let auth_time: i64 =
        session.get("auth_time").await.map_err(PageError::internal)?.unwrap_or_else(|| now_ms() / 1000);
    let code = random_token(32);
    let authz = AuthzCode {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.clone(),
        user_id,
        code_challenge: challenge,
        scope,
        nonce: q.nonce.clone(),
        auth_time,
    };
    let data = serde_json::to_string(&authz).map_err(PageError::internal)?;
    state.db.session_save(&code_record_id(&code), &data, now_ms() + CODE_TTL_MS).await?;
    let mut url = url::Url::parse(&redirect_uri).map_err(|_| bad("The return address is not a URL."))?;
    url.query_pairs_mut().append_pair("code", &code);
    if let Some(st) = st {
        url.query_pairs_mut().append_pair("state", st);
    }
    Ok(Redirect::to(url.as_str()).into_response())
}

pub(super) fn consent_key(client_id: &str, scope: &str) -> String {
    format!("{client_id} {scope}")
}

/// Asks the user to allow `client` exactly `scope`; the form says which scopes it allows.
pub(super) async fn consent_page(
    state: &IdentityState,
    session: &Session,
    nonce: &CspNonce,
    client: &Client,
    scope: &str,
    uri: &axum::http::Uri,
) -> Result<Response, PageError> {
    let csrf = random_token(24);
    session.insert("csrf", &csrf).await.map_err(PageError::internal)?;
    let next = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let html = state.templates.render(
        "oauth2/login.html",
        context! {
            csp_nonce => nonce.as_str(), mode => "consent", client_name => &client.name, client_id => &client.id,
            scope => scope, scope_words => scopes::described(scope), csrf => csrf, next => next,
        },
    )?;
    Ok(Html(html).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    pub(super) csrf: String,
    pub(super) client_id: String,
    pub(super) scope: String,
    pub(super) decision: String,
    pub(super) next: String,
}

/// `POST /oauth2/consent`: the user allowed (or denied) a third-party client.
pub async fn consent(
    session: Session,
    WithRejection(Form(form), _): WithRejection<Form<ConsentForm>, PageError>,
) -> Result<Response, PageError> {
    check_csrf(&session, &form.csrf).await?;
    let next = safe_next(&form.next);
    if form.decision != "allow" {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "Access denied",
            "You did not allow the application to sign you in.",
        ));
    }
    let mut consented: Vec<String> =
        session.get("consented_clients").await.map_err(PageError::internal)?.unwrap_or_default();
    consented.push(consent_key(&form.client_id, &form.scope));
    session.insert("consented_clients", consented).await.map_err(PageError::internal)?;
    Ok(Redirect::to(&next).into_response())
}

pub(super) async fn check_csrf(session: &Session, presented: &str) -> Result<(), PageError> {
    let expected: Option<String> = session.remove("csrf").await.map_err(PageError::internal)?;
    match expected {
        Some(expected) if constant_time_eq(&expected, presented) => Ok(()),
        _ => Err(PageError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "Form expired",
            "This form expired. Go back and try again.",
        )),
    }
}

/// Only our own authorize endpoint may be the target of a post-login redirect.
pub(super) fn safe_next(next: &str) -> String {
    if next.starts_with("/oauth2/authorize?") && !next.contains("//") { next.to_owned() } else { "/".to_owned() }
}

pub(super) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Debug, Deserialize)]
pub struct LoginPageQuery {
    pub(super) next: Option<String>,
}

/// `GET /oauth2/login`: sign in to the gateway (local account and/or Open edX) before authorizing.
pub async fn login_page(
    State(state): State<IdentityState>,
    session: Session,
    nonce: CspNonce,
    WithRejection(Query(q), _): WithRejection<Query<LoginPageQuery>, PageError>,
) -> Result<Response, PageError> {
    let csrf = random_token(24);
    session.insert("csrf", &csrf).await.map_err(PageError::internal)?;
    let next = safe_next(q.next.as_deref().unwrap_or("/"));
    let openedx_url = state.openedx.as_ref().map(|_| {
        let origin = crate::config::origin_of(&state.config.public_url);
        format!("/oauth/openedx/login?origin={}&next={}", urlencode(&origin), urlencode(&next))
    });
    let html = state.templates.render(
        "oauth2/login.html",
        context! {
            csp_nonce => nonce.as_str(), mode => "login", csrf => csrf, next => next,
            local_accounts => state.config.local_accounts, openedx_url => openedx_url,
        },
    )?;
    Ok(Html(html).into_response())
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub(super) csrf: String,
    pub(super) username: String,
    pub(super) password: String,
    pub(super) next: String,
}

/// `POST /oauth2/login`: a local account signs in to the gateway's session.
pub async fn login_submit(
    State(state): State<IdentityState>,
    session: Session,
    addr: ClientAddr,
    WithRejection(Form(form), _): WithRejection<Form<LoginForm>, PageError>,
) -> Result<Response, PageError> {
    check_csrf(&session, &form.csrf).await?;
    if !state.config.local_accounts {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "local_accounts_disabled",
            "Not available",
            "Local accounts are disabled on this gateway.",
        ));
    }
    let user = match crate::identity::local::check_password(&state, &addr, &form.username, &form.password).await {
        Ok(user) => user,
        Err(e) => {
            return Err(PageError::new(e.status, e.code, "Sign-in failed", e.message.clone()));
        }
    };
    session.cycle_id().await.map_err(PageError::internal)?; // a new session id at privilege change
    session.insert("user_id", &user.id).await.map_err(PageError::internal)?;
    session.insert("auth_time", now_ms() / 1000).await.map_err(PageError::internal)?;
    Ok(Redirect::to(&safe_next(&form.next)).into_response())
}
