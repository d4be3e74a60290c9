//! The service client as the Tutor plugin registers it (`ibal-gateway clients ensure`), its
//! client-credentials tokens, and calls to the service APIs.

use std::process::{Command, Output};

use serde_json::Value;

use super::RunningGateway;

pub const SERVICE_ID: &str = "ibal-openedx";
pub const SECRET: &str = "first-secret-of-at-least-32-characters";

/// `ibal-gateway <args>` on the gateway's database, with `env` (and nothing else) in its environment.
pub fn gateway_cli(gw: &RunningGateway, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ibal-gateway"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("DATABASE_URL", &gw.test_db.url)
        .env("SECRET_KEY", "t".repeat(40))
        .envs(env.iter().copied())
        .output()
        .expect("run ibal-gateway")
}

/// `clients ensure` exactly as the Tutor plugin's init task runs it, plus `extra` arguments.
pub fn ensure(gw: &RunningGateway, secret: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "clients",
        "ensure",
        "--client-id",
        SERVICE_ID,
        "--secret-env",
        "IBAL_SERVICE_CLIENT_SECRET",
        "--name",
        "Open edX course indexing and retirement",
        "--grant",
        "client_credentials",
        "--scope",
        "index",
        "--scope",
        "retirement",
    ];
    args.extend_from_slice(extra);
    gateway_cli(gw, &args, &[("IBAL_SERVICE_CLIENT_SECRET", secret)])
}

/// What a successful command printed.
pub fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "ibal-gateway failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A client-credentials token request: (status, body).
pub async fn token(gw: &RunningGateway, client_id: &str, secret: &str, scope: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth2/token", gw.url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", scope),
        ])
        .send()
        .await
        .expect("token");
    (response.status().as_u16(), response.json().await.expect("json"))
}

/// The service client, ensured with [`SECRET`], and a token of `scope`.
pub async fn service_token(gw: &RunningGateway, scope: &str) -> String {
    stdout(&ensure(gw, SECRET, &[]));
    let (status, body) = token(gw, SERVICE_ID, SECRET, scope).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("access_token").to_owned()
}

/// A call to the gateway's API with a bearer token: (status, JSON body or null).
pub async fn call(gw: &RunningGateway, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", gw.url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("call");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
