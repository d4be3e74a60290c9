//! The launch: the platform posts the id_token; once this browser's login state is confirmed
//! (cookie, or the platform's storage frame) and the token validates, the chat page opens signed
//! in, in the launch's context, with the user's role there.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{Html, Response};
use axum_extra::extract::WithRejection;
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::claims::{DEEP_LINKING_REQUEST, LaunchClaims};
use super::deep_link;
use super::login::{PendingLaunch, storage_origin, storage_page, valid_storage_target};
use super::page::{Refusal, cookie, framed, has_cookie, state_cookie_name, state_record};
use super::validation::{self, Launch, LaunchError};
use crate::config::origin_of;
use crate::course::StaffPass;
use crate::course::ticket::{MAX_INSTRUCTIONS_CHARS, MAX_TITLE_CHARS};
use crate::crypto::{constant_time_eq, random_token, sha256_hex};
use crate::domain::{
    ChatContext, ChatMode, Controls, CourseKey, Disclosure, IdentityClaims, MAX_DISCLOSURE_CHARS, TutorStyle, clip,
    now_ms,
};
use crate::identity::tokens::Grant;
use crate::lti::state::LtiState;
use crate::store::ChatSettings;
use crate::web::error::PageError;
use crate::web::security::CspNonce;
use crate::web::widget::module_path;

/// How long the platform's storage frame has to confirm a launch's state.
const CHECK_TTL_MS: i64 = 2 * 60 * 1000;

#[derive(Debug, Deserialize)]
pub struct LaunchForm {
    id_token: Option<String>,
    state: Option<String>,
    lti_storage_target: Option<String>,
}

/// `POST /lti/launch`: the platform posts the id_token here.
pub async fn launch(
    State(state): State<LtiState>,
    nonce: CspNonce,
    headers: HeaderMap,
    WithRejection(Form(form), _): WithRejection<Form<LaunchForm>, Refusal>,
) -> Result<Response, Refusal> {
    let (Some(id_token), Some(login_state)) =
        (form.id_token.filter(|t| !t.is_empty()), form.state.filter(|s| !s.is_empty()))
    else {
        return Err(Refusal::new("invalid_request", "id_token and state are required."));
    };
    if has_cookie(&headers, &state_cookie_name(&login_state)) {
        return complete_launch(&state, &nonce, &id_token, &login_state).await;
    }
    // No cookie (blocked in the platform's iframe): ask the platform's storage frame instead.
    match form.lti_storage_target.filter(|t| valid_storage_target(t)) {
        Some(target) => storage_check(&state, &nonce, id_token, login_state, target).await,
        None => Err(Refusal::state_mismatch()),
    }
}

/// What a launch waits on while the platform's storage frame confirms the state.
#[derive(Debug, Serialize, Deserialize)]
struct PendingCheck {
    /// SHA-256 of the id_token: the token itself goes back and forth in the page (the platform put
    /// it there), never into the gateway's tables.
    id_token_hash: String,
    state: String,
}

