//! Identity end to end: the Open edX popup flow against a fake LMS, token exchange and its
//! rejections, refresh rotation, key rotation, client credentials, local accounts, and an OIDC
//! client (the `openidconnect` crate) completing the authorization-code flow.

use crate::common;

use base64::Engine;
use common::fake_openedx::{Behaviour, FakeLms, chrono_now};
use common::{RunningGateway, browser, spawn_gateway};
use serde_json::{Value, json};

const PAGE_ORIGIN: &str = "http://course.test";

async fn setup(extra: &[(&str, &str)]) -> (FakeLms, RunningGateway) {
    let lms = FakeLms::start().await;
    let vars = lms.gateway_vars();
    let mut pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.push(("ALLOWED_ORIGINS", PAGE_ORIGIN));
    pairs.push(("AUTH_RELAY_PATHS", RELAY_PATH));
    pairs.extend_from_slice(extra);
    let gw = spawn_gateway(&pairs).await;
    (lms, gw)
}

fn location(response: &reqwest::Response) -> String {
    assert!(response.status().is_redirection(), "expected a redirect, got {}", response.status());
    response.headers()["location"].to_str().expect("ascii").to_owned()
}

/// The widget's nonce for one sign-in attempt.
const NONCE: &str = "n0nce-of-this-attempt-42";
/// The relay page the test configuration allows on the page's origin.
const RELAY_PATH: &str = "/resource/ibalxblock/public/relay.html";

/// The popup: gateway login (with `extra` query parameters) → LMS authorize (already logged in) →
/// the gateway's callback page.
async fn walk_popup(
    client: &reqwest::Client,
    gw: &RunningGateway,
    extra: &str,
) -> (reqwest::StatusCode, String, String) {
    let url = format!("{}/oauth/openedx/login?origin={}&nonce={NONCE}{extra}", gw.url, urlencode(PAGE_ORIGIN));
    let to_lms = location(&client.get(&url).send().await.expect("login"));
    let to_callback = location(&client.get(&to_lms).send().await.expect("authorize"));
    let page = client.get(&to_callback).send().await.expect("callback");
    let status = page.status();
    (status, page.text().await.expect("html"), to_callback)
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The JSON the popup page posts to its opener.
fn posted_payload(html: &str) -> Value {
    let start = html.find("id=\"ibal-result\"").expect("result script");
    let body = &html[start..];
    let json = &body[body.find('>').expect("tag end") + 1..body.find("</script>").expect("script end")];
    serde_json::from_str(json).expect("payload JSON")
}

fn posted_target(html: &str) -> String {
    let line = html.lines().find(|l| l.contains("var targetOrigin =")).expect("target origin");
    serde_json::from_str(line.split('=').nth(1).expect("value").trim().trim_end_matches(';')).expect("JSON string")
}

/// Verifies a gateway access token the way any resource server would: through the published JWKS.
async fn verify_with_jwks(gw: &RunningGateway, token: &str) -> Value {
    let jwks: Value =
        reqwest::get(format!("{}/.well-known/jwks.json", gw.url)).await.expect("jwks").json().await.expect("json");
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let kid = header.kid.expect("kid");
    let jwk = jwks["keys"].as_array().expect("keys").iter().find(|k| k["kid"] == kid.as_str()).expect("kid published");
    let key =
        jsonwebtoken::DecodingKey::from_rsa_components(jwk["n"].as_str().expect("n"), jwk["e"].as_str().expect("e"))
            .expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[&gw.url]);
    validation.set_audience(&["ibal"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).expect("the token verifies against the JWKS").claims
}

#[tokio::test]
async fn popup_login_ends_with_a_gateway_token_posted_to_the_exact_origin() {
    let (lms, gw) = setup(&[]).await;
    let client = browser();
    let first = client
        .get(format!("{}/oauth/openedx/login?origin={}&nonce={NONCE}", gw.url, urlencode(PAGE_ORIGIN)))
        .send()
        .await
        .expect("login");
    let authorize = url::Url::parse(&location(&first)).expect("url");
    assert!(authorize.as_str().starts_with(&format!("{}/oauth2/authorize?", lms.url)));
    let q: std::collections::HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "llm-gateway");
    assert_eq!(q["redirect_uri"], format!("{}/oauth/openedx/callback", gw.url), "the exact redirect URI");
    assert_eq!(q["scope"], "email profile");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 32);

    let (status, html, _) = walk_popup(&client, &gw, "").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(posted_target(&html), PAGE_ORIGIN, "postMessage goes to the exact page origin");
    assert!(html.contains("opener.postMessage(result, targetOrigin)"));
    assert!(!html.contains("postMessage(result, \"*\")"));
    let payload = posted_payload(&html);
    assert_eq!(payload["type"], "ibal:auth");
    assert_eq!(payload["nonce"], NONCE, "the widget recognises its own attempt");
    assert_eq!(payload["username"], "john_doe");
    assert_eq!(payload["expires_in"], 900);
    assert!(payload["refresh_token"].as_str().expect("refresh").starts_with("r1."));

    let claims = verify_with_jwks(&gw, payload["access_token"].as_str().expect("token")).await;
    assert_eq!(claims["username"], "john_doe");
    assert_eq!(claims["roles"], json!(["learner"]));
    let user =
        gw.state.db.find_user_by_identity(&lms.issuer, "a3f9c2d1e0b4").await.expect("query").expect("identity stored");
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(user.email, "john@example.com");

    let discovery: Value = reqwest::get(format!("{}/.well-known/openid-configuration", gw.url))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(discovery["issuer"], gw.url.as_str());
    assert_eq!(discovery["jwks_uri"], format!("{}/.well-known/jwks.json", gw.url));
}

