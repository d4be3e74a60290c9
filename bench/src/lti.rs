//! Scenario 6, its LTI half: full LTI 1.3 launches per second. The harness plays the platform: it makes an
//! RSA key, serves its JWKS on loopback, starts each login at the gateway (`GET /lti/login`, answered with a
//! redirect to the platform carrying `state` and `nonce`, and the state cookie), signs an id_token for that
//! nonce with the claims of a resource-link launch, and posts it to `/lti/launch` with the cookie, as the
//! learner's browser would. A launch counts when the gateway answers 200 with its chat page, signed in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ibal_test_kit::keys::RsaKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::baseline::raw_verify_rate;
use crate::gateway::Gateway;
use crate::servers::serve_json;
use crate::stats::{Outcome, Row, Verdict, ratio, truncate};

pub const LAUNCH_ROW: &str = "6. LTI launch validations/s (login + signed launch)";
const ISSUER: &str = "https://platform.bench.test";
const CLIENT_ID: &str = "ibal-bench-tool";
const DEPLOYMENT: &str = "bench-deployment-1";
/// Never fetched: the harness reads `state` and `nonce` from the redirect instead of following it.
const AUTH_URL: &str = "https://platform.bench.test/api/lti/authorize";
const KID: &str = "bench-platform-key-1";
const IN_FLIGHT: usize = 16;
const WARM: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(4);
/// Launches come from this many learners in turn: each launch upserts its learner, as real ones do.
const LEARNERS: usize = 100;

/// The platform: its signing key, the same key's public half, and its JWKS server.
pub struct Platform {
    key: EncodingKey,
    public: DecodingKey,
    jwks_url: String,
    jwks_server: JoinHandle<()>,
}

impl Platform {
    /// A fresh RSA-2048 key and its JWKS served on loopback.
    pub async fn start() -> Result<Self, String> {
        let key = RsaKey::generate()?;
        let jwks = json!({"keys": [key.jwk(KID)]});
        let (port, jwks_server) = serve_json(jwks.to_string()).await?;
        let jwks_url = format!("http://127.0.0.1:{port}/api/lti/security/jwks");
        Ok(Self { key: key.signing, public: key.public, jwks_url, jwks_server })
    }

    /// `LTI_PLATFORMS` for the gateway: this platform, registered at start-up.
    pub fn registration(&self) -> String {
        json!([{
            "issuer": ISSUER, "client_id": CLIENT_ID, "deployment_ids": [DEPLOYMENT],
            "auth_url": AUTH_URL, "jwks_url": self.jwks_url, "name": "ibal-bench platform",
        }])
        .to_string()
    }

    pub fn stop(self) {
        self.jwks_server.abort();
    }
}

const LTI: &str = "https://purl.imsglobal.org/spec/lti/claim";
const LIS: &str = "http://purl.imsglobal.org/vocab/lis/v2";

/// A resource-link launch as Open edX's xblock-lti-consumer builds it, for this login's nonce.
fn claims(nonce: &str, learner: usize, target_link_uri: &str) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut claims = json!({
        "iss": ISSUER, "aud": CLIENT_ID, "azp": CLIENT_ID, "sub": format!("bench-learner-{learner}"),
        "iat": now, "exp": now + 3600, "nonce": nonce,
        "name": format!("Bench Learner {learner}"), "email": format!("learner{learner}@bench.test"),
        "preferred_username": format!("learner{learner}"),
    });
    let lti = [
        ("message_type", json!("LtiResourceLinkRequest")),
        ("version", json!("1.3.0")),
        ("deployment_id", json!(DEPLOYMENT)),
        ("target_link_uri", json!(target_link_uri)),
        (
            "resource_link",
            json!({"id": "block-v1:Bench+LTI+2026+type@lti_consumer+block@chat", "title": "Ask the assistant"}),
        ),
        ("roles", json!([format!("{LIS}/membership#Learner")])),
        (
            "context",
            json!({"id": "course-v1:Bench+LTI+2026", "type": [format!("{LIS}/course#CourseOffering")],
                   "title": "Benchmarks", "label": "B1"}),
        ),
        (
            "launch_presentation",
            json!({"document_target": "iframe", "return_url": "https://platform.bench.test/courses/b1"}),
        ),
        (
            "tool_platform",
            json!({"guid": "platform.bench.test", "name": "Bench LMS", "product_family_code": "openedx"}),
        ),
        ("custom", json!({})),
    ];
    for (name, value) in lti {
        claims[format!("{LTI}/{name}")] = value;
    }
    claims
}

fn sign(key: &EncodingKey, claims: &Value) -> Result<String, String> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.into());
    jsonwebtoken::encode(&header, claims, key).map_err(|e| format!("signing the id_token: {e}"))
}

