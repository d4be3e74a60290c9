//! LTI 1.3 launches from a fake platform that signs exactly as Open edX's xblock-lti-consumer does
//! (RS256 with `kid`, `exp = iat + 3600`, the standard claims): login → auth → launch with a
//! cookie-keeping browser, every rejection of the Security Framework, and deep linking.

use crate::common;

use std::collections::HashMap;

use axum::routing::get;
use axum::{Json, Router};
use common::fake_openedx::chrono_now;
use common::ws::Client;
use common::{RunningGateway, browser, spawn_gateway};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://platform.test";
const CLIENT_ID: &str = "tool-client-1";
const DEPLOYMENT: &str = "deployment-1";
const AUTH_URL: &str = "https://platform.test/api/lti/authorize";
const KID: &str = "platform-key-1";

struct Platform {
    key: EncodingKey,
    /// Another key, unknown to the platform's JWKS.
    stranger: EncodingKey,
    jwks: Value,
    jwks_url: String,
}

impl Platform {
    async fn start() -> Self {
        let row = ibal_gateway::identity::keys::generate_key(0).expect("key");
        let stranger = ibal_gateway::identity::keys::generate_key(0).expect("key");
        let mut jwk: Value = serde_json::from_str(&row.public_jwk).expect("jwk");
        jwk["kid"] = json!(KID);
        let jwks = json!({ "keys": [jwk] });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let jwks_url = format!("http://{}/api/lti/security/jwks", listener.local_addr().expect("addr"));
        let served = jwks.clone();
        let app = Router::new().route("/api/lti/security/jwks", get(move || async move { Json(served) }));
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Self {
            key: EncodingKey::from_rsa_pem(row.private_key.as_bytes()).expect("pem"),
            stranger: EncodingKey::from_rsa_pem(stranger.private_key.as_bytes()).expect("pem"),
            jwks,
            jwks_url,
        }
    }

    /// A resource-link launch as xblock-lti-consumer builds it, for this login's nonce.
    fn claims(&self, nonce: &str) -> Value {
        let now = chrono_now();
        json!({
            "iss": ISSUER, "aud": CLIENT_ID, "azp": CLIENT_ID, "sub": "anon-7f3e", "iat": now, "exp": now + 3600, "nonce": nonce,
            "name": "Ada Lovelace", "email": "ada@example.com", "preferred_username": "ada",
            "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
            "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
            "https://purl.imsglobal.org/spec/lti/claim/deployment_id": DEPLOYMENT,
            "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": "http://tool/lti/launch",
            "https://purl.imsglobal.org/spec/lti/claim/resource_link": {"id": "block-v1:Org+C1+2026+type@lti_consumer+block@chat1", "title": "Ask the assistant"},
            "https://purl.imsglobal.org/spec/lti/claim/roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
            "https://purl.imsglobal.org/spec/lti/claim/context": {"id": "course-v1:Org+C1+2026", "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"], "title": "Analytical Engines", "label": "C1"},
            "https://purl.imsglobal.org/spec/lti/claim/launch_presentation": {"document_target": "iframe", "return_url": "https://platform.test/courses/c1"},
            "https://purl.imsglobal.org/spec/lti/claim/tool_platform": {"guid": "platform.test", "name": "Test LMS", "product_family_code": "openedx"},
            "https://purl.imsglobal.org/spec/lti/claim/custom": {},
        })
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.into());
        jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
    }
}

async fn setup() -> (Platform, RunningGateway) {
    setup_with(&[]).await
}

async fn setup_with(pairs: &[(&str, &str)]) -> (Platform, RunningGateway) {
    let platform = Platform::start().await;
    let gw = spawn_gateway(pairs).await;
    let new = ibal_gateway::store::NewLtiPlatform {
        issuer: ISSUER,
        client_id: CLIENT_ID,
        name: "Test LMS",
        auth_url: AUTH_URL,
        token_url: None,
        jwks_url: &platform.jwks_url,
    };
    gw.state.db.insert_lti_platform(&new, &[DEPLOYMENT]).await.expect("register");
    (platform, gw)
}