#[tokio::test]
async fn replayed_state_and_replayed_code_are_refused() {
    let (_lms, gw) = setup(&[]).await;
    let client = browser();
    let (status, _, callback_url) = walk_popup(&client, &gw, "").await;
    assert_eq!(status, 200);
    // The same callback again: the state was consumed.
    let again = client.get(&callback_url).send().await.expect("replay");
    assert_eq!(again.status(), 400);
    assert!(again.text().await.expect("html").contains("invalid_state"));

    // A fresh state with the old (already redeemed) code: the LMS refuses it.
    let to_lms = location(
        &client
            .get(format!("{}/oauth/openedx/login?origin={}&nonce={NONCE}", gw.url, urlencode(PAGE_ORIGIN)))
            .send()
            .await
            .expect("login"),
    );
    let state =
        url::Url::parse(&to_lms).expect("url").query_pairs().find(|(k, _)| k == "state").expect("state").1.into_owned();
    let old_code = url::Url::parse(&callback_url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1
        .into_owned();
    let page = client
        .get(format!("{}/oauth/openedx/callback?code={old_code}&state={state}", gw.url))
        .send()
        .await
        .expect("callback");
    assert_eq!(page.status(), 400, "a replayed code is a client error");
    let html = page.text().await.expect("html");
    assert_eq!(posted_payload(&html)["type"], "ibal:auth-error");
    assert_eq!(posted_payload(&html)["code"], "lms_refused");
    assert_eq!(posted_target(&html), PAGE_ORIGIN);
    assert_eq!(gw.state.db.count_users().await.expect("count"), 1, "the failures stored nothing");
}

#[tokio::test]
async fn unknown_state_and_disallowed_origin_are_refused() {
    let (_lms, gw) = setup(&[]).await;
    let client = browser();
    let page =
        client.get(format!("{}/oauth/openedx/callback?code=x&state=forged", gw.url)).send().await.expect("callback");
    assert_eq!(page.status(), 400);
    let page = client
        .get(format!("{}/oauth/openedx/login?origin={}", gw.url, urlencode("http://evil.test")))
        .send()
        .await
        .expect("login");
    assert_eq!(page.status(), 400, "no redirect to the LMS for a disallowed origin");
    assert!(page.text().await.expect("html").contains("origin_not_allowed"));
    for query in ["", "&nonce=short", "&nonce=has%20spaces%20in%20it%20ok"] {
        let page = client
            .get(format!("{}/oauth/openedx/login?origin={}{query}", gw.url, urlencode(PAGE_ORIGIN)))
            .send()
            .await
            .expect("login");
        assert_eq!(page.status(), 400, "a missing or malformed nonce: {query}");
    }
    assert_eq!(gw.state.db.count_users().await.expect("count"), 0);
}

#[tokio::test]
async fn lms_refusing_timing_out_or_answering_garbage_gives_a_clear_error_page() {
    let (lms, gw) = setup(&[("HTTP_TIMEOUT", "1")]).await;
    for (behaviour, status, code) in [
        (Behaviour::Refuse, 400, "lms_refused"),
        (Behaviour::Garbage, 502, "lms_error"),
        (Behaviour::Slow, 504, "lms_timeout"),
    ] {
        lms.set_behaviour(behaviour);
        let (got, html, _) = walk_popup(&browser(), &gw, "").await;
        assert_eq!(got, status, "{behaviour:?}");
        assert_eq!(posted_payload(&html)["code"], code, "{behaviour:?}");
        assert!(html.contains("Sign-in failed"));
    }
    assert_eq!(gw.state.db.count_users().await.expect("count"), 0);
    // Once the LMS behaves again, so does the sign-in: nothing of the failures stuck.
    lms.set_behaviour(Behaviour::Normal);
    let (got, _, _) = walk_popup(&browser(), &gw, "").await;
    assert_eq!(got, 200);
    assert_eq!(gw.state.db.count_users().await.expect("count"), 1);
}

#[tokio::test]
async fn without_a_jwk_set_the_user_is_identified_through_the_lms_api() {
    let lms = FakeLms::start().await;
    let pairs = [
        ("OPENEDX_URL", lms.url.as_str()),
        ("OPENEDX_CLIENT_ID", lms.client_id.as_str()),
        ("OPENEDX_CLIENT_SECRET", lms.client_secret.as_str()),
        ("ALLOWED_ORIGINS", PAGE_ORIGIN),
    ];
    let gw = spawn_gateway(&pairs).await;
    let (status, html, _) = walk_popup(&browser(), &gw, "").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(posted_payload(&html)["username"], "john_doe");
    let user = gw.state.db.find_user_by_identity(&lms.issuer, "a3f9c2d1e0b4").await.expect("query").expect("stored");
    assert_eq!(user.name, "John Doe", "the profile comes from /api/user/v1/accounts");
}

/// The account takeover once possible: the attacker picks a secret, sends a signed-in learner a
/// sign-in link naming its hash as a "result handle", and fetches the result with the secret. No
/// result is ever fetchable, released or sent anywhere but to the page that started the sign-in.
#[tokio::test]
async fn a_sign_in_started_from_an_attackers_link_gives_the_attacker_nothing() {
    let (_lms, gw) = setup(&[]).await;
    let victim = browser();
    let secret = ibal_gateway::crypto::random_token(32);
    let handle = ibal_gateway::crypto::s256(&secret);
    // The LMS signs the victim in without a prompt (the Tutor application skips authorization).
    let (status, html, _) = walk_popup(&victim, &gw, &format!("&handle={handle}")).await;
    assert_eq!(status, 200);
    assert!(!html.contains("/oauth/openedx/release") && !html.contains("ibal-continue"), "nothing to hand over");
    assert_eq!(posted_target(&html), PAGE_ORIGIN, "the result goes to the course page's origin only");
    // A same-site page riding the victim's cookies cannot release anything...
    let release = victim.post(format!("{}/oauth/openedx/release", gw.url)).form(&[("handle", &handle)]).send();
    assert!(release.await.expect("release").status().is_client_error());
    // ...and the attacker, holding the secret, fetches nothing.
    let got = reqwest::get(format!("{}/oauth/openedx/result?handle={secret}", gw.url)).await.expect("result");
    assert!(got.status().is_client_error());
    assert!(!got.text().await.expect("body").contains("access_token"));
}

/// Without an opener (a cross-origin opener policy), the result goes to the relay page on the
/// course page's own origin, in the fragment, and only to a configured relay path there.
#[tokio::test]
async fn without_an_opener_the_result_goes_only_to_the_pages_own_relay() {
    let (_lms, gw) = setup(&[]).await;
    let relay = format!("{PAGE_ORIGIN}{RELAY_PATH}");
    let (status, html, _) = walk_popup(&browser(), &gw, &format!("&relay={}", urlencode(&relay))).await;
    assert_eq!(status, 200, "{html}");
    let line = html.lines().find(|l| l.contains("var relay =")).expect("relay");
    let named: String =
        serde_json::from_str(line.split('=').nth(1).expect("value").trim().trim_end_matches(';')).expect("JSON string");
    assert_eq!(named, relay);
    assert!(html.contains("relay + \"#ibal-auth=\""), "the result travels in the fragment, to no server");
    assert_eq!(posted_payload(&html)["nonce"], NONCE);
    // Elsewhere on the origin, another origin, a query or a fragment: never used as a relay (the
    // sign-in itself goes on, to the opener only).
    for bad in [
        format!("{PAGE_ORIGIN}/logout?next=https://evil.test"),
        format!("https://evil.test{RELAY_PATH}"),
        format!("{PAGE_ORIGIN}{RELAY_PATH}?x=1"),
        format!("{PAGE_ORIGIN}{RELAY_PATH}#x"),
        format!("{PAGE_ORIGIN}/resource/ibalxblock/public/../relay.html"),
        format!("{PAGE_ORIGIN}/static/xblock/resources/ibal_xblock/public/relay.x/y.html"),
    ] {
        let (status, html, _) = walk_popup(&browser(), &gw, &format!("&relay={}", urlencode(&bad))).await;
        assert_eq!(status, 200, "{bad}");
        assert!(html.contains("var relay = null;"), "{bad}");
    }
    // Open edX in production serves the relay page as a collected static file, its name hashed.
    let hashed = format!("{PAGE_ORIGIN}/static/xblock/resources/ibal_xblock/public/relay.6d1e5a9b.html");
    let (_lms, defaults) = setup(&[("AUTH_RELAY_PATHS", "")]).await;
    let (_, html, _) = walk_popup(&browser(), &defaults, &format!("&relay={}", urlencode(&hashed))).await;
    assert!(html.contains(&format!("var relay = \"{hashed}\";")), "the default paths include it");
    // Without a relay, a lost opener is told to start again: the result is not exposed.
    let (_, html, _) = walk_popup(&browser(), &gw, "").await;
    assert!(html.contains("var relay = null;"));
}

async fn token_request(gw: &RunningGateway, form: &[(&str, &str)]) -> (reqwest::StatusCode, Value) {
    let response =
        reqwest::Client::new().post(format!("{}/oauth2/token", gw.url)).form(form).send().await.expect("token");
    let status = response.status();
    assert_eq!(response.headers()["cache-control"], "no-store");
    (status, response.json().await.expect("json"))
}

const GRANT_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// A registered confidential client allowed the token exchange, as `clients add --grant
/// token_exchange` makes one: (client_id, secret).
async fn exchange_client(gw: &RunningGateway) -> (String, String) {
    let (row, secret) = ibal_gateway::identity::provider::new_client(
        "Course MFE backend",
        &[],
        &[GRANT_EXCHANGE.into(), "refresh_token".into()],
        &[],
        false,
        false,
    );
    gw.state.db.insert_client(&row).await.expect("client");
    (row.client_id, secret.expect("confidential"))
}

/// Exchanges an Open edX JWT as a registered confidential client.
async fn exchange(gw: &RunningGateway, subject: &str) -> (reqwest::StatusCode, Value) {
    let (id, secret) = exchange_client(gw).await;
    token_request(
        gw,
        &[
            ("grant_type", GRANT_EXCHANGE),
            ("client_id", &id),
            ("client_secret", &secret),
            ("subject_token", subject),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ],
    )
    .await
}

#[tokio::test]
async fn token_exchange_accepts_an_open_edx_jwt() {
    let (lms, gw) = setup(&[]).await;
    let (status, body) = exchange(&gw, &lms.jwt(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    assert_eq!(body["token_type"], "Bearer");
    let claims = verify_with_jwks(&gw, body["access_token"].as_str().expect("token")).await;
    assert_eq!(claims["username"], "john_doe");
    // Global staff of the LMS are the gateway's operators.
    let (_, body) =
        exchange(&gw, &lms.jwt(json!({"administrator": true, "sub": "staff-anon", "preferred_username": "staffer"})))
            .await;
    assert_eq!(verify_with_jwks(&gw, body["access_token"].as_str().expect("token")).await["roles"], json!(["admin"]));
}

/// An Open edX token buys a gateway session only for a registered client that proves who it is,
/// once, and never for longer than the token itself lives.
#[tokio::test]
async fn token_exchange_is_for_confidential_clients_once_and_no_longer_than_the_subject() {
    let (lms, gw) = setup(&[]).await;
    let jwt = lms.jwt(json!({"exp": chrono_now() + 3}));
    let (id, secret) = exchange_client(&gw).await;
    let form = |client_id: &str, client_secret: &str| {
        vec![
            ("grant_type", GRANT_EXCHANGE.to_owned()),
            ("client_id", client_id.to_owned()),
            ("client_secret", client_secret.to_owned()),
            ("subject_token", jwt.clone()),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt".to_owned()),
        ]
    };
    let send = |form: Vec<(&'static str, String)>| {
        let gw = &gw;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token_request(gw, &pairs).await
        }
    };
    // The widget's public client (and any public client) may not.
    let (status, body) = send(form("ibal-widget", "")).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");
    // A confidential client may, once.
    let (status, body) = send(form(&id, &secret)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["expires_in"].as_i64().expect("expires_in") <= 3, "the access token ends with the subject: {body}");
    let (status, replay) = send(form(&id, &secret)).await;
    assert_eq!((status.as_u16(), replay["error"].as_str()), (400, Some("invalid_grant")), "accepted once: {replay}");
    // Once the subject token has expired, so has the session it bought: no refresh, no API.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let refresh = body["refresh_token"].as_str().expect("refresh");
    let (status, refused) = token_request(
        &gw,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", &id), ("client_secret", &secret)],
    )
    .await;
    assert_eq!((status.as_u16(), refused["error"].as_str()), (400, Some("invalid_grant")), "{refused}");
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn token_exchange_rejects_every_bad_token_and_stores_nothing() {
    let (lms, gw) = setup(&[]).await;
    let good = lms.jwt(json!({}));
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let claims = json!({"iss": lms.issuer, "aud": "openedx", "exp": chrono_now() + 3600, "sub": "x", "preferred_username": "mallory"});
    let tampered = {
        let mut payload: Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64"))
                .expect("json");
        payload["preferred_username"] = json!("admin");
        parts[1] = b64(&payload);
        parts.join(".")
    };
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims));
    let jwks: Value = serde_json::from_str(&lms.jwks).expect("jwks");
    let hs256_public = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(jwks["keys"][0]["n"].as_str().expect("n").as_bytes()),
    )
    .expect("sign");
    let cases: Vec<(&str, String)> = vec![
        ("tampered", tampered),
        ("expired", lms.jwt(json!({"exp": chrono_now() - 3600, "iat": chrono_now() - 7200}))),
        ("wrong issuer", lms.jwt(json!({"iss": "https://evil.example.com/oauth2"}))),
        ("wrong audience", lms.jwt(json!({"aud": "someone-else"}))),
        ("alg none", alg_none),
        ("HS256 with the public key", hs256_public),
        ("string exp", lms.jwt(json!({"exp": (chrono_now() + 3600).to_string()}))),
        ("restricted application", lms.jwt(json!({"is_restricted": true}))),
        ("garbage", "not.a.jwt".into()),
    ];
    for (name, token) in cases {
        let (status, body) = exchange(&gw, &token).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(body["error"], "invalid_grant", "{name}");
        assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{name}: a clear message");
    }
    assert_eq!(gw.state.db.count_users().await.expect("count"), 0, "no rejected token stored anything");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_login() {
    let (_lms, gw) = setup(&[]).await;
    let first = common::ws::sign_in(&gw, "rotator").await;
    let r1 = first.refresh_token.clone().expect("refresh");
    let refresh = |token: String| {
        let gw = &gw;
        async move {
            token_request(
                gw,
                &[("grant_type", "refresh_token"), ("refresh_token", &token), ("client_id", "ibal-widget")],
            )
            .await
        }
    };
    let (status, second) = refresh(r1.clone()).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().expect("rotated").to_owned();
    assert_ne!(r1, r2);
    verify_with_jwks(&gw, second["access_token"].as_str().expect("access")).await;
    // r1 again: it leaked. The whole login goes, r2 included.
    let (status, body) = refresh(r1).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_grant")));
    let (status, _) = refresh(r2).await;
    assert_eq!(status, 400, "the successor was revoked with its family");
    let (status, body) = token_request(
        &gw,
        &[("grant_type", "refresh_token"), ("refresh_token", "r1.unknown"), ("client_id", "ibal-widget")],
    )
    .await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn tokens_signed_before_a_key_rotation_stay_valid_until_they_expire() {
    let (lms, gw) = setup(&[]).await;
    let (_, before) = exchange(&gw, &lms.jwt(json!({}))).await;
    let old = before["access_token"].as_str().expect("token").to_owned();
    let sealer = ibal_gateway::crypto::sealed::Sealer::new(&gw.state.config.secret_key.value);
    ibal_gateway::identity::keys::rotate(&gw.state.db, &sealer, std::time::Duration::from_secs(960))
        .await
        .expect("rotate");
    gw.state.tokens.keys().reload().await.expect("reload");
    // Another Open edX token (each is exchanged once).
    let (_, after) = exchange(&gw, &lms.jwt(json!({"iat": chrono_now() - 5}))).await;
    let new = after["access_token"].as_str().expect("token");
    let kid = |t: &str| jsonwebtoken::decode_header(t).expect("header").kid.expect("kid");
    assert_ne!(kid(&old), kid(new), "the new key signs");
    let jwks: Value =
        reqwest::get(format!("{}/.well-known/jwks.json", gw.url)).await.expect("jwks").json().await.expect("json");
    assert_eq!(jwks["keys"].as_array().expect("keys").len(), 2, "both keys are published");
    verify_with_jwks(&gw, &old).await;
    verify_with_jwks(&gw, new).await;
    let userinfo = reqwest::Client::new()
        .get(format!("{}/oauth2/userinfo", gw.url))
        .bearer_auth(&old)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(userinfo.status(), 200, "the gateway itself still accepts the old token");
    let info = userinfo.json::<Value>().await.expect("json");
    assert_eq!(info["sub"], verify_with_jwks(&gw, &old).await["sub"]);
    assert!(info.get("email").is_none(), "no email without the email scope: {info}");
}

#[tokio::test]
async fn client_credentials_for_a_registered_client() {
    let (_lms, gw) = setup(&[]).await;
    let (row, secret) = ibal_gateway::identity::provider::new_client(
        "Analytics",
        &[],
        &["client_credentials".into()],
        &["chat".into()],
        true,
        false,
    );
    gw.state.db.insert_client(&row).await.expect("insert");
    let secret = secret.expect("confidential");
    let http = reqwest::Client::new();
    let ok = http
        .post(format!("{}/oauth2/token", gw.url))
        .basic_auth(&row.client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "chat")])
        .send()
        .await
        .expect("token");
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.expect("json");
    assert!(body.get("refresh_token").is_none());
    assert_eq!(
        verify_with_jwks(&gw, body["access_token"].as_str().expect("token")).await["client_id"],
        row.client_id.as_str()
    );
    let bad = http
        .post(format!("{}/oauth2/token", gw.url))
        .basic_auth(&row.client_id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(bad.status(), 401);
    assert_eq!(bad.json::<Value>().await.expect("json")["error"], "invalid_client");
    let (status, body) =
        token_request(&gw, &[("grant_type", "client_credentials"), ("client_id", "ibal-widget")]).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("unauthorized_client")));
}

