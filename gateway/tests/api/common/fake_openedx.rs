//! A fake Open edX LMS, faithful to the parts the gateway uses (edx-platform oauth_dispatch on
//! django-oauth-toolkit): `/oauth2/authorize` redirecting with a one-time code, `/oauth2/access_token`
//! answering the JWT form (RS512, no `kid`), `/api/user/v1/me` and `/api/user/v1/accounts/{username}`
//! behind `Authorization: JWT <token>`, and `/heartbeat`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// How the token endpoint behaves.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Normal = 0,
    Refuse = 1,
    Garbage = 2,
    Slow = 3,
}

#[derive(Clone)]
pub struct FakeLms {
    pub url: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The JWK set as Tutor renders it (one key, kid "openedx").
    pub jwks: String,
    key: Arc<EncodingKey>,
    inner: Arc<Inner>,
}

struct Inner {
    codes: Mutex<HashMap<String, Pending>>,
    behaviour: AtomicU8,
    user: Mutex<FakeUser>,
}

#[derive(Clone, Debug)]
pub struct FakeUser {
    pub username: String,
    pub anonymous_id: String,
    pub email: String,
    pub name: String,
    pub is_staff: bool,
}

#[derive(Clone)]
struct Pending {
    redirect_uri: String,
    code_challenge: String,
    client_id: String,
}

impl FakeLms {
    pub async fn start() -> Self {
        let row = ibal_gateway::identity::keys::generate_key(0).expect("key");
        let mut jwk: serde_json::Value = serde_json::from_str(&row.public_jwk).expect("jwk");
        let public = json!({"kid": "openedx", "kty": "RSA", "e": jwk["e"].take(), "n": jwk["n"].take()});
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let lms = Self {
            issuer: format!("{url}/oauth2"),
            url,
            client_id: "llm-gateway".into(),
            client_secret: "fake-lms-client-secret".into(),
            jwks: json!({ "keys": [public] }).to_string(),
            key: Arc::new(EncodingKey::from_rsa_pem(row.private_key.as_bytes()).expect("pem")),
            inner: Arc::new(Inner {
                codes: Mutex::new(HashMap::new()),
                behaviour: AtomicU8::new(0),
                user: Mutex::new(FakeUser {
                    username: "john_doe".into(),
                    anonymous_id: "a3f9c2d1e0b4".into(),
                    email: "john@example.com".into(),
                    name: "John Doe".into(),
                    is_staff: false,
                }),
            }),
        };
        let app = Router::new()
            .route("/oauth2/authorize", get(authorize))
            .route("/oauth2/access_token", post(access_token))
            .route("/api/user/v1/me", get(me))
            .route("/api/user/v1/accounts/{username}", get(account))
            .route("/heartbeat", get(|| async { Json(json!({"status": "ok"})) }))
            .with_state(lms.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        lms
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        self.inner.behaviour.store(b as u8, Ordering::SeqCst);
    }

    pub fn user(&self) -> FakeUser {
        self.inner.user.lock().expect("lock").clone()
    }

    /// The gateway's configuration for this LMS.
    pub fn gateway_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OPENEDX_URL", self.url.clone()),
            ("OPENEDX_CLIENT_ID", self.client_id.clone()),
            ("OPENEDX_CLIENT_SECRET", self.client_secret.clone()),
            ("OPENEDX_JWKS", self.jwks.clone()),
        ]
    }

    /// A JWT as the LMS signs it: RS512, no kid, the claims of oauth_dispatch's JwtBuilder.
    pub fn jwt(&self, overrides: serde_json::Value) -> String {
        let user = self.user();
        let now = chrono_now();
        let mut claims = json!({
            "iss": self.issuer, "aud": "openedx", "exp": now + 3600, "iat": now,
            "sub": user.anonymous_id, "preferred_username": user.username, "email": user.email,
            "name": user.name, "administrator": user.is_staff, "superuser": false,
            "scopes": ["email", "profile"], "version": "1.2.0", "is_restricted": false, "filters": [],
            "email_verified": true,
        });
        if let (Some(c), Some(o)) = (claims.as_object_mut(), overrides.as_object()) {
            for (k, v) in o {
                c.insert(k.clone(), v.clone());
            }
        }
        jsonwebtoken::encode(&Header::new(Algorithm::RS512), &claims, &self.key).expect("sign")
    }
}