/// OIDC login initiation: returns (state, nonce) from the redirect to the platform.
async fn login(client: &reqwest::Client, gw: &RunningGateway) -> (String, String) {
    let response = client
        .post(format!("{}/lti/login", gw.url))
        .form(&[
            ("iss", ISSUER),
            ("login_hint", "user-42"),
            ("target_link_uri", &format!("{}/lti/launch", gw.url)),
            ("lti_message_hint", "block-v1:chat1"),
            ("client_id", CLIENT_ID),
            ("lti_deployment_id", DEPLOYMENT),
        ])
        .send()
        .await
        .expect("login");
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = url::Url::parse(response.headers()["location"].to_str().expect("ascii")).expect("url");
    assert!(location.as_str().starts_with(AUTH_URL));
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(
        (q["scope"].as_str(), q["response_type"].as_str(), q["response_mode"].as_str(), q["prompt"].as_str()),
        ("openid", "id_token", "form_post", "none")
    );
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], format!("{}/lti/launch", gw.url));
    assert_eq!((q["login_hint"].as_str(), q["lti_message_hint"].as_str()), ("user-42", "block-v1:chat1"));
    (q["state"].clone(), q["nonce"].clone())
}

async fn post_launch(
    client: &reqwest::Client,
    gw: &RunningGateway,
    id_token: &str,
    state: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let response = client
        .post(format!("{}/lti/launch", gw.url))
        .form(&[("id_token", id_token), ("state", state)])
        .send()
        .await
        .expect("launch");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

fn settings(html: &str) -> Value {
    let at = html.find("id=\"ibal-settings\"").expect("settings");
    let rest = &html[at..];
    serde_json::from_str(&rest[rest.find('>').expect(">") + 1..rest.find("</script>").expect("end")]).expect("JSON")
}

#[tokio::test]
async fn a_launch_lands_on_the_chat_signed_in_with_role_and_course_context() {
    let (platform, gw) = setup().await;
    let client = browser();
    let (state, nonce) = login(&client, &gw).await;
    let token = platform.sign(&platform.claims(&nonce));
    let (status, headers, html) = post_launch(&client, &gw, &token, &state).await;
    assert_eq!(status, 200, "{html}");
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    assert!(csp.contains("frame-ancestors 'self'") && csp.contains(ISSUER), "framable by the platform: {csp}");
    assert!(!headers.contains_key("x-frame-options"));
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers.get_all("set-cookie").iter().any(|c| c.to_str().is_ok_and(|c| c.contains("Max-Age=0"))),
        "the state cookie is cleared"
    );

    let s = settings(&html);
    assert_eq!((s["auth_mode"].as_str(), s["username"].as_str()), (Some("token"), Some("ada")));
    assert_eq!(s["course_id"], "course-v1:Org+C1+2026");
    let access = s["access_token"].as_str().expect("token");
    let claims = gw.state.tokens.verify_access(access).await.expect("a gateway token");
    assert_eq!(claims.roles, ["learner"], "a launch makes no one an operator of the gateway");
    let ctx = claims.ctx.expect("the launch's context");
    assert_eq!(
        (ctx.course_id.as_str(), ctx.block_id.as_str()),
        ("course-v1:Org+C1+2026", "block-v1:Org+C1+2026+type@lti_consumer+block@chat1")
    );
    let user = gw.state.db.find_user_by_identity(ISSUER, "anon-7f3e").await.expect("q").expect("user by (iss, sub)");
    assert_eq!(user.email, "ada@example.com");

    // The chat is scoped to the launch, whatever the socket's query says.
    let (_ws, info, _) = Client::join(&gw, access, "?course_id=other&block_id=other").await;
    assert_eq!(info["context"]["course_id"], "course-v1:Org+C1+2026");
    assert_eq!(info["role"], "instructor", "the launch's role holds in its context");
    assert_eq!(info["operator"], false);

    // The same id_token posted again is refused.
    let (status, _, html) = post_launch(&client, &gw, &token, &state).await;
    assert_eq!(status, 400);
    assert!(html.contains("state_mismatch"));
}

#[tokio::test]
async fn a_nonce_is_accepted_once() {
    let (platform, gw) = setup().await;
    let token = platform.sign(&platform.claims("nonce-once"));
    let first = ibal_gateway::lti::validation::validate(&gw.state.db, &gw.state.lti_jwks, &token, "nonce-once").await;
    assert!(first.is_ok(), "{first:?}");
    let again = ibal_gateway::lti::validation::validate(&gw.state.db, &gw.state.lti_jwks, &token, "nonce-once").await;
    assert_eq!(again.expect_err("replay").code(), "replayed");
}