#[tokio::test]
async fn local_accounts_register_sign_in_and_are_rate_limited() {
    let gw = spawn_gateway(&[]).await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| http.post(format!("{}{path}", gw.url)).json(&body).send();
    let created = post("/api/v1/auth/register", json!({"username": "alice", "password": "correct horse"}))
        .await
        .expect("register");
    assert_eq!(created.status(), 201);
    let pair: Value = created.json().await.expect("json");
    assert_eq!(verify_with_jwks(&gw, pair["access_token"].as_str().expect("token")).await["username"], "alice");
    let taken =
        post("/api/v1/auth/register", json!({"username": "Alice", "password": "another one"})).await.expect("register");
    assert_eq!(taken.status(), 409);
    let weak = post("/api/v1/auth/register", json!({"username": "bob", "password": "short"})).await.expect("register");
    assert_eq!(weak.status(), 400);
    assert_eq!(weak.json::<Value>().await.expect("json")["error"]["code"], "weak_password");
    let wrong =
        post("/api/v1/auth/login", json!({"username": "alice", "password": "wrong password"})).await.expect("login");
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.json::<Value>().await.expect("json")["error"]["code"], "invalid_credentials");
    let ok =
        post("/api/v1/auth/login", json!({"username": "alice", "password": "correct horse"})).await.expect("login");
    assert_eq!(ok.status(), 200);
    // Guessing is slowed down: the account's bucket empties.
    let mut limited = None;
    for _ in 0..12 {
        let r = post("/api/v1/auth/login", json!({"username": "alice", "password": "guess"})).await.expect("login");
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("rate limited");
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(gw.state.db.count_users().await.expect("count"), 1);
}