/// One launch: login initiation, the signed id_token, the launch. Returns the id_token it posted.
async fn launch_once(http: &reqwest::Client, base: &str, key: &EncodingKey, learner: usize) -> Result<String, String> {
    let launch_url = format!("{base}/lti/launch");
    let hint = format!("bench-user-{learner}");
    let login = http
        .get(format!("{base}/lti/login"))
        .query(&[
            ("iss", ISSUER),
            ("login_hint", &hint),
            ("target_link_uri", &launch_url),
            ("client_id", CLIENT_ID),
            ("lti_deployment_id", DEPLOYMENT),
        ])
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    if !login.status().is_redirection() {
        let status = login.status();
        return Err(format!("login answered {status}: {}", truncate(&login.text().await.unwrap_or_default())));
    }
    let location = login.headers().get(LOCATION).and_then(|v| v.to_str().ok()).ok_or("login: no Location")?;
    let to_platform = reqwest::Url::parse(location).map_err(|e| format!("login: Location: {e}"))?;
    let (mut state, mut nonce) = (None, None);
    for (k, v) in to_platform.query_pairs() {
        match k.as_ref() {
            "state" => state = Some(v.into_owned()),
            "nonce" => nonce = Some(v.into_owned()),
            _ => {}
        }
    }
    let (state, nonce) = state.zip(nonce).ok_or("login: the redirect carries no state and nonce")?;
    // The browser-binding cookie, sent back with the launch as the learner's browser would.
    let cookie = login
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("ibal_lti_"))
        .and_then(|c| c.split(';').next())
        .ok_or("login: no state cookie")?
        .to_owned();
    let _ = login.bytes().await;
    let id_token = sign(key, &claims(&nonce, learner, &launch_url))?;
    let launch = http
        .post(&launch_url)
        .header(COOKIE, cookie)
        .form(&[("id_token", id_token.as_str()), ("state", state.as_str())])
        .send()
        .await
        .map_err(|e| format!("launch: {e}"))?;
    let status = launch.status();
    let page = launch.text().await.map_err(|e| format!("launch: {e}"))?;
    if status.is_success() && page.contains("ibal-settings") && page.contains("access_token") {
        Ok(id_token)
    } else {
        Err(format!("launch answered {status}: {}", truncate(&page)))
    }
}

pub struct LaunchLoad {
    ok: u64,
    failed: u64,
    first_error: Option<String>,
    /// One id_token the gateway accepted: the baseline verifies it.
    sample: String,
    gateway_cpu: f64,
}

/// `IN_FLIGHT` launches at a time for `WARM` + `MEASURE`; only launches started after the warm-up count.
pub async fn launch_load(gw: &Gateway, platform: &Platform) -> Result<LaunchLoad, String> {
    // Redirects go to the platform: read, never followed.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(IN_FLIGHT * 2)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let base = gw.url("");
    let sample =
        launch_once(&http, &base, &platform.key, 0).await.map_err(|e| format!("a first launch failed: {e}"))?;
    let cpu_before = gw.cpu_seconds().unwrap_or(0.0);
    let start = Instant::now();
    let (from, until) = (start + WARM, start + WARM + MEASURE);
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|t| {
            let (http, base, key) = (http.clone(), base.clone(), platform.key.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed, mut first_error) = (0u64, 0u64, None);
                for i in 0..1_000_000usize {
                    let t0 = Instant::now();
                    if t0 >= until {
                        break;
                    }
                    let result = launch_once(&http, &base, &key, (t + i * IN_FLIGHT) % LEARNERS).await;
                    if t0 < from {
                        continue;
                    }
                    match result {
                        Ok(_) => ok += 1,
                        Err(e) => {
                            failed += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                (ok, failed, first_error)
            })
        })
        .collect();
    let mut load = LaunchLoad { ok: 0, failed: 0, first_error: None, sample, gateway_cpu: 0.0 };
    for task in tasks {
        let (ok, failed, first_error) = task.await.map_err(|e| e.to_string())?;
        load.ok += ok;
        load.failed += failed;
        if load.first_error.is_none() {
            load.first_error = first_error;
        }
    }
    load.gateway_cpu = gw.cpu_seconds().unwrap_or(0.0) - cpu_before;
    Ok(load)
}

/// How long the harness takes to sign one id_token, on one core (it signs one per launch, on the same
/// cores as the gateway): at most 200 signatures or 1 s.
fn harness_sign_micros(key: &EncodingKey) -> f64 {
    let claims = claims("nonce", 0, "http://127.0.0.1/lti/launch");
    let start = std::time::Instant::now();
    let mut n = 0u32;
    while n < 200 && start.elapsed() < Duration::from_secs(1) {
        if sign(key, &claims).is_err() {
            break;
        }
        n += 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n.max(1))
}

/// The launch row; its baseline is the raw RS256 verification of an accepted id_token with the platform's key.
pub fn launch_rows(out: &mut Outcome, platform: &Platform, load: &LaunchLoad) {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[CLIENT_ID]);
    let (raw_rate, cores) = raw_verify_rate(&load.sample, &platform.public, &validation);
    let rate = load.ok as f64 / MEASURE.as_secs_f64();
    let (figure, verdict) = if load.failed == 0 {
        (format!("{rate:.0} /s"), Verdict::Info)
    } else {
        (format!("{rate:.0} /s, {} failed", load.failed), Verdict::Miss)
    };
    out.rows.push(Row::new(
        LAUNCH_ROW,
        figure,
        format!("{raw_rate:.0} /s (raw RS256 verify of the id_token, {cores} threads)"),
        ratio(rate, raw_rate),
        "report (no figure set)",
        verdict,
    ));
    out.notes.push(format!(
        "lti: {IN_FLIGHT} launches in flight for {:.0} s, {} completed, {} failed; each is GET /lti/login (state, \
         nonce, cookie) then POST /lti/launch, where the gateway takes the login's state, checks the id_token \
         (platform JWKS cached after the first launch, RS256 signature, claims, deployment), records the nonce, \
         upserts the learner, signs an access token and renders the chat page; the gateway used {:.1} s of CPU \
         ({:.0}% of one core); the harness signs every id_token itself (≈{:.0} µs each on one core here) on \
         the same cores",
        MEASURE.as_secs_f64(),
        load.ok,
        load.failed,
        load.gateway_cpu,
        load.gateway_cpu * 100.0 / (WARM + MEASURE).as_secs_f64(),
        harness_sign_micros(&platform.key),
    ));
    if let Some(e) = &load.first_error {
        out.notes.push(format!("lti: first failure: {e}"));
    }
}