#[tokio::test]
async fn every_rejection_answers_4xx_with_a_clear_page_and_stores_nothing() {
    let (platform, gw) = setup().await;
    let jwk_n = platform.jwks["keys"][0]["n"].as_str().expect("n").to_owned();
    type Mutate = Box<dyn Fn(&mut Value, &Platform) -> Option<String>>;
    let set = |path: &'static str, value: Value| -> Mutate {
        Box::new(move |c, _| {
            c[path] = value.clone();
            None
        })
    };
    let remove = |path: &'static str| -> Mutate {
        Box::new(move |c, _| {
            c.as_object_mut().expect("obj").remove(path);
            None
        })
    };
    let b64 = |v: &Value| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, v.to_string());
    let cases: Vec<(&str, Mutate, &str)> = vec![
        ("unknown issuer", set("iss", json!("https://other.test")), "unknown_platform"),
        ("unknown client id", set("aud", json!("someone-else")), "unknown_platform"),
        (
            "expired",
            Box::new(|c, _| {
                c["iat"] = json!(chrono_now() - 7300);
                c["exp"] = json!(chrono_now() - 3700);
                None
            }),
            "expired",
        ),
        ("iat in the future", set("iat", json!(chrono_now() + 600)), "invalid_iat"),
        (
            "wrong deployment",
            set("https://purl.imsglobal.org/spec/lti/claim/deployment_id", json!("deployment-9")),
            "invalid_deployment",
        ),
        ("missing deployment", remove("https://purl.imsglobal.org/spec/lti/claim/deployment_id"), "invalid_deployment"),
        ("missing resource link", remove("https://purl.imsglobal.org/spec/lti/claim/resource_link"), "missing_claim"),
        ("wrong version", set("https://purl.imsglobal.org/spec/lti/claim/version", json!("1.1")), "invalid_version"),
        (
            "wrong message type",
            set("https://purl.imsglobal.org/spec/lti/claim/message_type", json!("LtiSubmissionReview")),
            "invalid_message_type",
        ),
        (
            "several audiences without azp",
            Box::new(|c, _| {
                c["aud"] = json!([CLIENT_ID, "other"]);
                c.as_object_mut().expect("obj").remove("azp");
                None
            }),
            "invalid_azp",
        ),
        (
            "several audiences, wrong azp",
            Box::new(|c, _| {
                c["aud"] = json!([CLIENT_ID, "other"]);
                c["azp"] = json!("other");
                None
            }),
            "invalid_azp",
        ),
        ("nonce of another login", set("nonce", json!("not-this-browser")), "invalid_nonce"),
        (
            "bad signature",
            Box::new(|c, p| {
                let mut h = Header::new(Algorithm::RS256);
                h.kid = Some(KID.into());
                Some(jsonwebtoken::encode(&h, c, &p.stranger).expect("sign"))
            }),
            "bad_signature",
        ),
        (
            "unknown kid after refetch",
            Box::new(|c, p| {
                let mut h = Header::new(Algorithm::RS256);
                h.kid = Some("rotated-away".into());
                Some(jsonwebtoken::encode(&h, c, &p.key).expect("sign"))
            }),
            "unknown_kid",
        ),
        (
            "alg none",
            Box::new(move |c, _| Some(format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(c)))),
            "algorithm_not_allowed",
        ),
        (
            "HS256 signed with the public key",
            Box::new(move |c, _| {
                Some(
                    jsonwebtoken::encode(
                        &Header::new(Algorithm::HS256),
                        c,
                        &EncodingKey::from_secret(jwk_n.as_bytes()),
                    )
                    .expect("sign"),
                )
            }),
            "algorithm_not_allowed",
        ),
        ("garbage", Box::new(|_, _| Some("not-a-jwt".into())), "malformed_token"),
    ];
    for (name, mutate, code) in cases {
        let client = browser();
        let (state, nonce) = login(&client, &gw).await;
        let mut claims = platform.claims(&nonce);
        let token = mutate(&mut claims, &platform).unwrap_or_else(|| platform.sign(&claims));
        let (status, headers, html) = post_launch(&client, &gw, &token, &state).await;
        assert_eq!(status, 400, "{name}: {html}");
        assert!(html.contains(code), "{name}: expected {code} in the page");
        assert!(html.contains("This launch cannot be completed"), "{name}: a clear page");
        assert!(headers["content-type"].to_str().expect("ascii").starts_with("text/html"));
    }
    // A state this browser never started (another browser's cookie jar).
    let (state, nonce) = login(&browser(), &gw).await;
    let (status, _, html) = post_launch(&browser(), &gw, &platform.sign(&platform.claims(&nonce)), &state).await;
    assert_eq!(status, 400);
    assert!(html.contains("state_mismatch"));
    assert_eq!(gw.state.db.count_users().await.expect("count"), 0, "no rejected launch stored a user");
}