pub fn chrono_now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs())
        .expect("fits")
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: Option<String>,
}

/// The learner is already logged in to the LMS and the application skips authorization: DOT
/// redirects straight back with a code.
async fn authorize(State(lms): State<FakeLms>, Query(q): Query<AuthorizeQuery>) -> Response {
    if q.response_type != "code" || q.client_id != lms.client_id || q.code_challenge_method.as_deref() != Some("S256") {
        return (StatusCode::BAD_REQUEST, "invalid authorize request").into_response();
    }
    assert!(q.scope.is_some(), "the gateway asks for scopes");
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    lms.inner.codes.lock().expect("lock").insert(
        code.clone(),
        Pending {
            redirect_uri: q.redirect_uri.clone(),
            code_challenge: q.code_challenge.unwrap_or_default(),
            client_id: q.client_id,
        },
    );
    let mut url = url::Url::parse(&q.redirect_uri).expect("redirect uri");
    url.query_pairs_mut().append_pair("code", &code).append_pair("state", &q.state);
    Redirect::to(url.as_str()).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    client_id: String,
    client_secret: Option<String>,
    code_verifier: String,
    token_type: Option<String>,
    asymmetric_jwt: Option<String>,
}

async fn access_token(State(lms): State<FakeLms>, Form(f): Form<TokenForm>) -> Response {
    match lms.inner.behaviour.load(Ordering::SeqCst) {
        1 => return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response(),
        2 => return (StatusCode::OK, "<html>Server Error</html>").into_response(),
        3 => tokio::time::sleep(std::time::Duration::from_secs(30)).await,
        _ => {}
    }
    // Codes are one-time: a replayed code is refused, as DOT does.
    let pending = lms.inner.codes.lock().expect("lock").remove(&f.code);
    let Some(pending) = pending else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": "Invalid code"})))
            .into_response();
    };
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(f.code_verifier.as_bytes()));
    if f.grant_type != "authorization_code"
        || f.redirect_uri != pending.redirect_uri
        || f.client_id != pending.client_id
        || f.client_secret.as_deref() != Some(lms.client_secret.as_str())
        || challenge != pending.code_challenge
    {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    }
    assert_eq!(f.token_type.as_deref(), Some("jwt"), "the gateway asks for a JWT");
    assert_eq!(f.asymmetric_jwt.as_deref(), Some("1"), "the gateway asks for an asymmetric JWT");
    Json(json!({
        "access_token": lms.jwt(json!({})),
        "token_type": "JWT",
        "expires_in": 3600,
        "scope": "email profile",
        "refresh_token": "lms-refresh-token",
    }))
    .into_response()
}

fn authorized(lms: &FakeLms, headers: &HeaderMap) -> bool {
    let Some(token) = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("JWT "))
    else {
        return false;
    };
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS512);
    validation.set_audience(&["openedx"]);
    let jwk: serde_json::Value = serde_json::from_str(&lms.jwks).expect("jwks");
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["keys"][0]["n"].as_str().expect("n"),
        jwk["keys"][0]["e"].as_str().expect("e"),
    )
    .expect("key");
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).is_ok()
}

async fn me(State(lms): State<FakeLms>, headers: HeaderMap) -> Response {
    if !authorized(&lms, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"detail": "Authentication credentials were not provided."})))
            .into_response();
    }
    Json(json!({ "username": lms.user().username })).into_response()
}

async fn account(State(lms): State<FakeLms>, headers: HeaderMap, Path(username): Path<String>) -> Response {
    if !authorized(&lms, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let user = lms.user();
    if username != user.username {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(json!({ "username": user.username, "name": user.name, "email": user.email, "is_active": true }))
        .into_response()
}
