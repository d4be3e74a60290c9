//! The gateway as an OAuth2/OIDC provider: discovery, JWKS, the token endpoint (refresh, token
//! exchange of an Open edX JWT, client credentials, authorization code + PKCE), authorize with
//! sign-in and consent, userinfo and revocation.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use base64::Engine;
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;

use crate::crypto::{constant_time_eq, random_token, s256, sha256_hex};
use crate::domain::{CourseKey, IdentityClaims, Role, now_ms};
use crate::identity::bearer::Bearer;
use crate::identity::scopes;
use crate::identity::state::IdentityState;
use crate::identity::tokens::{Grant, TokenError, WIDGET_CLIENT_ID};
use crate::store::OAuthClientRow;
use crate::web::client_addr::ClientAddr;
use crate::web::error::{ApiError, PageError};
use crate::web::security::CspNonce;

pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
/// An LMS-signed chat ticket (docs/protocol.md), exchanged for a sign-in when the LMS signs users in.
pub const TOKEN_TYPE_CHAT_TICKET: &str = "urn:ibal:params:oauth:token-type:chat-ticket";
const CODE_TTL_MS: i64 = 60_000;
/// The issuer of identities behind client-credentials tokens.
const CLIENT_ISSUER: &str = "client";

/// An error of the OAuth endpoints, in RFC 6749's shape.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "slow_down" => StatusCode::TOO_MANY_REQUESTS,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self { status, error, description: description.into() }
    }

    fn server(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "token endpoint failed");
        Self::new("server_error", "The gateway could not complete the request.")
    }
}

impl From<TokenError> for OAuthError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Invalid => Self::new("invalid_grant", "The grant is invalid."),
            TokenError::Expired => Self::new("invalid_grant", "The grant has expired."),
            TokenError::Reused => {
                Self::new("invalid_grant", "The refresh token was already used; the login has been revoked.")
            }
            TokenError::WrongClient => Self::new("invalid_grant", "The grant was issued to another client."),
            other => Self::server(other),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::debug!(error = self.error, "token request refused");
        let mut response = (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"ibal\""));
        }
        response
    }
}

/// A client as the token endpoint sees it, built-in or registered.
struct Client {
    id: String,
    grant_types: Vec<String>,
    redirect_uris: Vec<String>,
    /// The scopes it registered (space-separated).
    scopes: String,
    /// It authenticated with a secret (a public client cannot).
    confidential: bool,
    first_party: bool,
    name: String,
}

impl Client {
    fn widget() -> Self {
        Self {
            id: WIDGET_CLIENT_ID.into(),
            grant_types: vec!["refresh_token".into(), GRANT_TOKEN_EXCHANGE.into()],
            redirect_uris: Vec::new(),
            scopes: scopes::CHAT.into(),
            confidential: false,
            first_party: true,
            name: "IBAL chat".into(),
        }
    }

    fn from_row(row: OAuthClientRow) -> Self {
        Self {
            grant_types: row.grant_types.split_whitespace().map(str::to_owned).collect(),
            redirect_uris: serde_json::from_str(&row.redirect_uris).unwrap_or_default(),
            scopes: row.scopes,
            confidential: row.secret_hash.is_some(),
            first_party: row.first_party != 0,
            name: row.name,
            id: row.client_id,
        }
    }