#[tokio::test]
async fn login_initiation_refuses_unknown_platforms_and_deployments() {
    let (_platform, gw) = setup().await;
    let client = browser();
    let get = |query: String| client.get(format!("{}/lti/login?{query}", gw.url)).send();
    let target = urlencoding(&format!("{}/lti/launch", gw.url));
    let ok = get(format!("iss={}&login_hint=u&target_link_uri={target}&client_id={CLIENT_ID}", urlencoding(ISSUER)))
        .await
        .expect("login");
    assert!(ok.status().is_redirection(), "GET works as well as POST");
    let unknown =
        get(format!("iss=https%3A%2F%2Fnope.test&login_hint=u&target_link_uri={target}")).await.expect("login");
    assert_eq!(unknown.status(), 400);
    assert!(unknown.text().await.expect("body").contains("unknown_platform"));
    let bad_deployment =
        get(format!("iss={}&login_hint=u&target_link_uri={target}&lti_deployment_id=nope", urlencoding(ISSUER)))
            .await
            .expect("login");
    assert_eq!(bad_deployment.status(), 400);
    let missing = get(format!("iss={}", urlencoding(ISSUER))).await.expect("login");
    assert_eq!(missing.status(), 400);
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn deep_linking_returns_a_response_the_platform_can_verify() {
    let (platform, gw) = setup().await;
    let client = browser();
    let (state, nonce) = login(&client, &gw).await;
    let mut claims = platform.claims(&nonce);
    claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] = json!("LtiDeepLinkingRequest");
    claims.as_object_mut().expect("obj").remove("https://purl.imsglobal.org/spec/lti/claim/resource_link");
    claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = json!({
        "deep_link_return_url": "https://platform.test/api/lti/deep_linking_return",
        "accept_types": ["ltiResourceLink"], "accept_presentation_document_targets": ["iframe"], "data": "opaque-42",
    });
    let (status, _, picker) = post_launch(&client, &gw, &platform.sign(&claims), &state).await;
    assert_eq!(status, 200, "{picker}");
    let marker = "name=\"request_id\" value=\"";
    let at = picker.find(marker).expect("request id") + marker.len();
    let request_id = picker[at..].split('"').next().expect("value").to_owned();
    let response = client
        .post(format!("{}/lti/deep-link", gw.url))
        .form(&[
            ("request_id", request_id.as_str()),
            ("title", "Week 3 helper"),
            ("instructions", "Answer in French."),
            ("starters", "What is week 3 about?\n\n  Quiz me  \nA\nB\nC"),
            ("tutor_style", "direct"),
            ("style_prompt", "Answer briefly."),
            ("disclosure", "Answers come from an AI."),
            ("room_assistant", "on"),
            ("mode", "both"),
        ])
        .send()
        .await
        .expect("deep link");
    let csp = response.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(csp.contains("form-action 'self' https://platform.test"), "{csp}");
    let page = response.text().await.expect("page").replace("&#x2f;", "/");
    assert!(page.contains("action=\"https://platform.test/api/lti/deep_linking_return\""));
    let marker = "name=\"JWT\" value=\"";
    let at = page.find(marker).expect("JWT") + marker.len();
    let jwt = page[at..].split('"').next().expect("jwt");

    // The platform verifies the response with the tool's published keys.
    let jwks: Value =
        reqwest::get(format!("{}/.well-known/jwks.json", gw.url)).await.expect("jwks").json().await.expect("json");
    let kid = jsonwebtoken::decode_header(jwt).expect("header").kid.expect("kid");
    let jwk = jwks["keys"].as_array().expect("keys").iter().find(|k| k["kid"] == kid.as_str()).expect("published");
    let key =
        jsonwebtoken::DecodingKey::from_rsa_components(jwk["n"].as_str().expect("n"), jwk["e"].as_str().expect("e"))
            .expect("key");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
    validation.set_issuer(&[CLIENT_ID]);
    validation.set_audience(&[ISSUER]);
    let response = jsonwebtoken::decode::<Value>(jwt, &key, &validation).expect("verifies").claims;
    assert_eq!(response["https://purl.imsglobal.org/spec/lti/claim/message_type"], "LtiDeepLinkingResponse");
    assert_eq!(response["https://purl.imsglobal.org/spec/lti/claim/deployment_id"], DEPLOYMENT);
    assert_eq!(response["https://purl.imsglobal.org/spec/lti-dl/claim/data"], "opaque-42");
    let item = &response["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"][0];
    assert_eq!((item["type"].as_str(), item["title"].as_str()), (Some("ltiResourceLink"), Some("Week 3 helper")));
    assert_eq!(item["custom"]["instructions"], "Answer in French.");
    // The course team's controls, within their limits: four non-blank starters at most.
    assert_eq!(item["custom"]["starters"], "What is week 3 about?\nQuiz me\nA\nB");
    assert_eq!(item["custom"]["tutor_style"], "direct");
    assert_eq!(item["custom"]["style_prompt"], "Answer briefly.");
    assert_eq!(item["custom"]["disclosure"], "Answers come from an AI.");
    assert_eq!(item["custom"]["room_assistant"], "on");
    assert_eq!(item["custom"]["mode"], "both");
    // The selection is used once.
    let again = client
        .post(format!("{}/lti/deep-link", gw.url))
        .form(&[("request_id", request_id.as_str()), ("title", "x")])
        .send()
        .await
        .expect("again");
    assert_eq!(again.status(), 400);
}

