//! Deep linking: an instructor adds the chat to a course from the platform; the tool answers with
//! a signed `LtiDeepLinkingResponse` holding one `ltiResourceLink`, its settings in the custom
//! parameters (which the platform signs back into every launch of that link).

use axum::Form;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::WithRejection;
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::claims::{
    CLAIM_DEPLOYMENT_ID, CLAIM_DL_CONTENT_ITEMS, CLAIM_DL_DATA, CLAIM_MESSAGE_TYPE, CLAIM_VERSION,
    DEEP_LINKING_RESPONSE,
};
use super::page::{Refusal, framed, launch_url, platform_origins};
use super::validation::Launch;
use crate::config::origin_of;
use crate::crypto::random_token;
use crate::domain::{ChatMode, Controls, Disclosure, new_id, now_ms};
use crate::lti::state::LtiState;
use crate::web::error::PageError;
use crate::web::security::{CspNonce, Framable};

/// How long the instructor has to fill in the form.
const DEEP_LINK_TTL_MS: i64 = 30 * 60 * 1000;

/// What a deep-linking request needs to answer, kept while the instructor fills in the form.
#[derive(Debug, Serialize, Deserialize)]
struct PendingDeepLink {
    platform_id: String,
    deployment_id: String,
    return_url: String,
    data: Option<String>,
}

/// The form the instructor fills in, after a validated deep-linking launch.
pub async fn picker(state: &LtiState, nonce: &CspNonce, launch: &Launch) -> Result<Response, Refusal> {
    let settings = launch.claims.deep_linking_settings.clone().unwrap_or_default();
    let pending = PendingDeepLink {
        platform_id: launch.platform.id.clone(),
        deployment_id: launch.deployment_id.clone(),
        return_url: settings.deep_link_return_url.unwrap_or_default(),
        data: settings.data,
    };
    let id = new_id();
    let record = serde_json::to_string(&pending).unwrap_or_default();
    state.db.session_save(&format!("lti_dl:{id}"), &record, now_ms() + DEEP_LINK_TTL_MS).await?;
    let html = state
        .templates
        .render("lti/deep_link.html", context! { csp_nonce => nonce.as_str(), request_id => id, mode => "pick" })?;
    Ok(framed(Html(html), &launch.platform))
}

#[derive(Debug, Deserialize)]
pub struct DeepLinkForm {
    request_id: String,
    title: String,
    #[serde(default)]
    instructions: String,
    /// Conversation starters, one per line.
    #[serde(default)]
    starters: String,
    /// `direct` or `guide`.
    #[serde(default)]
    tutor_style: String,
    #[serde(default)]
    style_prompt: String,
    #[serde(default)]
    disclosure: String,
    /// A checkbox: present (checked) when the assistant may answer `@assistant` in the live room.
    #[serde(default)]
    room_assistant: Option<String>,
    /// `assistant`, `room` or `both` (the live room and the assistant, in tabs).
    #[serde(default)]
    mode: String,
}

/// `POST /lti/deep-link`: answers the platform with the signed response, posted back to it.
pub async fn deep_link(
    State(state): State<LtiState>,
    nonce: CspNonce,
    WithRejection(Form(form), _): WithRejection<Form<DeepLinkForm>, Refusal>,
) -> Result<Response, Refusal> {
    let record = state
        .db
        .session_take(&format!("lti_dl:{}", form.request_id), now_ms())
        .await?
        .ok_or_else(|| Refusal::new("expired", "This selection expired; start it again from the course."))?;
    let pending = serde_json::from_str::<PendingDeepLink>(&record)
        .map_err(|_| PageError::internal("unreadable deep-linking record"))?;
    let platform = state.db.get_lti_platform(&pending.platform_id).await?;
    let title: String = form.title.trim().chars().take(200).collect();
    let title = if title.is_empty() { "IBAL chat".to_owned() } else { title };
    let instructions: String = form.instructions.trim().chars().take(4000).collect();
    // The same limits as a launch applies (it reads these back from the platform's signature).
    let controls = Controls {
        starters: form.starters.lines().map(str::to_owned).collect(),
        style_prompt: form.style_prompt,
        disclosure: Disclosure { text: form.disclosure, version: String::new() },
        ..Controls::default()
    }
    .within_limits();
    let tutor_style = if form.tutor_style == "direct" { "direct" } else { "guide" };
    let now = now_ms() / 1000;
    let mut claims = json!({
        "iss": platform.client_id,
        "aud": platform.issuer,
        "iat": now,
        "exp": now + 600,
        "nonce": random_token(16),
        CLAIM_MESSAGE_TYPE: DEEP_LINKING_RESPONSE,
        CLAIM_VERSION: "1.3.0",
        CLAIM_DEPLOYMENT_ID: pending.deployment_id,
        CLAIM_DL_CONTENT_ITEMS: [{
            "type": "ltiResourceLink",
            "title": title,
            "url": launch_url(&state),
            "custom": {
                "title": title,
                "instructions": instructions,
                "starters": controls.starters.join("\n"),
                "tutor_style": tutor_style,
                "style_prompt": controls.style_prompt,
                "disclosure": controls.disclosure.text,
                "room_assistant": if form.room_assistant.is_some() { "on" } else { "off" },
                "mode": ChatMode::parse(form.mode.trim()).unwrap_or_default().as_str(),
            },
        }],
    });
    if let Some(data) = &pending.data {
        claims[CLAIM_DL_DATA] = json!(data);
    }
    let jwt =
        state.tokens.sign_claims(&claims).map_err(|e| Refusal::from(PageError::internal(e)).framable_by(&platform))?;
    let html = state
        .templates
        .render(
            "lti/deep_link.html",
            context! { csp_nonce => nonce.as_str(), mode => "return", return_url => &pending.return_url, jwt => jwt },
        )
        .map_err(|e| Refusal::from(e).framable_by(&platform))?;
    let mut response = ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response();
    // The page posts the response to the platform's return URL: that origin is a form target.
    let target = url::Url::parse(&pending.return_url).map(|u| origin_of(&u)).unwrap_or_default();
    response
        .extensions_mut()
        .insert(Framable { extra_ancestors: platform_origins(&platform), form_targets: vec![target] });
    Ok(response)
}