#[tokio::test]
async fn local_accounts_are_off_by_default_with_open_edx() {
    let (_lms, gw) = setup(&[]).await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/register", gw.url))
        .json(&json!({"username": "x1", "password": "password1"}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 404);
}

/// An HTTP client for `openidconnect`, on the project's reqwest.
async fn oidc_http(request: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, std::io::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(std::io::Error::other)?;
    let mut builder = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let bytes = response.bytes().await.map_err(std::io::Error::other)?;
    builder.body(bytes.to_vec()).map_err(std::io::Error::other)
}

#[tokio::test]
async fn an_openidconnect_client_completes_the_authorization_code_flow() {
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
    use openidconnect::{
        AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
        RedirectUrl, Scope, TokenResponse,
    };

    let gw = spawn_gateway(&[]).await;
    let redirect = "http://client.test/callback";
    let (row, secret) = ibal_gateway::identity::provider::new_client(
        "Course tools",
        &[redirect.into()],
        &["authorization_code".into(), "refresh_token".into()],
        &["openid".into(), "profile".into()],
        false,
        false,
    );
    gw.state.db.insert_client(&row).await.expect("client");
    reqwest::Client::new()
        .post(format!("{}/api/v1/auth/register", gw.url))
        .json(&json!({"username": "carol", "password": "carol's password", "name": "Carol"}))
        .send()
        .await
        .expect("register");

    let http = |r| oidc_http(r);
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(gw.url.clone()).expect("issuer"), &http)
        .await
        .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(row.client_id.clone()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.into()).expect("redirect"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The browser: authorize → sign in → consent (third-party client) → back with a code.
    let browser = browser();
    let to_login = location(&browser.get(auth_url.as_str()).send().await.expect("authorize"));
    assert!(to_login.starts_with("/oauth2/login?next="), "{to_login}");
    let login_page =
        browser.get(format!("{}{to_login}", gw.url)).send().await.expect("login page").text().await.expect("html");
    let field = |html: &str, name: &str| -> String {
        let at = html.find(&format!("name=\"{name}\" value=\"")).expect(name) + name.len() + 15;
        html[at..].split('"').next().expect("value").replace("&amp;", "&").replace("&#x2f;", "/").replace("&#x3d;", "=")
    };
    let next = field(&login_page, "next");
    let back = browser
        .post(format!("{}/oauth2/login", gw.url))
        .form(&[
            ("csrf", field(&login_page, "csrf")),
            ("username", "carol".into()),
            ("password", "carol's password".into()),
            ("next", next),
        ])
        .send()
        .await
        .expect("sign in");
    let consent_page = browser
        .get(format!("{}{}", gw.url, location(&back)))
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("html");
    assert!(consent_page.contains("Allow Course tools?"), "third-party clients ask for consent");
    let listed = &consent_page[consent_page.find("id=\"ibal-scopes\"").expect("scope list")..];
    let listed = &listed[..listed.find("</ul>").expect("end")];
    assert!(listed.contains("sign you in") && listed.contains("see your username and name"), "{listed}");
    assert!(!listed.contains("email") && !listed.contains("chat"), "exactly what is granted: {listed}");
    let allowed = browser
        .post(format!("{}/oauth2/consent", gw.url))
        .form(&[
            ("csrf", field(&consent_page, "csrf")),
            ("client_id", row.client_id.clone()),
            ("scope", field(&consent_page, "scope")),
            ("decision", "allow".into()),
            ("next", field(&consent_page, "next")),
        ])
        .send()
        .await
        .expect("consent");
    let callback = location(&browser.get(format!("{}{}", gw.url, location(&allowed))).send().await.expect("authorize"));
    let callback = url::Url::parse(&callback).expect("callback");
    assert!(callback.as_str().starts_with(redirect));
    let params: std::collections::HashMap<String, String> = callback.query_pairs().into_owned().collect();
    assert_eq!(&params["state"], csrf.secret());

    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = token.id_token().expect("id_token");
    let claims =
        id_token.claims(&client.id_token_verifier(), &nonce).expect("id_token verifies through discovery + JWKS");
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("carol"));
    assert!(claims.email().is_none(), "no email without the email scope");
    assert_eq!(token.scopes().map(|s| s.len()), Some(2), "the token says what it was granted");
    // The chat needs the chat scope, which this client was not granted.
    let access = token.access_token().secret().clone();
    let api = reqwest::Client::new().get(format!("{}/api/v1/conversations", gw.url)).bearer_auth(&access).send();
    assert_eq!(api.await.expect("api").status(), 403);
    let mut socket = common::ws::Client::connect(&gw, "", None).await.expect("ws");
    socket.send(json!({"type": "auth", "token": access})).await;
    let (frames, code) = socket.closed().await;
    assert_eq!((frames[0]["code"].as_str(), code), (Some("insufficient_scope"), Some(4401)));
    // Asking for a scope the client did not register is refused at the authorization endpoint.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (email_url, _, _) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let refused = location(&browser.get(email_url.as_str()).send().await.expect("authorize"));
    assert!(refused.starts_with(redirect) && refused.contains("error=invalid_scope"), "{refused}");

    // The code is one-time.
    let replay = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .expect("endpoint")
        .request_async(&http)
        .await;
    assert!(replay.is_err(), "a redeemed code is refused");
}