/// A gateway with an OpenAI-compatible assistant (a fake) launched by the platform with these custom
/// parameters and roles: the fake, the gateway and the chat page the launch rendered.
async fn assistant_launch(custom: Value, roles: Value) -> (common::fake_llm::FakeLlm, RunningGateway, String) {
    let llm = common::fake_llm::FakeLlm::start().await;
    let base = format!("{}/v1", llm.url);
    let (platform, gw) = setup_with(&[("CHAT_BACKEND", "openai"), ("OPENAI_BASE_URL", &base)]).await;
    let client = browser();
    let (state, nonce) = login(&client, &gw).await;
    let mut claims = platform.claims(&nonce);
    claims["https://purl.imsglobal.org/spec/lti/claim/custom"] = custom;
    claims["https://purl.imsglobal.org/spec/lti/claim/roles"] = roles;
    let (status, _, html) = post_launch(&client, &gw, &platform.sign(&claims), &state).await;
    assert_eq!(status, 200, "{html}");
    (llm, gw, html)
}

/// After deep linking, the platform launches the link with the custom parameters it signs: the
/// block's title and instructions reach the assistant from there, and the platform's administrator
/// is staff of that context only.
#[tokio::test]
async fn the_deep_linked_instructions_reach_the_assistant() {
    let (llm, gw, html) = assistant_launch(
        json!({"title": "Week 3 helper", "instructions": "Answer in French."}),
        json!(["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"]),
    )
    .await;
    let s = settings(&html);
    assert!(s.get("assistant_instructions").is_none(), "the browser is not where the instructions come from");
    let access = s["access_token"].as_str().expect("token");
    let (mut ws, info, _) = Client::join(&gw, access, "").await;
    assert_eq!((info["role"].as_str(), info["operator"].as_bool()), (Some("staff"), Some(false)));
    ws.send(json!({"type": "message", "client_id": "l-1", "content": "Bonjour?"})).await;
    ws.expect("message").await;
    ws.until("stream_end").await;
    let sent = llm.last_request.lock().expect("lock").clone();
    let system = common::fake_llm::system_prompt(&sent);
    assert!(system.contains("Week 3 helper") && system.contains("Answer in French."), "{system}");
    assert!(system.contains("course-v1:Org+C1+2026"), "{system}");
    let analytics = reqwest::Client::new()
        .get(format!("{}/api/v1/analytics/summary", gw.url))
        .bearer_auth(access)
        .send()
        .await
        .expect("analytics");
    let body: Value = analytics.json().await.expect("json");
    assert_eq!(body["scope"], "courses", "the platform's administrator sees this context, not the gateway");
}

