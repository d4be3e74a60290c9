//! LTI 1.3 endpoints: the tool's configuration for platform administrators, OIDC login initiation,
//! the launch (a framable chat page with the widget already signed in), and deep linking.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::origin_of;
use crate::course::ticket::{MAX_INSTRUCTIONS_CHARS, MAX_TITLE_CHARS};
use crate::crypto::random_token;
use crate::domain::{ChatContext, CourseKey, IdentityClaims, new_id, now_ms};
use crate::identity::tokens::Grant;
use crate::lti::launch::{self, Launch, LaunchError};
use crate::lti::state::LtiState;
use crate::lti::{
    CLAIM_CONTEXT, CLAIM_CUSTOM, CLAIM_DEEP_LINKING_SETTINGS, CLAIM_RESOURCE_LINK, CLAIM_ROLES, DEEP_LINKING_REQUEST,
    role_from_claims,
};
use crate::store::{ChatSettings, LtiPlatform};
use crate::web::error::PageError;
use crate::web::security::{CspNonce, Framable};
use crate::web::widget::module_path;

const STATE_TTL_MS: i64 = 10 * 60 * 1000;
const DEEP_LINK_TTL_MS: i64 = 30 * 60 * 1000;

fn state_record(state: &str) -> String {
    format!("lti_state:{state}")
}

/// The browser-binding cookie of one login: one per state, so several launches on a page coexist.
fn state_cookie_name(state: &str) -> String {
    format!("ibal_lti_{}", &crate::crypto::sha256_hex(state)[..24])
}

/// Cookies inside the platform's iframe are third-party: `SameSite=None; Secure; Partitioned`
/// over https. Plain http (development) can only use Lax.
fn cookie(state: &LtiState, name: &str, value: &str, max_age: i64) -> String {
    let attrs = if state.config.is_https() { "SameSite=None; Secure; Partitioned" } else { "SameSite=Lax" };
    format!("{name}={value}; Path=/lti; HttpOnly; Max-Age={max_age}; {attrs}")
}

fn launch_url(state: &LtiState) -> String {
    format!("{}/lti/launch", state.config.public_url.as_str().trim_end_matches('/'))
}

/// An error page the platform's iframe may show (the default refuses framing).
fn framed_error(platform: Option<&LtiPlatform>, error: PageError) -> Response {
    let mut response = error.into_response();
    response.extensions_mut().insert(Framable {
        extra_ancestors: platform.map(platform_origins).unwrap_or_default(),
        ..Framable::default()
    });
    response
}

fn lti_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> PageError {
    PageError::new(status, code, "This launch cannot be completed", message.into())
}