    fn allows(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
}

async fn find_client(state: &IdentityState, client_id: &str) -> Result<Option<(Client, Option<String>)>, OAuthError> {
    if client_id == WIDGET_CLIENT_ID {
        return Ok(Some((Client::widget(), None)));
    }
    let row = state.db.get_client(client_id).await.map_err(OAuthError::server)?;
    Ok(row.map(|row| {
        let secret_hash = row.secret_hash.clone();
        (Client::from_row(row), secret_hash)
    }))
}

/// Authenticates the client: HTTP Basic or form credentials; public clients by id alone.
async fn authenticate_client(
    state: &IdentityState,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<Client, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode =
                |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
            Some((decode(id)?, decode(secret)?))
        });
    let (client_id, secret) = match basic {
        Some((id, secret)) => (id, Some(secret)),
        None => (form.client_id.clone().unwrap_or_default(), form.client_secret.clone()),
    };
    if client_id.is_empty() {
        return Err(OAuthError::new("invalid_client", "Client authentication is required."));
    }
    let Some((client, secret_hash)) = find_client(state, &client_id).await? else {
        return Err(OAuthError::new("invalid_client", "Unknown client."));
    };
    match (secret_hash, secret) {
        (None, _) => Ok(client),
        (Some(hash), Some(secret)) if constant_time_eq(&hash, &sha256_hex(&secret)) => Ok(client),
        _ => Err(OAuthError::new("invalid_client", "Client authentication failed.")),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    scope: Option<String>,
}

/// `POST /oauth2/token`.
pub async fn token(
    State(state): State<IdentityState>,
    addr: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
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

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

/// RFC 8693: an Open edX JWT (or an LMS-signed chat ticket) in, the gateway's tokens out.
async fn token_exchange(
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
async fn ticket_sign_in(
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
        tracing::info!(code = e.code(), reason = %e, "chat ticket sign-in refused");
        OAuthError::new("invalid_grant", format!("The chat ticket is not acceptable: {e}."))
    })?;
    // Remembered a little past its expiry, as long as the verifier's leeway accepts it.
    let spent_until = claims.expires_at_ms() + 60_000;
    if !state.db.spend_token(verifier.issuer(), &claims.jti, spent_until).await.map_err(OAuthError::server)? {
        tracing::info!("chat ticket sign-in refused: the ticket was used already");
        return Err(OAuthError::new("invalid_grant", "This chat ticket was used already; ask the LMS for a new one."));
    }
    let identity = IdentityClaims {
        issuer: verifier.identity_issuer().to_owned(),
        subject: claims.sub.clone(),
        username: claims.preferred_username.clone(),
        name: String::new(),
        email: String::new(),
        role: Some(if claims.global_staff { Role::Admin } else { Role::Learner }),
    };
    let user = state.db.upsert_identity(&identity).await.map_err(OAuthError::server)?;
    let course = CourseKey::of(&claims.context());
    state.db.set_course_role(&user.id, &course, claims.role).await.map_err(OAuthError::server)?;
    let grant = Grant { client_id: client.id.clone(), scope: scopes::CHAT.into(), ctx: None, service: false };
    tracing::info!(course = %course.course_id, "signed in by chat ticket");
    let mut body = json!(state.tokens.access_only(&user, &grant)?);
    body["issued_token_type"] = json!(TOKEN_TYPE_ACCESS);
    Ok(body)
}

/// A registered confidential client acting for itself.
async fn client_credentials(
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
    let scope = scopes::grant(form.scope.as_deref(), &client.scopes).map_err(|bad| {
        OAuthError::new("invalid_scope", format!("The scope {bad:?} is not registered for this client."))
    })?;
    let user = state.db.upsert_identity(&claims).await.map_err(OAuthError::server)?;
    let grant = Grant { client_id: client.id.clone(), scope, ctx: None, service: true };
    Ok(json!(state.tokens.access_only(&user, &grant)?))
}

/// What an authorization code stands for until it is redeemed (once, within a minute).
#[derive(Debug, Serialize, Deserialize)]
struct AuthzCode {
    client_id: String,
    redirect_uri: String,
    user_id: String,
    code_challenge: String,
    scope: String,
    nonce: Option<String>,
    auth_time: i64,
}

fn code_record_id(code: &str) -> String {
    format!("authz:{}", sha256_hex(code))
}

async fn authorization_code(
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    nonce: Option<String>,
}

