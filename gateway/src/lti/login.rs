//! The tool's registration document and OIDC third-party login initiation (the first leg of a
//! launch), with the platform's storage frame for browsers that drop third-party cookies.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::claims::DEEP_LINKING_REQUEST;
use super::page::{Refusal, cookie, framed, launch_url, state_cookie_name, state_record};
use crate::config::origin_of;
use crate::crypto::random_token;
use crate::domain::now_ms;
use crate::lti::state::LtiState;
use crate::store::LtiPlatform;
use crate::web::security::CspNonce;

const STATE_TTL_MS: i64 = 10 * 60 * 1000;

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
struct LoginParams {
    iss: Option<String>,
    login_hint: Option<String>,
    target_link_uri: Option<String>,
    lti_message_hint: Option<String>,
    client_id: Option<String>,
    lti_deployment_id: Option<String>,
    /// The platform's frame that keeps state for us (LTI client-side postMessage storage).
    lti_storage_target: Option<String>,
}

/// What a login leaves for its launch: the platform, and the nonce the id_token must carry.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingLaunch {
    pub platform_id: String,
    pub nonce: String,
}

/// `GET|POST /lti/login`: OIDC third-party login initiation.
pub async fn login(
    State(state): State<LtiState>,
    nonce: CspNonce,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, Refusal> {
    // Platforms initiate with GET (query) or POST (form body): the same parameters either way.
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    pairs.extend(url::form_urlencoded::parse(&body).into_owned());
    let params: LoginParams =
        serde_json::from_value(Value::Object(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect()))
            .map_err(|_| Refusal::new("invalid_request", "The login request is malformed."))?;
    start_login(&state, &nonce, params).await
}

async fn start_login(state: &LtiState, csp: &CspNonce, p: LoginParams) -> Result<Response, Refusal> {
    let bad = |message: &str| Refusal::new("invalid_request", message.to_owned());
    let issuer = p.iss.filter(|i| !i.is_empty()).ok_or_else(|| bad("iss is required."))?;
    let login_hint = p.login_hint.filter(|h| !h.is_empty()).ok_or_else(|| bad("login_hint is required."))?;
    if p.target_link_uri.as_deref().is_none_or(str::is_empty) {
        return Err(bad("target_link_uri is required."));
    }
    let platforms = state.db.find_lti_platforms(&issuer, p.client_id.as_deref()).await?;
    let platform = match platforms.as_slice() {
        [one] => one.clone(),
        [] => {
            tracing::warn!(issuer = %issuer, "LTI login refused: unknown platform");
            return Err(Refusal::new("unknown_platform", "This platform is not registered with the tool."));
        }
        _ => return Err(bad("Several registrations match this issuer: the platform must send client_id.")),
    };
    if let Some(deployment) = p.lti_deployment_id.as_deref()
        && !state.db.has_lti_deployment(&platform.id, deployment).await?
    {
        tracing::warn!(issuer = %issuer, "LTI login refused: unknown deployment");
        return Err(Refusal::new("invalid_deployment", "This deployment is not registered with the tool.")
            .framable_by(&platform));
    }
    let login_state = random_token(32);
    let nonce = random_token(32);
    let record = serde_json::to_string(&PendingLaunch { platform_id: platform.id.clone(), nonce: nonce.clone() })
        .unwrap_or_default();
    state.db.session_save(&state_record(&login_state), &record, now_ms() + STATE_TTL_MS).await?;

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
            storage_page(state, csp, &platform, &data).map_err(|e| e.framable_by(&platform))?
        }
    };
    if let Ok(value) = cookie(state, &state_cookie_name(&login_state), "1", STATE_TTL_MS / 1000).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Frame names are short identifiers ("_parent", "post_message_forwarding").
pub fn valid_storage_target(target: &str) -> bool {
    !target.is_empty()
        && target.len() <= 64
        && target.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The origin the platform's storage frame answers from: its OIDC authorization endpoint's.
pub fn storage_origin(platform: &LtiPlatform) -> String {
    url::Url::parse(&platform.auth_url).map(|u| origin_of(&u)).unwrap_or_default()
}

/// The page that talks to the platform's storage frame (put at login, get at launch).
pub fn storage_page(
    state: &LtiState,
    nonce: &CspNonce,
    platform: &LtiPlatform,
    data: &Value,
) -> Result<Response, Refusal> {
    let html = state
        .templates
        .render("lti/storage.html", context! { csp_nonce => nonce.as_str(), data => minijinja::value::Serde(data) })?;
    Ok(framed(([(header::CACHE_CONTROL, "no-store")], Html(html)), platform))
}