async fn storage_check(
    state: &LtiState,
    nonce: &CspNonce,
    id_token: String,
    login_state: String,
    target: String,
) -> Result<Response, Refusal> {
    let record = state.db.session_load(&state_record(&login_state), now_ms()).await?;
    let pending =
        record.and_then(|r| serde_json::from_str::<PendingLaunch>(&r).ok()).ok_or_else(Refusal::state_mismatch)?;
    let platform = state.db.get_lti_platform(&pending.platform_id).await?;
    let ticket = random_token(32);
    let check = PendingCheck { id_token_hash: sha256_hex(&id_token), state: login_state.clone() };
    let check = serde_json::to_string(&check).unwrap_or_default();
    state.db.session_save(&format!("lti_check:{ticket}"), &check, now_ms() + CHECK_TTL_MS).await?;
    let data = json!({
        "mode": "get", "storage_target": target, "platform_origin": storage_origin(&platform),
        "state": login_state, "ticket": ticket, "id_token": id_token,
    });
    storage_page(state, nonce, &platform, &data).map_err(|e| e.framable_by(&platform))
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
pub async fn verify(
    State(state): State<LtiState>,
    nonce: CspNonce,
    WithRejection(Form(form), _): WithRejection<Form<VerifyForm>, Refusal>,
) -> Result<Response, Refusal> {
    let record = state.db.session_take(&format!("lti_check:{}", form.ticket), now_ms()).await?;
    let check =
        record.and_then(|r| serde_json::from_str::<PendingCheck>(&r).ok()).ok_or_else(Refusal::state_mismatch)?;
    if form.stored_state.is_empty()
        || !constant_time_eq(&form.stored_state, &check.state)
        || !constant_time_eq(&sha256_hex(&form.id_token), &check.id_token_hash)
    {
        return Err(Refusal::state_mismatch());
    }
    complete_launch(&state, &nonce, &form.id_token, &check.state).await
}

/// The state is this browser's: take its record (once) and validate the id_token against it.
async fn complete_launch(
    state: &LtiState,
    nonce: &CspNonce,
    id_token: &str,
    login_state: &str,
) -> Result<Response, Refusal> {
    let record = state.db.session_take(&state_record(login_state), now_ms()).await?;
    let pending =
        record.and_then(|r| serde_json::from_str::<PendingLaunch>(&r).ok()).ok_or_else(Refusal::state_mismatch)?;
    let launch = match validation::validate(&state.db, &state.lti_jwks, id_token, &pending.nonce).await {
        Ok(launch) if launch.platform.id == pending.platform_id => launch,
        Ok(_) => return Err(Refusal::new("state_mismatch", "This launch belongs to another platform's login.")),
        Err(LaunchError::Db(e)) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(code = e.code(), error = %e, "LTI launch refused");
            return Err(Refusal::new(e.code(), format!("The launch is not valid: {e}.")));
        }
    };
    let clear = cookie(state, &state_cookie_name(login_state), "", 0);
    let page = if launch.message_type == DEEP_LINKING_REQUEST {
        deep_link::picker(state, nonce, &launch).await
    } else {
        chat_page(state, nonce, &launch).await
    };
    let mut response = page.map_err(|e| e.framable_by(&launch.platform))?;
    if let Ok(value) = clear.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// What the platform signed for this link (deep-linking custom parameters) is what the assistant
/// gets; the widget's settings never reach the prompt.
fn chat_settings(claims: &LaunchClaims) -> ChatSettings {
    let title = claims.custom("title").or_else(|| claims.link_title().map(str::to_owned));
    ChatSettings {
        title: title.as_deref().unwrap_or("IBAL Chat").trim().chars().take(MAX_TITLE_CHARS).collect(),
        instructions: claims
            .custom("instructions")
            .unwrap_or_default()
            .trim()
            .chars()
            .take(MAX_INSTRUCTIONS_CHARS)
            .collect(),
        controls: controls(claims),
    }
}

/// The course team's controls from the deep-linking custom parameters: `starters` (one per line),
/// `tutor_style` (`direct` or `guide`), `style_prompt`, `disclosure` (its version computed here,
/// as the XBlock computes it), `room_assistant` (`off` keeps the assistant out of the live room;
/// links made before it existed keep it in) and `mode` (`assistant`, `room` or `both`). Exam mode has no LTI form: a platform's exams are its own.
fn controls(claims: &LaunchClaims) -> Controls {
    let disclosure = clip(&claims.custom("disclosure").unwrap_or_default(), MAX_DISCLOSURE_CHARS);
    let disclosure = disclosure.as_str();
    Controls {
        starters: claims.custom("starters").unwrap_or_default().lines().map(str::to_owned).collect(),
        tutor_style: match claims.custom("tutor_style").as_deref() {
            Some("direct") => TutorStyle::Direct,
            _ => TutorStyle::Guide,
        },
        style_prompt: claims.custom("style_prompt").unwrap_or_default(),
        disclosure: Disclosure {
            text: disclosure.to_owned(),
            version: if disclosure.is_empty() { String::new() } else { sha256_hex(disclosure)[..16].to_owned() },
        },
        room_assistant: claims.custom("room_assistant").as_deref() != Some("off"),
        mode: claims.custom("mode").as_deref().and_then(ChatMode::parse).unwrap_or_default(),
        ..Controls::default()
    }
    .within_limits()
}

/// The platform's user, as the gateway keeps them.
fn identity(launch: &Launch) -> IdentityClaims {
    let claims = &launch.claims;
    let name = claims.name.clone().unwrap_or_default();
    // The platform may withhold names: fall back to something stable and not identifying.
    let username = claims
        .preferred_username
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| Some(name.clone()).filter(|n| !n.is_empty()))
        .unwrap_or_else(|| format!("learner-{}", &sha256_hex(&claims.sub)[..8]));
    IdentityClaims {
        issuer: launch.platform.issuer.clone(),
        subject: claims.sub.clone(),
        username,
        name,
        email: claims.email.clone().unwrap_or_default(),
        // A platform's roles hold in its context only, never on the gateway as a whole.
        role: None,
    }
}