fn redirect_error(redirect_uri: &str, error: &str, state: Option<&str>) -> Response {
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
    Query(q): Query<AuthorizeQuery>,
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

fn consent_key(client_id: &str, scope: &str) -> String {
    format!("{client_id} {scope}")
}

/// Asks the user to allow `client` exactly `scope`; the form says which scopes it allows.
async fn consent_page(
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
    csrf: String,
    client_id: String,
    scope: String,
    decision: String,
    next: String,
}

/// `POST /oauth2/consent`: the user allowed (or denied) a third-party client.
pub async fn consent(session: Session, Form(form): Form<ConsentForm>) -> Result<Response, PageError> {
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

async fn check_csrf(session: &Session, presented: &str) -> Result<(), PageError> {
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
fn safe_next(next: &str) -> String {
    if next.starts_with("/oauth2/authorize?") && !next.contains("//") { next.to_owned() } else { "/".to_owned() }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Debug, Deserialize)]
pub struct LoginPageQuery {
    next: Option<String>,
}

/// `GET /oauth2/login`: sign in to the gateway (local account and/or Open edX) before authorizing.
pub async fn login_page(
    State(state): State<IdentityState>,
    session: Session,
    nonce: CspNonce,
    Query(q): Query<LoginPageQuery>,
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
    csrf: String,
    username: String,
    password: String,
    next: String,
}

/// `POST /oauth2/login`: a local account signs in to the gateway's session.
pub async fn login_submit(
    State(state): State<IdentityState>,
    session: Session,
    addr: ClientAddr,
    Form(form): Form<LoginForm>,
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

/// `GET|POST /oauth2/userinfo`.
pub async fn userinfo(
    State(state): State<IdentityState>,
    Bearer(claims): Bearer,
) -> Result<Json<serde_json::Value>, ApiError> {
    let user = state.db.get_user(&claims.sub).await?;
    let mut info = json!({ "sub": user.id, "roles": [user.role.as_str()] });
    // Profile data only for clients granted `profile`, the email only for those granted `email`.
    if scopes::has(&claims.scope, scopes::PROFILE) {
        info["preferred_username"] = json!(user.username);
        info["name"] = json!(user.name);
    }
    if scopes::has(&claims.scope, scopes::EMAIL) {
        info["email"] = json!(user.email);
    }
    Ok(Json(info))
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    token: String,
}

/// `POST /oauth2/revoke` (RFC 7009): a refresh token, or an access token's login, is revoked.
/// Unknown tokens get 200 too, as the RFC asks.
pub async fn revoke(State(state): State<IdentityState>, Form(form): Form<RevokeForm>) -> Result<Response, ApiError> {
    if !state.db.revoke_refresh_token(&sha256_hex(&form.token)).await?
        && let Ok(claims) = state.tokens.verify_access(&form.token).await
        && let Some(sid) = claims.sid
    {
        state.db.revoke_refresh_family(&sid).await?;
    }
    Ok(StatusCode::OK.into_response())
}

/// `GET /.well-known/jwks.json`.
pub async fn jwks(State(state): State<IdentityState>) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(state.tokens.keys().jwks())).into_response()
}

/// `GET /.well-known/openid-configuration`.
pub async fn discovery(State(state): State<IdentityState>) -> Json<serde_json::Value> {
    let issuer = state.tokens.issuer();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", GRANT_TOKEN_EXCHANGE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes::KNOWN.map(|(scope, _)| scope),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "preferred_username", "name", "email"],
    }))
}

/// Registers a client: returns the secret once (confidential clients); only its hash is kept.
pub fn new_client(
    name: &str,
    redirect_uris: &[String],
    grant_types: &[String],
    scopes: &[String],
    first_party: bool,
    public: bool,
) -> (OAuthClientRow, Option<String>) {
    let client_id = format!("c_{}", &random_token(12));
    let secret = (!public).then(|| random_token(32));
    let row = OAuthClientRow {
        client_id,
        name: name.to_owned(),
        secret_hash: secret.as_deref().map(sha256_hex),
        redirect_uris: serde_json::to_string(redirect_uris).unwrap_or_else(|_| "[]".into()),
        grant_types: grant_types.join(" "),
        scopes: scopes.join(" "),
        first_party: i64::from(first_party),
        created_at: now_ms(),
    };
    (row, secret)
}
