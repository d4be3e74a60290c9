//! Sign-in and tokens (docs/protocol.md, "Signing in from a page on another origin"):
//! - the Open edX popup (`/oauth/openedx/login?origin=…&nonce=…&relay=…`), its answer accepted only
//!   when it repeats this attempt's nonce: a `postMessage` from the gateway's origin, or, when a
//!   cross-origin opener policy severed `window.opener`, a `BroadcastChannel` message from the relay
//!   page on the course page's own origin;
//! - local accounts (`/api/v1/auth/login`, `/api/v1/auth/register`);
//! - the token cache in `localStorage`, keyed by the gateway's origin, which skips the popup while
//!   the token is valid;
//! - refreshing before expiry (`POST /oauth2/token`, `grant_type=refresh_token`).
//!
//! The pure parts (token lifetimes, cache records, URLs, bodies, message parsing) are unit-tested on
//! the host; the rest talks to the browser.

use ibal_protocol::json::{ObjectWriter, Value};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestInit, Response, Storage};

use crate::grant::{TokenGrant, parse_http_error, parse_token_grant};
use crate::settings::{Settings, percent_encode};
use crate::text::{base64url, cat, decimal};

/// A token is used only while it has at least this long to live (ms).
const FRESH_MARGIN_MS: f64 = 30_000.0;
/// A token is refreshed this long before it expires (ms).
const REFRESH_BEFORE_MS: f64 = 60_000.0;
/// The OAuth2 client the widget refreshes as.
pub const CLIENT_ID: &str = "ibal-widget";

/// An access token with what comes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    /// The access token.
    pub access_token: String,
    /// The refresh token (not in `token` mode).
    pub refresh_token: Option<String>,
    /// When the access token expires, in ms since the epoch.
    pub expires_at_ms: f64,
    /// The username.
    pub username: Option<String>,
}

impl TokenSet {
    /// The set a grant gives at `now_ms`; `username` fills in when the grant does not say it
    /// (refresh responses).
    #[must_use]
    pub fn from_grant(grant: TokenGrant, now_ms: f64, username: Option<String>) -> Self {
        Self {
            access_token: grant.access_token,
            refresh_token: grant.refresh_token,
            expires_at_ms: now_ms + grant.expires_in * 1000.0,
            username: grant.username.or(username),
        }
    }

    /// Whether the access token may still be used.
    #[must_use]
    pub fn is_fresh(&self, now_ms: f64) -> bool {
        self.expires_at_ms - now_ms > FRESH_MARGIN_MS
    }

    /// Milliseconds until the token should be refreshed (at least one second).
    #[must_use]
    pub fn refresh_in_ms(&self, now_ms: f64) -> u32 {
        let due = (self.expires_at_ms - REFRESH_BEFORE_MS - now_ms).max(1000.0);
        // Clamped to u32 first.
        due.min(f64::from(u32::MAX)) as u32
    }

    /// The cache record.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Whole milliseconds (the writer writes integers only).
        let mut obj = ObjectWriter::new()
            .str("access_token", &self.access_token)
            .int("expires_at", self.expires_at_ms.min(9e15) as i64);
        if let Some(r) = &self.refresh_token {
            obj = obj.str("refresh_token", r);
        }
        if let Some(u) = &self.username {
            obj = obj.str("username", u);
        }
        obj.finish()
    }

    /// A cache record back; `None` when it is not one.
    #[must_use]
    pub fn from_json(text: &str) -> Option<Self> {
        let value = Value::parse(text)?;
        let text = |name: &str| value.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        Some(Self {
            access_token: text("access_token")?,
            refresh_token: text("refresh_token"),
            expires_at_ms: value.get("expires_at").and_then(Value::as_f64)?,
            username: text("username"),
        })
    }
}

/// The `localStorage` key of the token cache for a gateway.
#[must_use]
pub fn cache_key(gateway_origin: &str) -> String {
    cat(&["ibal-widget:token:", gateway_origin])
}

/// The popup's first URL: the page's origin (where the result may go), this attempt's nonce, and the
/// relay page on that origin, if the page has one.
#[must_use]
pub fn login_url(settings: &Settings, page_origin: &str, nonce: &str, relay: Option<&str>) -> String {
    let mut path =
        cat(&["/oauth/openedx/login?origin=", &percent_encode(page_origin), "&nonce=", &percent_encode(nonce)]);
    if let Some(relay) = relay {
        path.push_str("&relay=");
        path.push_str(&percent_encode(relay));
    }
    settings.gateway(&path)
}