#[tokio::test]
async fn config_json_tells_an_administrator_what_to_register() {
    let (_platform, gw) = setup().await;
    let config: Value =
        reqwest::get(format!("{}/lti/config.json", gw.url)).await.expect("config").json().await.expect("json");
    assert_eq!(config["oidc_initiation_url"], format!("{}/lti/login", gw.url));
    assert_eq!(config["target_link_uri"], format!("{}/lti/launch", gw.url));
    assert_eq!(config["redirect_uris"], json!([format!("{}/lti/launch", gw.url)]));
    assert_eq!(config["jwks_uri"], format!("{}/.well-known/jwks.json", gw.url));
    assert!(config["public_jwk_set"]["keys"][0]["n"].is_string());
}

#[tokio::test]
async fn platforms_from_configuration_are_registered_at_start_and_launch() {
    let platform = Platform::start().await;
    let json = format!(
        r#"[{{"issuer":"{ISSUER}","client_id":"{CLIENT_ID}","deployment_ids":["{DEPLOYMENT}","d-2"],"auth_url":"{AUTH_URL}","jwks_url":"{}","name":"From Tutor"}}]"#,
        platform.jwks_url
    );
    let gw = spawn_gateway(&[("LTI_PLATFORMS", &json)]).await;
    // What `serve` does before it listens; twice, as a restart would.
    for _ in 0..2 {
        ibal_gateway::app::serve::register_lti_platforms(&gw.state.db, &gw.state.config.lti_platforms)
            .await
            .expect("register");
    }
    let platforms = gw.state.db.list_lti_platforms().await.expect("list");
    assert_eq!(platforms.len(), 1);
    assert_eq!(gw.state.db.lti_deployments(&platforms[0].id).await.expect("deployments"), ["d-2", DEPLOYMENT]);
    let client = browser();
    let (state, nonce) = login(&client, &gw).await;
    let (status, _, html) = post_launch(&client, &gw, &platform.sign(&platform.claims(&nonce)), &state).await;
    assert_eq!(status, 200, "{html}");
}

fn script_json(html: &str, id: &str) -> Value {
    let at = html.find(&format!("id=\"{id}\"")).expect("script");
    let rest = &html[at..];
    serde_json::from_str(&rest[rest.find('>').expect(">") + 1..rest.find("</script>").expect("end")]).expect("JSON")
}