/// The origins a platform frames us from: its issuer's and its login endpoint's.
fn platform_origins(platform: &LtiPlatform) -> Vec<String> {
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

/// `GET /lti/config.json`: what a platform administrator enters to register the tool.
pub async fn config(State(state): State<LtiState>) -> Json<Value> {
    let base = state.config.public_url.as_str().trim_end_matches('/');
    Json(json!({
        "title": "IBAL chat",
        "description": "An AI course assistant and live course chat.",
        "oidc_initiation_url": format!("{base}/lti/login"),
        "target_link_uri": launch_url(&state),
        "redirect_uris": [launch_url(&state)],
        "deep_linking_url": launch_url(&state),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "public_jwk_set": state.tokens.keys().jwks(),
        "messages": [{"type": "LtiResourceLinkRequest"}, {"type": DEEP_LINKING_REQUEST}],
        "claims": ["iss", "sub", "name", "email", "preferred_username"],
        "scopes": [],
    }))
}

#[derive(Debug, Deserialize)]
pub struct LoginParams {
    iss: Option<String>,
    login_hint: Option<String>,
    target_link_uri: Option<String>,
    lti_message_hint: Option<String>,
    client_id: Option<String>,
    lti_deployment_id: Option<String>,
    /// The platform's frame that keeps state for us (LTI client-side postMessage storage).
    lti_storage_target: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PendingLaunch {
    platform_id: String,
    nonce: String,
}

/// `GET|POST /lti/login`: OIDC third-party login initiation.
pub async fn login(State(state): State<LtiState>, nonce: CspNonce, RawQuery(query): RawQuery, body: Bytes) -> Response {
    // Platforms initiate with GET (query) or POST (form body): the same parameters either way.
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    pairs.extend(url::form_urlencoded::parse(&body).into_owned());
    let params: LoginParams =
        match serde_json::from_value(Value::Object(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())) {
            Ok(p) => p,
            Err(_) => {
                return framed_error(
                    None,
                    lti_error(StatusCode::BAD_REQUEST, "invalid_request", "The login request is malformed."),
                );
            }
        };
    match login_inner(&state, &nonce, params).await {
        Ok(response) => response,
        Err((platform, error)) => framed_error(platform.as_ref(), error),
    }
}

async fn login_inner(
    state: &LtiState,
    csp: &CspNonce,
    p: LoginParams,
) -> Result<Response, (Option<LtiPlatform>, PageError)> {
    let bad = |message: &str| (None, lti_error(StatusCode::BAD_REQUEST, "invalid_request", message.to_owned()));
    let issuer = p.iss.filter(|i| !i.is_empty()).ok_or_else(|| bad("iss is required."))?;
    let login_hint = p.login_hint.filter(|h| !h.is_empty()).ok_or_else(|| bad("login_hint is required."))?;
    if p.target_link_uri.as_deref().is_none_or(str::is_empty) {
        return Err(bad("target_link_uri is required."));
    }
    let platforms =
        state.db.find_lti_platforms(&issuer, p.client_id.as_deref()).await.map_err(|e| (None, PageError::from(e)))?;
    let platform = match platforms.as_slice() {
        [one] => one.clone(),
        [] => {
            tracing::warn!(issuer = %issuer, "LTI login refused: unknown platform");
            return Err((
                None,
                lti_error(
                    StatusCode::BAD_REQUEST,
                    "unknown_platform",
                    "This platform is not registered with the tool.",
                ),
            ));
        }
        _ => return Err(bad("Several registrations match this issuer: the platform must send client_id.")),
    };
    if let Some(deployment) = p.lti_deployment_id.as_deref()
        && !state.db.has_lti_deployment(&platform.id, deployment).await.map_err(|e| (None, PageError::from(e)))?
    {
        tracing::warn!(issuer = %issuer, "LTI login refused: unknown deployment");
        return Err((
            Some(platform),
            lti_error(
                StatusCode::BAD_REQUEST,
                "invalid_deployment",
                "This deployment is not registered with the tool.",
            ),
        ));
    }
    let login_state = random_token(32);
    let nonce = random_token(32);
    let record = serde_json::to_string(&PendingLaunch { platform_id: platform.id.clone(), nonce: nonce.clone() })
        .unwrap_or_default();
    state
        .db
        .session_save(&state_record(&login_state), &record, now_ms() + STATE_TTL_MS)
        .await
        .map_err(|e| (None, PageError::from(e)))?;

    let mut url = url::Url::parse(&platform.auth_url).map_err(|_| bad("The platform's login URL is not a URL."))?;
    url.query_pairs_mut()
        .append_pair("scope", "openid")
        .append_pair("response_type", "id_token")
        .append_pair("response_mode", "form_post")
        .append_pair("prompt", "none")
        .append_pair("client_id", &platform.client_id)
        .append_pair("redirect_uri", &launch_url(state))
        .append_pair("login_hint", &login_hint)
        .append_pair("state", &login_state)
        .append_pair("nonce", &nonce);
    if let Some(hint) = p.lti_message_hint.as_deref() {
        url.query_pairs_mut().append_pair("lti_message_hint", hint);
    }
    let storage_target = p.lti_storage_target.filter(|t| valid_storage_target(t));
    if let Some(target) = &storage_target {
        url.query_pairs_mut().append_pair("lti_storage_target", target);
    }
    // The cookie always; with a storage target the platform's frame keeps the state as well,
    // for browsers that drop third-party cookies.
    let mut response = match &storage_target {
        None => Redirect::to(url.as_str()).into_response(),
        Some(target) => {
            let data = json!({
                "mode": "put", "storage_target": target, "platform_origin": storage_origin(&platform),
                "state": login_state, "nonce": nonce, "auth_url": url.as_str(),
            });
            storage_page(state, csp, &platform, data).map_err(|e| (Some(platform.clone()), e))?
        }
    };
    if let Ok(value) = cookie(state, &state_cookie_name(&login_state), "1", STATE_TTL_MS / 1000).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Frame names are short identifiers ("_parent", "post_message_forwarding").
fn valid_storage_target(target: &str) -> bool {
    !target.is_empty()
        && target.len() <= 64
        && target.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The origin the platform's storage frame answers from: its OIDC authorization endpoint's.
fn storage_origin(platform: &LtiPlatform) -> String {
    url::Url::parse(&platform.auth_url).map(|u| origin_of(&u)).unwrap_or_default()
}

/// The page that talks to the platform's storage frame (put at login, get at launch).
fn storage_page(
    state: &LtiState,
    nonce: &CspNonce,
    platform: &LtiPlatform,
    data: Value,
) -> Result<Response, PageError> {
    let html = state
        .templates
        .render("lti/storage.html", context! { csp_nonce => nonce.as_str(), data => minijinja::value::Serde(&data) })?;
    let mut response = ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response();
    response.extensions_mut().insert(Framable { extra_ancestors: platform_origins(platform), ..Framable::default() });
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct LaunchForm {
    id_token: Option<String>,
    state: Option<String>,
    lti_storage_target: Option<String>,
}

fn has_cookie(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim().split_once('=').is_some_and(|(n, _)| n == name))
}

/// `POST /lti/launch`: the platform posts the id_token here.
pub async fn launch(
    State(state): State<LtiState>,
    nonce: CspNonce,
    headers: HeaderMap,
    Form(form): Form<LaunchForm>,
) -> Response {
    let (Some(id_token), Some(login_state)) =
        (form.id_token.filter(|t| !t.is_empty()), form.state.filter(|s| !s.is_empty()))
    else {
        return framed_error(
            None,
            lti_error(StatusCode::BAD_REQUEST, "invalid_request", "id_token and state are required."),
        );
    };
    if has_cookie(&headers, &state_cookie_name(&login_state)) {
        return complete_launch(&state, &nonce, &id_token, &login_state).await;
    }
    // No cookie (blocked in the platform's iframe): ask the platform's storage frame instead.
    match form.lti_storage_target.filter(|t| valid_storage_target(t)) {
        Some(target) => storage_check(&state, &nonce, id_token, login_state, target).await,
        None => state_mismatch(),
    }
}

fn state_mismatch() -> Response {
    tracing::warn!("LTI launch refused: state mismatch");
    framed_error(
        None,
        lti_error(
            StatusCode::BAD_REQUEST,
            "state_mismatch",
            "This launch did not start in this browser, or it expired. Reload the page to launch again.",
        ),
    )
}

/// What a launch waits on while the platform's storage frame confirms the state.
#[derive(Debug, Serialize, Deserialize)]
struct PendingCheck {
    /// SHA-256 of the id_token: the token itself goes back and forth in the page (the platform put
    /// it there), never into the gateway's tables.
    id_token_hash: String,
    state: String,
}

const CHECK_TTL_MS: i64 = 2 * 60 * 1000;

async fn storage_check(
    state: &LtiState,
    nonce: &CspNonce,
    id_token: String,
    login_state: String,
    target: String,
) -> Response {
    let record = match state.db.session_load(&state_record(&login_state), now_ms()).await {
        Ok(Some(record)) => record,
        Ok(None) => return state_mismatch(),
        Err(e) => return framed_error(None, e.into()),
    };
    let Some(pending) = serde_json::from_str::<PendingLaunch>(&record).ok() else { return state_mismatch() };
    let platform = match state.db.get_lti_platform(&pending.platform_id).await {
        Ok(p) => p,
        Err(e) => return framed_error(None, e.into()),
    };
    let ticket = random_token(32);
    let check = PendingCheck { id_token_hash: crate::crypto::sha256_hex(&id_token), state: login_state.clone() };
    let check = serde_json::to_string(&check).unwrap_or_default();
    if let Err(e) = state.db.session_save(&format!("lti_check:{ticket}"), &check, now_ms() + CHECK_TTL_MS).await {
        return framed_error(None, e.into());
    }
    let data = json!({ "mode": "get", "storage_target": target, "platform_origin": storage_origin(&platform), "state": login_state, "ticket": ticket, "id_token": id_token });
    storage_page(state, nonce, &platform, data).unwrap_or_else(|e| framed_error(Some(&platform), e))
}

#[derive(Debug, Deserialize)]
pub struct VerifyForm {
    ticket: String,
    #[serde(default)]
    id_token: String,
    #[serde(default)]
    stored_state: String,
}

/// `POST /lti/launch/verify`: the platform's storage frame gave back the state it kept for this
/// browser; it must be the launch's.
pub async fn verify(State(state): State<LtiState>, nonce: CspNonce, Form(form): Form<VerifyForm>) -> Response {
    let record = match state.db.session_take(&format!("lti_check:{}", form.ticket), now_ms()).await {
        Ok(record) => record,
        Err(e) => return framed_error(None, e.into()),
    };
    let Some(check) = record.and_then(|r| serde_json::from_str::<PendingCheck>(&r).ok()) else {
        return state_mismatch();
    };
    if form.stored_state.is_empty() || !crate::crypto::constant_time_eq(&form.stored_state, &check.state) {
        return state_mismatch();
    }
    if !crate::crypto::constant_time_eq(&crate::crypto::sha256_hex(&form.id_token), &check.id_token_hash) {
        return state_mismatch();
    }
    complete_launch(&state, &nonce, &form.id_token, &check.state).await
}

/// The state is this browser's: take its record (once) and validate the id_token against it.
async fn complete_launch(state: &LtiState, nonce: &CspNonce, id_token: &str, login_state: &str) -> Response {
    let record = match state.db.session_take(&state_record(login_state), now_ms()).await {
        Ok(record) => record,
        Err(e) => return framed_error(None, e.into()),
    };
    let Some(pending) = record.and_then(|r| serde_json::from_str::<PendingLaunch>(&r).ok()) else {
        return state_mismatch();
    };
    let launch = match launch::validate(&state.db, &state.lti_jwks, id_token, &pending.nonce).await {
        Ok(launch) if launch.platform.id == pending.platform_id => launch,
        Ok(_) => {
            return framed_error(
                None,
                lti_error(
                    StatusCode::BAD_REQUEST,
                    "state_mismatch",
                    "This launch belongs to another platform's login.",
                ),
            );
        }
        Err(LaunchError::Db(e)) => return framed_error(None, e.into()),
        Err(e) => {
            tracing::warn!(code = e.code(), error = %e, "LTI launch refused");
            return framed_error(
                None,
                lti_error(StatusCode::BAD_REQUEST, e.code(), format!("The launch is not valid: {e}.")),
            );
        }
    };
    let clear = cookie(state, &state_cookie_name(login_state), "", 0);
    let mut response = if launch.message_type == DEEP_LINKING_REQUEST {
        deep_link_picker(state, nonce, &launch).await
    } else {
        chat_page(state, nonce, &launch).await
    };
    if let Ok(value) = clear.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Upserts the platform's user and renders the chat, signed in, scoped to (platform, context, link).
async fn chat_page(state: &LtiState, nonce: &CspNonce, launch: &Launch) -> Response {
    let claims = &launch.claims;
    let platform = &launch.platform;
    let subject = claims["sub"].as_str().unwrap_or_default();
    let roles: Vec<String> = claims[CLAIM_ROLES]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let name = claims["name"].as_str().unwrap_or_default();
    // The platform may withhold names: fall back to something stable and not identifying.
    let username = claims["preferred_username"]
        .as_str()
        .filter(|u| !u.is_empty())
        .or(Some(name).filter(|n| !n.is_empty()))
        .map_or_else(|| format!("learner-{}", &crate::crypto::sha256_hex(subject)[..8]), str::to_owned);
    let identity = IdentityClaims {
        issuer: platform.issuer.clone(),
        subject: subject.to_owned(),
        username,
        name: name.to_owned(),
        email: claims["email"].as_str().unwrap_or_default().to_owned(),
        // A platform's roles hold in its context only (below), never on the gateway as a whole.
        role: None,
    };
    let user = match state.db.upsert_identity(&identity).await {
        Ok(user) => user,
        Err(e) => return framed_error(Some(platform), e.into()),
    };
    let context_id = claims[CLAIM_CONTEXT]["id"].as_str().unwrap_or_default();
    let link_id = claims[CLAIM_RESOURCE_LINK]["id"].as_str().unwrap_or_default();
    let ctx = ChatContext {
        platform: format!("{}|{}", platform.issuer, platform.client_id),
        course_id: context_id.to_owned(),
        block_id: link_id.to_owned(),
    };
    let course_role = role_from_claims(&roles);
    let title = claims[CLAIM_CUSTOM]["title"]
        .as_str()
        .or_else(|| claims[CLAIM_RESOURCE_LINK]["title"].as_str())
        .unwrap_or("IBAL Chat");
    // What the platform signed for this link (deep-linking custom parameters) is what the assistant
    // gets; the widget's settings never reach the prompt.
    let settings = ChatSettings {
        title: title.trim().chars().take(MAX_TITLE_CHARS).collect(),
        instructions: claims[CLAIM_CUSTOM]["instructions"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .chars()
            .take(MAX_INSTRUCTIONS_CHARS)
            .collect(),
    };
    let recorded = async {
        state.db.set_course_role(&user.id, &CourseKey::of(&ctx), course_role).await?;
        state.db.save_chat_settings(&ctx, &settings).await
    };
    if let Err(e) = recorded.await {
        return framed_error(Some(platform), e.into());
    }
    let grant = Grant {
        client_id: format!("lti:{}", platform.client_id),
        scope: crate::identity::scopes::CHAT.into(),
        ctx: Some(ctx),
        service: false,
    };
    let (access_token, expires_in) = match state.tokens.access_token(&user, &grant, None) {
        Ok(token) => token,
        Err(e) => return framed_error(Some(platform), PageError::internal(e)),
    };
    tracing::info!(platform = %platform.issuer, role = course_role.as_str(), "LTI launch");
    let gateway = origin_of(&state.config.public_url);
    let settings = json!({
        "gateway_url": gateway,
        "ws_url": state.config.chat.ws_url.as_str(),
        "widget_url": format!("{gateway}{}", module_path()),
        "course_id": context_id,
        "usage_id": link_id,
        "display_name": title,
        "welcome_message": "Click Start Chat to begin",
        "lang": claims["locale"].as_str().unwrap_or("en"),
        "auth_mode": "token",
        "access_token": access_token,
        "expires_in": expires_in,
        "username": user.username,
    });
    let html = state.templates.render(
        "lti/launch.html",
        context! {
            csp_nonce => nonce.as_str(),
            title => title,
            course_title => claims[CLAIM_CONTEXT]["title"].as_str().unwrap_or_default(),
            widget_embedded => crate::web::widget::embedded(),
            widget_settings => minijinja::value::Serde(settings),
        },
    );
    match html {
        Ok(html) => {
            let mut response =
                ([(header::CACHE_CONTROL, "no-store"), (header::REFERRER_POLICY, "no-referrer")], Html(html))
                    .into_response();
            response
                .extensions_mut()
                .insert(Framable { extra_ancestors: platform_origins(platform), ..Framable::default() });
            response
        }
        Err(e) => framed_error(Some(platform), e.into()),
    }
}

/// What a deep-linking request needs to answer, kept while the instructor fills in the form.
#[derive(Debug, Serialize, Deserialize)]
struct PendingDeepLink {
    platform_id: String,
    deployment_id: String,
    return_url: String,
    data: Option<String>,
}

async fn deep_link_picker(state: &LtiState, nonce: &CspNonce, launch: &Launch) -> Response {
    let settings = &launch.claims[CLAIM_DEEP_LINKING_SETTINGS];
    let pending = PendingDeepLink {
        platform_id: launch.platform.id.clone(),
        deployment_id: launch.deployment_id.clone(),
        return_url: settings["deep_link_return_url"].as_str().unwrap_or_default().to_owned(),
        data: settings["data"].as_str().map(str::to_owned),
    };
    let id = new_id();
    let record = serde_json::to_string(&pending).unwrap_or_default();
    if let Err(e) = state.db.session_save(&format!("lti_dl:{id}"), &record, now_ms() + DEEP_LINK_TTL_MS).await {
        return framed_error(Some(&launch.platform), e.into());
    }
    let html = state
        .templates
        .render("lti/deep_link.html", context! { csp_nonce => nonce.as_str(), request_id => id, mode => "pick" });
    match html {
        Ok(html) => {
            let mut response = Html(html).into_response();
            response
                .extensions_mut()
                .insert(Framable { extra_ancestors: platform_origins(&launch.platform), ..Framable::default() });
            response
        }
        Err(e) => framed_error(Some(&launch.platform), e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct DeepLinkForm {
    request_id: String,
    title: String,
    #[serde(default)]
    instructions: String,
}

/// `POST /lti/deep-link`: answers the platform with a signed `LtiDeepLinkingResponse` holding one
/// `ltiResourceLink` to the chat, its settings in the custom parameters.
pub async fn deep_link(State(state): State<LtiState>, nonce: CspNonce, Form(form): Form<DeepLinkForm>) -> Response {
    let record = match state.db.session_take(&format!("lti_dl:{}", form.request_id), now_ms()).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            return framed_error(
                None,
                lti_error(
                    StatusCode::BAD_REQUEST,
                    "expired",
                    "This selection expired; start it again from the course.",
                ),
            );
        }
        Err(e) => return framed_error(None, e.into()),
    };
    let Ok(pending) = serde_json::from_str::<PendingDeepLink>(&record) else {
        return framed_error(None, PageError::internal("unreadable deep-linking record"));
    };
    let platform = match state.db.get_lti_platform(&pending.platform_id).await {
        Ok(p) => p,
        Err(e) => return framed_error(None, e.into()),
    };
    let title: String = form.title.trim().chars().take(200).collect();
    let title = if title.is_empty() { "IBAL chat".to_owned() } else { title };
    let instructions: String = form.instructions.trim().chars().take(4000).collect();
    let now = now_ms() / 1000;
    let mut claims = json!({
        "iss": platform.client_id,
        "aud": platform.issuer,
        "iat": now,
        "exp": now + 600,
        "nonce": random_token(16),
        crate::lti::CLAIM_MESSAGE_TYPE: "LtiDeepLinkingResponse",
        crate::lti::CLAIM_VERSION: "1.3.0",
        crate::lti::CLAIM_DEPLOYMENT_ID: pending.deployment_id,
        "https://purl.imsglobal.org/spec/lti-dl/claim/content_items": [{
            "type": "ltiResourceLink",
            "title": title,
            "url": launch_url(&state),
            "custom": { "title": title, "instructions": instructions },
        }],
    });
    if let Some(data) = &pending.data {
        claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] = json!(data);
    }
    let jwt = match state.tokens.sign_claims(&claims) {
        Ok(jwt) => jwt,
        Err(e) => return framed_error(Some(&platform), PageError::internal(e)),
    };
    let html = state.templates.render(
        "lti/deep_link.html",
        context! { csp_nonce => nonce.as_str(), mode => "return", return_url => &pending.return_url, jwt => jwt },
    );
    match html {
        Ok(html) => {
            let mut response = ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response();
            let target = url::Url::parse(&pending.return_url).map(|u| origin_of(&u)).unwrap_or_default();
            response
                .extensions_mut()
                .insert(Framable { extra_ancestors: platform_origins(&platform), form_targets: vec![target] });
            response
        }
        Err(e) => framed_error(Some(&platform), e.into()),
    }
}