/// Upserts the platform's user and renders the chat, signed in, scoped to (platform, context, link).
async fn chat_page(state: &LtiState, nonce: &CspNonce, launch: &Launch) -> Result<Response, Refusal> {
    let claims = &launch.claims;
    let platform = &launch.platform;
    let user = state.db.upsert_identity(&identity(launch)).await?;
    let ctx = ChatContext {
        platform: format!("{}|{}", platform.issuer, platform.client_id),
        course_id: claims.context_id().to_owned(),
        block_id: claims.link_id().to_owned(),
    };
    let course_role = claims.course_role();
    let settings = chat_settings(claims);
    state.db.set_course_role(&user.id, &CourseKey::of(&ctx), course_role).await?;
    state.db.save_chat_settings(&ctx, &settings).await?;
    // Course staff get their way to the course's dashboard: a sealed pass, posted from a new tab.
    let staff_pass = course_role
        .is_course_staff()
        .then(|| StaffPass::new(&user.id, &CourseKey::of(&ctx)).seal(&state.sealer))
        .flatten();
    let grant = Grant {
        client_id: format!("lti:{}", platform.client_id),
        scope: crate::identity::scopes::CHAT.into(),
        ctx: Some(ctx),
        service: false,
    };
    let (access_token, expires_in) = state.tokens.access_token(&user, &grant, None).map_err(PageError::internal)?;
    tracing::info!(platform = %platform.issuer, role = course_role.as_str(), "LTI launch");
    let gateway = origin_of(&state.config.public_url);
    let widget_settings = json!({
        "gateway_url": gateway,
        "ws_url": state.config.chat.ws_url.as_str(),
        "widget_url": format!("{gateway}{}", module_path()),
        "course_id": claims.context_id(),
        "usage_id": claims.link_id(),
        "display_name": settings.title,
        "welcome_message": "Click Start Chat to begin",
        "lang": claims.locale.as_deref().unwrap_or("en"),
        // `both`: the widget shows the live room and the assistant in tabs.
        "mode": settings.controls.mode.as_str(),
        "auth_mode": "token",
        "access_token": access_token,
        "expires_in": expires_in,
        "username": user.username,
    });
    let html = state.templates.render(
        "lti/launch.html",
        context! {
            csp_nonce => nonce.as_str(),
            staff_pass => staff_pass,
            title => settings.title,
            course_title => claims.context_title(),
            widget_embedded => crate::web::widget::embedded(),
            widget_settings => minijinja::value::Serde(widget_settings),
        },
    )?;
    let headers = [(header::CACHE_CONTROL, "no-store"), (header::REFERRER_POLICY, "no-referrer")];
    Ok(framed((headers, Html(html)), platform))
}