/// Safari and others drop third-party cookies inside the platform's iframe: with
/// `lti_storage_target`, the platform's storage frame keeps the state instead.
#[tokio::test]
async fn without_cookies_the_platforms_storage_frame_binds_the_launch() {
    let (platform, gw) = setup().await;
    let storage_login = |client: reqwest::Client| {
        let url = format!("{}/lti/login", gw.url);
        let target = format!("{}/lti/launch", gw.url);
        async move {
            let form = [
                ("iss", ISSUER),
                ("login_hint", "user-42"),
                ("target_link_uri", target.as_str()),
                ("client_id", CLIENT_ID),
                ("lti_storage_target", "_parent"),
            ];
            client.post(url).form(&form).send().await.expect("login")
        }
    };
    let response = storage_login(browser()).await;
    assert_eq!(response.status(), 200, "a page that talks to the platform's frame, not a redirect");
    assert!(
        response.headers()["content-security-policy"].to_str().expect("ascii").contains(ISSUER),
        "framable by the platform"
    );
    let page = response.text().await.expect("page");
    let put = script_json(&page, "ibal-lti");
    assert_eq!((put["mode"].as_str(), put["storage_target"].as_str()), (Some("put"), Some("_parent")));
    assert_eq!(put["platform_origin"], "https://platform.test", "postMessage only to the platform's exact origin");
    assert!(page.contains("target.postMessage(message, data.platform_origin)"));
    let auth_url = put["auth_url"].as_str().expect("auth url");
    assert!(auth_url.starts_with(AUTH_URL) && auth_url.contains("lti_storage_target=_parent"));
    let (state, nonce) =
        (put["state"].as_str().expect("state").to_owned(), put["nonce"].as_str().expect("nonce").to_owned());

    // The launch arrives without the cookie (another jar), naming the storage target.
    let framed = browser();
    let token = platform.sign(&platform.claims(&nonce));
    let form = [("id_token", token.as_str()), ("state", state.as_str()), ("lti_storage_target", "_parent")];
    let check = framed.post(format!("{}/lti/launch", gw.url)).form(&form).send().await.expect("launch");
    assert_eq!(check.status(), 200);
    let get = script_json(&check.text().await.expect("page"), "ibal-lti");
    assert_eq!((get["mode"].as_str(), get["state"].as_str()), (Some("get"), Some(state.as_str())));
    let ticket = get["ticket"].as_str().expect("ticket").to_owned();
    // The id_token waits in the page, not in the gateway's tables: only its digest is kept.
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT data FROM sessions").fetch_all(gw.state.db.pool()).await.expect("sessions");
    assert!(!kept.is_empty() && kept.iter().all(|d| !d.contains(&token)), "no token value in the sessions table");

    // A wrong value from storage is refused, and spends the ticket.
    let verify = |ticket: String, stored: String, id_token: String| {
        let url = format!("{}/lti/launch/verify", gw.url);
        let client = framed.clone();
        async move {
            let form = [("ticket", ticket), ("stored_state", stored), ("id_token", id_token)];
            client.post(url).form(&form).send().await.expect("verify")
        }
    };
    let forged = verify(ticket.clone(), "forged".into(), token.clone()).await;
    assert_eq!(forged.status(), 400);
    assert!(forged.text().await.expect("page").contains("state_mismatch"));
    assert_eq!(verify(ticket, state.clone(), token.clone()).await.status(), 400, "tickets are one-time");
    // Another id_token than the launch's, with the right ticket and state: refused.
    let check = framed.post(format!("{}/lti/launch", gw.url)).form(&form).send().await.expect("launch");
    let ticket =
        script_json(&check.text().await.expect("page"), "ibal-lti")["ticket"].as_str().expect("ticket").to_owned();
    let other = platform.sign(&platform.claims("another-nonce"));
    assert_eq!(verify(ticket, state.clone(), other).await.status(), 400, "the launch's own id_token only");

    // Again, with the value the platform's frame kept: the chat, signed in.
    let check = framed.post(format!("{}/lti/launch", gw.url)).form(&form).send().await.expect("launch");
    let ticket =
        script_json(&check.text().await.expect("page"), "ibal-lti")["ticket"].as_str().expect("ticket").to_owned();
    let chat = verify(ticket, state.clone(), token.clone()).await;
    assert_eq!(chat.status(), 200);
    assert_eq!(settings(&chat.text().await.expect("page"))["auth_mode"], "token");
    // Neither cookie nor storage target: refused.
    let (status, _, html) = post_launch(&browser(), &gw, &token, &state).await;
    assert_eq!(status, 400);
    assert!(html.contains("state_mismatch"));
}

