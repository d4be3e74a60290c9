//! The service client as the Tutor plugin registers it (`ibal-gateway clients ensure`), its
//! client-credentials tokens (both the kit's: ibal_test_kit::service), and calls to the service APIs.

use std::path::Path;
use std::process::Output;

use ibal_test_kit::{process, service};
use serde_json::Value;

use super::RunningGateway;

pub use ibal_test_kit::service::CLIENT_ID as SERVICE_ID;
pub const SECRET: &str = "first-secret-of-at-least-32-characters";

/// `ibal-gateway <args>` on the gateway's database, with `env` (and nothing else) in its environment.
pub fn gateway_cli(gw: &RunningGateway, args: &[&str], env: &[(&str, &str)]) -> Output {
    let secret_key = "t".repeat(40);
    let essentials = [("DATABASE_URL", gw.test_db.url.as_str()), ("SECRET_KEY", secret_key.as_str())];
    process::command(Path::new(env!("CARGO_BIN_EXE_ibal-gateway")), &std::env::temp_dir(), essentials)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run ibal-gateway")
}

/// `clients ensure` exactly as the Tutor plugin's init task runs it, plus `extra` arguments.
pub fn ensure(gw: &RunningGateway, secret: &str, extra: &[&str]) -> Output {
    gateway_cli(gw, &service::ensure_args(extra), &[(service::SECRET_ENV, secret)])
}

/// What a successful command printed.
pub fn stdout(out: &Output) -> String {
    process::printed(out).unwrap_or_else(|stderr| panic!("ibal-gateway failed: {stderr}"))
}

/// A client-credentials token request: (status, body).
pub async fn token(gw: &RunningGateway, client_id: &str, secret: &str, scope: &str) -> (u16, Value) {
    service::token(&reqwest::Client::new(), &gw.url, client_id, secret, scope).await.expect("token")
}

/// The service client, ensured with [`SECRET`], and a token of `scope`.
pub async fn service_token(gw: &RunningGateway, scope: &str) -> String {
    stdout(&ensure(gw, SECRET, &[]));
    service::access_token(&reqwest::Client::new(), &gw.url, SECRET, scope).await.expect("access_token")
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