#[tokio::test]
async fn a_first_party_client_signs_users_in_through_open_edx() {
    let (lms, gw) = setup(&[]).await;
    let redirect = "http://tools.test/cb";
    let (row, _) = ibal_gateway::identity::provider::new_client(
        "Tools",
        &[redirect.into()],
        &["authorization_code".into()],
        &["openid".into()],
        true,
        true,
    );
    gw.state.db.insert_client(&row).await.expect("client");
    let verifier = ibal_gateway::crypto::random_token(32);
    let authorize = format!(
        "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&state=s1&code_challenge={}&code_challenge_method=S256&scope=openid",
        gw.url,
        row.client_id,
        urlencode(redirect),
        ibal_gateway::crypto::s256(&verifier)
    );
    let browser = browser();
    let to_login = location(&browser.get(&authorize).send().await.expect("authorize"));
    let page =
        browser.get(format!("{}{to_login}", gw.url)).send().await.expect("login page").text().await.expect("html");
    let page = page.replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(!page.contains("name=\"password\""), "no local accounts alongside Open edX by default");
    let at = page.find("href=\"/oauth/openedx/login?").expect("Open edX link") + 6;
    let link = page[at..].split('"').next().expect("href");
    let to_lms = location(&browser.get(format!("{}{link}", gw.url)).send().await.expect("openedx login"));
    assert!(to_lms.starts_with(&lms.url));
    let to_callback = location(&browser.get(&to_lms).send().await.expect("lms"));
    let back = location(&browser.get(&to_callback).send().await.expect("callback"));
    assert!(back.starts_with("/oauth2/authorize?"), "the callback returns to the authorization request: {back}");
    let done = location(&browser.get(format!("{}{back}", gw.url)).send().await.expect("authorize"));
    assert!(done.starts_with(&format!("{redirect}?code=")), "first-party: no consent page: {done}");
    let code =
        url::Url::parse(&done).expect("url").query_pairs().find(|(k, _)| k == "code").expect("code").1.into_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("client_id", row.client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body) = token_request(&gw, &form).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string());
    assert_eq!(verify_with_jwks(&gw, body["access_token"].as_str().expect("token")).await["username"], "john_doe");
    let (status, body) = token_request(&gw, &form).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_grant")), "codes are one-time");
}