/// The relay page's absolute URL: the setting as given, or a path resolved on the page's origin.
#[must_use]
pub fn relay_url(setting: &str, page_origin: &str) -> Option<String> {
    if setting.starts_with("https://") || setting.starts_with("http://") {
        Some(setting.to_owned())
    } else if setting.starts_with('/') && !setting.starts_with("//") {
        Some(cat(&[page_origin, setting]))
    } else {
        None
    }
}

/// The channel the relay page posts the sign-in result on.
pub const RELAY_CHANNEL: &str = "ibal-auth";
/// The refresh request's form body.
#[must_use]
pub fn refresh_body(refresh_token: &str) -> String {
    cat(&["grant_type=refresh_token&refresh_token=", &percent_encode(refresh_token), "&client_id=", CLIENT_ID])
}

/// The LMS sign-in request's form body: RFC 8693 token exchange of a chat ticket.
#[must_use]
pub fn ticket_body(ticket: &str) -> String {
    cat(&[
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
         &subject_token_type=urn%3Aibal%3Aparams%3Aoauth%3Atoken-type%3Achat-ticket\
         &subject_token=",
        &percent_encode(ticket),
        "&client_id=",
        CLIENT_ID,
    ])
}

/// The local-account request's JSON body.
#[must_use]
pub fn credentials_body(username: &str, password: &str) -> String {
    ObjectWriter::new().str("username", username).str("password", password).finish()
}

/// What the sign-in popup posted.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthMessage {
    /// `{"type":"ibal:auth", "access_token", "expires_in", "refresh_token", "username"}`.
    Success(TokenGrant),
    /// `{"type":"ibal:auth-error", "code", "message"}`.
    Failure {
        /// The code (`access_denied`…).
        code: String,
        /// A sentence.
        message: String,
    },
}