/// The course team's controls chosen when deep linking come back signed in every launch: the widget
/// gets the starters and the disclosure, the assistant waits for the disclosure to be accepted, and
/// the tutoring prompt reaches the model.
#[tokio::test]
async fn the_deep_linked_controls_reach_the_widget_and_the_assistant() {
    let custom = json!({
        "title": "Week 3 helper",
        "starters": "What is week 3 about?\nQuiz me",
        "tutor_style": "direct",
        "style_prompt": "Answer in one sentence.",
        "disclosure": "Answers come from an AI.",
    });
    let instructor = json!(["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]);
    let (llm, gw, html) = assistant_launch(custom, instructor).await;
    let access = settings(&html)["access_token"].as_str().expect("token").to_owned();
    let (mut ws, info, _) = Client::join(&gw, &access, "").await;
    let context = &info["context"];
    assert_eq!(context["starters"], json!(["What is week 3 about?", "Quiz me"]));
    assert_eq!(context["disclosure"]["text"], "Answers come from an AI.");
    assert_eq!(context["disclosure"]["accepted"], false);
    let version = context["disclosure"]["version"].as_str().expect("version").to_owned();
    assert_eq!(version.len(), 16, "named as the XBlock names it");

    ws.send(json!({"type": "message", "client_id": "l-1", "content": "Hello?"})).await;
    assert_eq!(ws.expect("error").await["code"], "disclosure_required");
    ws.send(json!({"type": "accept_disclosure", "version": version})).await;
    ws.send(json!({"type": "message", "client_id": "l-2", "content": "Hello?"})).await;
    ws.expect("message").await;
    ws.until("stream_end").await;
    let system = common::fake_llm::system_prompt(&llm.last_request.lock().expect("lock").clone());
    assert!(system.contains("How to tutor in this course:\nAnswer in one sentence."), "{system}");
}

/// The value of the launch page's staff pass, if it offers one.
fn staff_pass(html: &str) -> Option<String> {
    let marker = "name=\"pass\" value=\"";
    let at = html.find(marker)? + marker.len();
    // As a browser reads the attribute: the page escapes `/` (the pass is base64).
    Some(html[at..].split('"').next()?.replace("&#x2f;", "/"))
}

#[tokio::test]
async fn an_instructors_launch_opens_the_courses_insights_and_a_learners_does_not() {
    let (platform, gw) = setup().await;
    let page = "/instructor/course-v1%3AOrg%2BC1%2B2026";
    let client = browser();
    let (state, nonce) = login(&client, &gw).await;
    let (status, _, html) = post_launch(&client, &gw, &platform.sign(&platform.claims(&nonce)), &state).await;
    assert_eq!(status, 200, "{html}");
    let pass = staff_pass(&html).expect("an instructor's launch page offers the insights");
    assert!(html.contains("action=\"/instructor/enter\" target=\"_blank\""), "in a new tab, out of the frame");

    // A new tab of the same browser posts it: the course's dashboard, once.
    let tab = browser();
    let response = tab.post(format!("{}/instructor/enter", gw.url)).form(&[("pass", pass.as_str())]).send().await;
    let response = response.expect("enter");
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], page);
    let shown = tab.get(format!("{}{page}", gw.url)).send().await.expect("page");
    assert_eq!(shown.status().as_u16(), 200);
    let again = browser().post(format!("{}/instructor/enter", gw.url)).form(&[("pass", pass.as_str())]).send().await;
    assert_eq!(again.expect("again").status().as_u16(), 403, "a pass enters once");
    let forged =
        browser().post(format!("{}/instructor/enter", gw.url)).form(&[("pass", "sealed:v1:AAAA")]).send().await;
    assert_eq!(forged.expect("forged").status().as_u16(), 403);

    // A learner's launch: no pass, and the dashboard stays shut to them.
    let learner = browser();
    let (state, nonce) = login(&learner, &gw).await;
    let mut claims = platform.claims(&nonce);
    claims["sub"] = json!("anon-learner");
    claims["https://purl.imsglobal.org/spec/lti/claim/roles"] =
        json!(["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]);
    let (status, _, html) = post_launch(&learner, &gw, &platform.sign(&claims), &state).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(staff_pass(&html), None);
    assert_eq!(learner.get(format!("{}{page}", gw.url)).send().await.expect("page").status().as_u16(), 403);
}

/// A link deep-linked with both the live room and the assistant: the launch page asks the widget for
/// tabs, and each socket's `channel` picks one of the two conversations of the link.
#[tokio::test]
async fn a_link_offering_both_opens_the_room_or_the_assistant_by_channel() {
    let learner = json!(["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]);
    let (_llm, gw, html) = assistant_launch(json!({"mode": "both"}), learner).await;
    let page = settings(&html);
    assert_eq!(page["mode"], "both", "the widget shows tabs");
    let access = page["access_token"].as_str().expect("token").to_owned();
    let mut conversations = Vec::new();
    for (channel, backend) in [("room", "room"), ("assistant", "openai")] {
        let mut ws = Client::connect(&gw, "", None).await.expect("connect");
        ws.send(json!({"type": "auth", "token": access, "channel": channel})).await;
        let info = ws.expect("user_info").await;
        assert_eq!(info["backend"], backend, "the {channel} tab");
        conversations.push(info["conversation_id"].clone());
    }
    assert_ne!(conversations[0], conversations[1], "two conversations of one link");

    // A link without the setting is one chat: the gateway's own kind, whatever the channel says.
    let (_llm, gw, html) =
        assistant_launch(json!({}), json!(["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"])).await;
    let page = settings(&html);
    assert_eq!(page["mode"], "assistant");
    let mut ws = Client::connect(&gw, "", None).await.expect("connect");
    ws.send(json!({"type": "auth", "token": page["access_token"], "channel": "room"})).await;
    assert_eq!(ws.expect("user_info").await["backend"], "openai");
}