#[tokio::test]
async fn behind_a_trusted_proxy_sign_in_limits_are_per_client_not_site_wide() {
    let gw = spawn_gateway(&[("TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let http = reqwest::Client::new();
    let register = |i: usize, forwarded: Option<String>| {
        let mut request = http
            .post(format!("{}/api/v1/auth/register", gw.url))
            .json(&json!({"username": format!("user{i}"), "password": "a fine password"}));
        if let Some(f) = forwarded {
            request = request.header("x-forwarded-for", f);
        }
        request.send()
    };
    // Twelve different clients through the proxy: none is limited by the others.
    for i in 0..12 {
        let status = register(i, Some(format!("198.51.100.{i}"))).await.expect("register").status();
        assert_eq!(status, 201, "client {i}");
    }
    // One client, even one that writes its own X-Forwarded-For, is limited.
    let mut statuses = Vec::new();
    for i in 100..112 {
        statuses.push(register(i, Some("10.0.0.1, 203.0.113.5".into())).await.expect("register").status().as_u16());
    }
    assert!(statuses.contains(&429), "the right-most untrusted hop is the client: {statuses:?}");
}

async fn refresh_with(gw: &RunningGateway, refresh_token: &str) -> (reqwest::StatusCode, Value) {
    token_request(
        gw,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", "ibal-widget")],
    )
    .await
}

/// What the API and the chat say to an access token.
async fn api_status(gw: &RunningGateway, access: &str) -> u16 {
    let api = reqwest::Client::new().get(format!("{}/api/v1/conversations", gw.url)).bearer_auth(access).send();
    api.await.expect("api").status().as_u16()
}

async fn chat_close_code(gw: &RunningGateway, access: &str) -> Option<u16> {
    let mut socket = common::ws::Client::connect(gw, "", None).await.expect("ws");
    socket.send(json!({"type": "auth", "token": access})).await;
    socket.closed().await.1
}

/// Many refreshes of one token at once: at most one gets a successor; the reuse revokes the login;
/// afterwards no token of the family works, refresh or access, on the API or the chat.
#[tokio::test]
async fn concurrent_refreshes_of_one_token_leave_no_token_of_the_family_alive() {
    let gw = spawn_gateway(&[]).await;
    let first = common::ws::sign_in(&gw, "racer").await;
    let refresh = first.refresh_token.clone().expect("refresh");
    let answers = futures_util::future::join_all((0..8).map(|_| refresh_with(&gw, &refresh))).await;
    let winners: Vec<&Value> = answers.iter().filter(|(status, _)| *status == 200).map(|(_, body)| body).collect();
    assert!(winners.len() <= 1, "{} refreshes succeeded", winners.len());
    for body in &winners {
        let (status, _) = refresh_with(&gw, body["refresh_token"].as_str().expect("successor")).await;
        assert_eq!(status, 400, "the successor of a reused token is dead");
    }
    let mut access: Vec<String> =
        winners.iter().map(|b| b["access_token"].as_str().expect("token").to_owned()).collect();
    access.push(first.access_token.clone());
    for token in &access {
        assert_eq!(api_status(&gw, token).await, 401, "the API refuses the family's access tokens");
        assert_eq!(chat_close_code(&gw, token).await, Some(4403), "so does the chat");
    }
}

/// Signing out revokes the login: its refresh token, its access tokens, and its open chats.
#[tokio::test]
async fn sign_out_ends_the_login_and_closes_its_chats() {
    let gw = spawn_gateway(&[("CHAT_HEARTBEAT_SECS", "1")]).await;
    let pair = common::ws::sign_in(&gw, "leaver").await;
    let (mut open, _, _) = common::ws::Client::join(&gw, &pair.access_token, "").await;
    let other = common::ws::sign_in(&gw, "stayer").await;
    let out = reqwest::Client::new().post(format!("{}/api/v1/auth/logout", gw.url)).bearer_auth(&pair.access_token);
    assert_eq!(out.send().await.expect("logout").status(), 204);
    let (frames, code) = open.closed().await;
    assert_eq!(code, Some(4403), "the open chat closes within a few heartbeats");
    assert!(frames.iter().any(|f| f["code"] == "session_revoked"), "{frames:?}");
    assert_eq!(refresh_with(&gw, pair.refresh_token.as_deref().expect("refresh")).await.0, 400);
    assert_eq!(api_status(&gw, &pair.access_token).await, 401);
    assert_eq!(chat_close_code(&gw, &pair.access_token).await, Some(4403));
    assert_eq!(api_status(&gw, &other.access_token).await, 200, "another login is untouched");
    let anonymous = reqwest::Client::new().post(format!("{}/api/v1/auth/logout", gw.url)).send();
    assert_eq!(anonymous.await.expect("logout").status(), 401);
}

/// SESSION_MAX_AGE is measured from sign-in: refreshing never extends it.
#[tokio::test]
async fn a_login_ends_at_its_absolute_lifetime_however_often_it_is_refreshed() {
    let gw = spawn_gateway(&[("SESSION_MAX_AGE", "3")]).await;
    let pair = common::ws::sign_in(&gw, "bounded").await;
    assert!(pair.expires_in <= 3, "the access token does not outlive the login");
    let mut refresh = pair.refresh_token.clone().expect("refresh");
    for _ in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        let (status, body) = refresh_with(&gw, &refresh).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["expires_in"].as_i64().expect("expires_in") <= 2);
        refresh = body["refresh_token"].as_str().expect("rotated").to_owned();
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (status, body) = refresh_with(&gw, &refresh).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
}

/// Sign-in abuse: an absurd username never becomes a limiter key or a hash; when every password
/// slot is busy, the excess is told to come back (429, Retry-After) instead of queueing.
#[tokio::test]
async fn password_sign_in_is_bounded_in_key_size_and_in_work() {
    let (app, mut state, _db) = common::test_app(&[("LOCAL_ACCOUNTS", "true")]).await;
    let register = |username: &str| {
        axum::http::Request::post("/api/v1/auth/register")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(json!({"username": username, "password": "a fine password"}).to_string()))
            .expect("request")
    };
    let login = |username: &str| {
        axum::http::Request::post("/api/v1/auth/login")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(json!({"username": username, "password": "a fine password"}).to_string()))
            .expect("request")
    };
    assert_eq!(common::send(&app, register("worker")).await.0, 201);
    let before = state.login_limiter.len();
    let huge = "u".repeat(100_000);
    let started = std::time::Instant::now();
    let (status, _, body) = common::send(&app, login(&huge)).await;
    assert_eq!(status, 401, "{body}");
    assert!(started.elapsed() < std::time::Duration::from_millis(500), "refused before any hashing");
    assert_eq!(state.login_limiter.len(), before + 1, "only the address was counted, not the name");

    // One password slot, no waiting: concurrent sign-ins beyond it are refused with Retry-After.
    state.passwords = ibal_gateway::identity::passwords::PasswordWork::with_limits(1, std::time::Duration::ZERO);
    let app = ibal_gateway::app(state);
    let answers = futures_util::future::join_all((0..6).map(|_| common::send(&app, login("worker")))).await;
    let busy: Vec<_> = answers.iter().filter(|(status, _, _)| *status == 429).collect();
    assert!(!busy.is_empty(), "{:?}", answers.iter().map(|a| a.0).collect::<Vec<_>>());
    assert!(busy.iter().all(|(_, headers, _)| headers.get("retry-after").is_some()));
    assert!(answers.iter().any(|(status, _, _)| *status == 200), "the one slot served someone");
}