/// The sign-in result of the attempt with this `nonce`, or `None` for any other message (other
/// scripts use `postMessage` too, and a result of another attempt is not ours to take).
#[must_use]
pub fn parse_auth_message(value: &Value, nonce: &str) -> Option<AuthMessage> {
    if value.get("nonce")?.as_str()? != nonce {
        return None;
    }
    match value.get("type")?.as_str()? {
        "ibal:auth" => parse_token_grant(value).map(AuthMessage::Success),
        "ibal:auth-error" => {
            let text = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
            Some(AuthMessage::Failure { code: text("code"), message: text("message") })
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Browser side.

/// Now, in ms since the epoch.
#[must_use]
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Now, RFC 3339.
#[must_use]
pub fn now_iso() -> String {
    js_sys::Date::new_0().to_iso_string().into()
}

/// Random bytes from `crypto.getRandomValues` (available without a secure context).
#[must_use]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        // No Web Crypto (very old browser): client ids only need uniqueness, not secrecy; a sign-in
        // nonce then only tells this attempt's result from another's, which uniqueness does too.
        for b in &mut bytes {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    bytes
}

/// A fresh `client_id` for a message.
#[must_use]
pub fn new_client_id() -> String {
    cat(&["c-", &base64url(&random_bytes::<12>())])
}

/// The token cache in `localStorage` (absent when storage is disabled: then every start signs in).
#[derive(Debug, Clone)]
pub struct TokenCache {
    key: String,
}

impl TokenCache {
    /// The cache for a gateway.
    #[must_use]
    pub fn new(gateway_origin: &str) -> Self {
        Self { key: cache_key(gateway_origin) }
    }

    fn storage() -> Option<Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    /// The cached token set.
    #[must_use]
    pub fn load(&self) -> Option<TokenSet> {
        Self::storage()?.get_item(&self.key).ok()?.as_deref().and_then(TokenSet::from_json)
    }

    /// Stores a token set.
    pub fn save(&self, tokens: &TokenSet) {
        if let Some(storage) = Self::storage() {
            let _ = storage.set_item(&self.key, &tokens.to_json());
        }
    }

    /// Forgets the token set.
    pub fn clear(&self) {
        if let Some(storage) = Self::storage() {
            let _ = storage.remove_item(&self.key);
        }
    }
}

/// An HTTP failure: a code (from the gateway's error body, or `network` / `http_<status>`) and a
/// message.
pub type HttpError = (String, String);

/// Starts a request (a JSON or form body of `content_type`, or none; a bearer token, or none): the
/// promise of its `Response`.
///
/// # Errors
/// When the browser refuses to start it.
pub fn request(
    url: &str,
    method: &str,
    content_type: Option<&str>,
    body: Option<&str>,
    bearer: Option<&str>,
) -> Result<js_sys::Promise, JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let init = RequestInit::new();
    init.set_method(method);
    let headers = js_sys::Object::new();
    js_sys::Reflect::set(&headers, &"Accept".into(), &"application/json".into())?;
    if let Some(ct) = content_type {
        js_sys::Reflect::set(&headers, &"Content-Type".into(), &ct.into())?;
    }
    if let Some(token) = bearer {
        js_sys::Reflect::set(&headers, &"Authorization".into(), &cat(&["Bearer ", token]).into())?;
    }
    init.set_headers(&headers);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    Ok(window.fetch_with_str_and_init(url, &init))
}

/// Sends a request (see [`request`]) and returns the status and the body text.
async fn fetch(
    url: &str,
    method: &str,
    content_type: Option<&str>,
    body: Option<&str>,
    bearer: Option<&str>,
) -> Result<(u16, String), HttpError> {
    let network = |e: JsValue| {
        let text = e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).unwrap_or_default();
        ("network".to_owned(), text)
    };
    let response: Response = JsFuture::from(request(url, method, content_type, body, bearer).map_err(network)?)
        .await
        .map_err(network)?
        .dyn_into()
        .map_err(network)?;
    let text = JsFuture::from(response.text().map_err(network)?).await.map_err(network)?;
    Ok((response.status(), text.as_string().unwrap_or_default()))
}

/// The gateway's error of a failed answer, or `http_<status>` when its body does not say.
fn http_error(status: u16, body: &str) -> HttpError {
    parse_http_error(body).unwrap_or_else(|| (cat(&["http_", &decimal(u64::from(status))]), String::new()))
}

/// The token grant of a 200 answer, or the error of any other.
fn grant_of(status: u16, body: &str) -> Result<TokenGrant, HttpError> {
    if status == 200 {
        let value = Value::parse(body).unwrap_or(Value::Null);
        return parse_token_grant(&value).ok_or_else(|| ("bad_response".to_owned(), String::new()));
    }
    Err(http_error(status, body))
}

/// `POST /oauth2/token` with the refresh grant.
///
/// # Errors
/// The gateway's error (`invalid_grant` when the refresh token is used, expired or revoked), or
/// `network`.
pub async fn refresh(settings: &Settings, refresh_token: &str) -> Result<TokenGrant, HttpError> {
    let (status, body) = fetch(
        &settings.gateway("/oauth2/token"),
        "POST",
        Some("application/x-www-form-urlencoded"),
        Some(&refresh_body(refresh_token)),
        None,
    )
    .await?;
    grant_of(status, &body)
}

/// `POST /oauth2/token`, exchanging a chat ticket from the LMS for a token (LMS sign-in).
///
/// # Errors
/// The gateway's error (`invalid_grant` for a ticket it refuses), or `network`.
pub async fn ticket_sign_in(settings: &Settings, ticket: &str) -> Result<TokenGrant, HttpError> {
    let (status, body) = fetch(
        &settings.gateway("/oauth2/token"),
        "POST",
        Some("application/x-www-form-urlencoded"),
        Some(&ticket_body(ticket)),
        None,
    )
    .await?;
    grant_of(status, &body)
}

/// `POST /api/v1/messages/{id}/feedback`: the user's rating of a reply, with their comment unless it is
/// empty (the gateway keeps the latest rating of a reply); the promise of the answer (204).
///
/// # Errors
/// When the browser refuses to start the request.
pub fn feedback(
    settings: &Settings,
    access_token: &str,
    id: &str,
    up: bool,
    comment: &str,
) -> Result<js_sys::Promise, JsValue> {
    let url = settings.gateway(&cat(&["/api/v1/messages/", &percent_encode(id), "/feedback"]));
    let body = feedback_body(up, comment);
    request(&url, "POST", Some("application/json"), Some(&body), Some(access_token))
}

/// The body of a rating: `{"rating":"up"|"down"}`, with `"comment"` when there is one.
fn feedback_body(up: bool, comment: &str) -> String {
    let mut body = String::from(if up { r#"{"rating":"up""# } else { r#"{"rating":"down""# });
    if !comment.is_empty() {
        body.push_str(r#","comment":"#);
        ibal_protocol::json::push_str(&mut body, comment);
    }
    body.push('}');
    body
}

/// The page's chat ticket: `get_ticket()` returns a promise of the ticket string.
///
/// # Errors
/// What the page's promise was rejected with.
pub async fn fetch_ticket(get_ticket: &js_sys::Function) -> Result<String, String> {
    let promise = get_ticket.call0(&JsValue::NULL).map_err(|e| crate::log::js_error_text(&e))?;
    let value = JsFuture::from(js_sys::Promise::resolve(&promise)).await.map_err(|e| crate::log::js_error_text(&e))?;
    value.as_string().filter(|t| !t.is_empty()).ok_or_else(|| "the page gave no ticket".to_owned())
}

/// `POST /api/v1/auth/login` (or `/register`).
///
/// # Errors
/// The gateway's error (`{"error":{"code","message"}}`), or `network`.
pub async fn local_login(
    settings: &Settings,
    register: bool,
    username: &str,
    password: &str,
) -> Result<TokenGrant, HttpError> {
    let path = if register { "/api/v1/auth/register" } else { "/api/v1/auth/login" };
    let (status, body) = fetch(
        &settings.gateway(path),
        "POST",
        Some("application/json"),
        Some(&credentials_body(username, password)),
        None,
    )
    .await?;
    // Registration may answer 201.
    grant_of(if status == 201 { 200 } else { status }, &body)
}

/// The page's message as JSON (through `JSON.stringify`; `Null` for what it cannot represent).
#[must_use]
pub fn js_to_json(value: &JsValue) -> Value {
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .and_then(|s| Value::parse(&s))
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings() -> Settings {
        let map: HashMap<&str, &str> = [("gateway_url", "https://chat.example.com")].into_iter().collect();
        Settings::from_lookup(|k| map.get(k).map(|v| (*v).to_owned())).unwrap_or_else(|e| panic!("{e}"))
    }

    fn grant() -> TokenGrant {
        TokenGrant {
            access_token: "eyJ.a.b".into(),
            expires_in: 900.0,
            refresh_token: Some("r1.x".into()),
            username: Some("john_doe".into()),
        }
    }

    #[test]
    fn token_lifetimes() {
        let t = TokenSet::from_grant(grant(), 1_000_000.0, None);
        assert_eq!(t.expires_at_ms, 1_900_000.0);
        assert!(t.is_fresh(1_000_000.0));
        assert!(t.is_fresh(1_869_000.0));
        assert!(!t.is_fresh(1_871_000.0), "not used in its last 30 s");
        assert_eq!(t.refresh_in_ms(1_000_000.0), 840_000);
        assert_eq!(t.refresh_in_ms(1_899_000.0), 1000);
        let refreshed = TokenSet::from_grant(TokenGrant { username: None, ..grant() }, 0.0, Some("jane".into()));
        assert_eq!(refreshed.username.as_deref(), Some("jane"));
    }

    #[test]
    fn cache_records_round_trip() {
        let t = TokenSet::from_grant(grant(), 5.0, None);
        assert_eq!(TokenSet::from_json(&t.to_json()), Some(t));
        let bare = TokenSet { access_token: "a".into(), refresh_token: None, expires_at_ms: 1.0, username: None };
        assert_eq!(TokenSet::from_json(&bare.to_json()), Some(bare));
        assert_eq!(TokenSet::from_json("{}"), None);
        assert_eq!(TokenSet::from_json("garbage"), None);
        assert_eq!(TokenSet::from_json(r#"{"access_token":"a"}"#), None);
        assert_eq!(cache_key("https://chat.example.com"), "ibal-widget:token:https://chat.example.com");
    }

    #[test]
    fn urls_and_bodies() {
        let s = settings();
        assert_eq!(
            login_url(&s, "https://lms.example.com", "n-1", None),
            "https://chat.example.com/oauth/openedx/login?origin=https%3A%2F%2Flms.example.com&nonce=n-1"
        );
        assert_eq!(
            login_url(&s, "https://lms.example.com", "n-1", Some("https://lms.example.com/r.html")),
            "https://chat.example.com/oauth/openedx/login?origin=https%3A%2F%2Flms.example.com&nonce=n-1\
             &relay=https%3A%2F%2Flms.example.com%2Fr.html"
        );
        let origin = "https://lms.example.com";
        assert_eq!(
            relay_url("/xblock/resource/ibalxblock/public/relay.html", origin).as_deref(),
            Some("https://lms.example.com/xblock/resource/ibalxblock/public/relay.html")
        );
        assert_eq!(
            relay_url("https://lms.example.com/r.html", origin).as_deref(),
            Some("https://lms.example.com/r.html")
        );
        assert_eq!(relay_url("//evil.test/r.html", origin), None);
        assert_eq!(relay_url("", origin), None);
        assert_eq!(
            refresh_body("r1.a+b/c="),
            "grant_type=refresh_token&refresh_token=r1.a%2Bb%2Fc%3D&client_id=ibal-widget"
        );
        assert_eq!(credentials_body("jo\"e", "p w"), r#"{"username":"jo\"e","password":"p w"}"#);
        assert_eq!(
            ticket_body("eyJ.a+b.c"),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
             &subject_token_type=urn%3Aibal%3Aparams%3Aoauth%3Atoken-type%3Achat-ticket\
             &subject_token=eyJ.a%2Bb.c&client_id=ibal-widget"
        );
    }

    #[test]
    fn popup_messages() {
        let json = |text: &str| Value::parse(text).unwrap_or(Value::Null);
        let ok = json(
            r#"{"type":"ibal:auth","nonce":"n-1","access_token":"eyJ","expires_in":900,"refresh_token":"r1","username":"john_doe"}"#,
        );
        assert!(
            matches!(parse_auth_message(&ok, "n-1"), Some(AuthMessage::Success(g)) if g.username.as_deref() == Some("john_doe"))
        );
        assert_eq!(parse_auth_message(&ok, "n-2"), None, "another attempt's result is not ours");
        let err =
            json(r#"{"type":"ibal:auth-error","nonce":"n-1","code":"access_denied","message":"The user refused"}"#);
        assert_eq!(
            parse_auth_message(&err, "n-1"),
            Some(AuthMessage::Failure { code: "access_denied".into(), message: "The user refused".into() })
        );
        assert_eq!(parse_auth_message(&json(r#"{"type":"webpackOk"}"#), "n-1"), None);
        assert_eq!(parse_auth_message(&json(r#""hello""#), "n-1"), None);
        assert_eq!(parse_auth_message(&json(r#"{"type":"ibal:auth","nonce":"n-1"}"#), "n-1"), None);
        let no_nonce = json(r#"{"type":"ibal:auth","access_token":"eyJ","expires_in":900}"#);
        assert_eq!(parse_auth_message(&no_nonce, "n-1"), None);
    }

    #[test]
    fn http_answers() {
        assert!(grant_of(200, r#"{"access_token":"a","expires_in":900}"#).is_ok());
        assert_eq!(
            grant_of(401, r#"{"error":{"code":"invalid_grant","message":"used"}}"#),
            Err(("invalid_grant".into(), "used".into()))
        );
        assert_eq!(grant_of(502, "<html>"), Err(("http_502".into(), String::new())));
        assert_eq!(grant_of(200, "{}"), Err(("bad_response".into(), String::new())));
    }

    #[test]
    fn feedback_bodies() {
        assert_eq!(feedback_body(true, ""), r#"{"rating":"up"}"#);
        assert_eq!(feedback_body(false, ""), r#"{"rating":"down"}"#);
        assert_eq!(
            feedback_body(false, "Wrong \"unit\"\nsee 3.2"),
            r#"{"rating":"down","comment":"Wrong \"unit\"\nsee 3.2"}"#
        );
        let body = Value::parse(&feedback_body(true, "é</script>")).unwrap_or(Value::Null);
        assert_eq!(body.get("comment").and_then(Value::as_str), Some("é</script>"));
    }
}
