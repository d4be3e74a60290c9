//! The LMS's service client of the course index and retirement APIs, as the Tutor plugin registers it
//! (`ibal-gateway clients ensure`, run with [`crate::process::command`]) and as it then gets its tokens: by
//! client credentials at `POST /oauth2/token`.

use serde_json::Value;

/// The client id the Tutor plugin gives the service client.
pub const CLIENT_ID: &str = "ibal-openedx";
/// The variable `clients ensure --secret-env` reads the secret from.
pub const SECRET_ENV: &str = "IBAL_SERVICE_CLIENT_SECRET";

/// The arguments of `ibal-gateway clients ensure` exactly as the Tutor plugin's init task passes them (the
/// secret in [`SECRET_ENV`]), then `extra`.
pub fn ensure_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "clients",
        "ensure",
        "--client-id",
        CLIENT_ID,
        "--secret-env",
        SECRET_ENV,
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
    args
}

/// A client-credentials token request to the gateway at `gateway_url`: its status and JSON body.
///
/// # Errors
/// The request failed or its answer was not JSON.
pub async fn token(
    http: &reqwest::Client,
    gateway_url: &str,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> Result<(u16, Value), String> {
    let response = http
        .post(format!("{gateway_url}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", scope),
        ])
        .send()
        .await
        .map_err(|e| format!("the token request: {e}"))?;
    let status = response.status().as_u16();
    let body = response.json().await.map_err(|e| format!("the token request answered {status}: {e}"))?;
    Ok((status, body))
}

/// An access token of `scope` for the service client (already ensured with `secret`).
///
/// # Errors
/// The request failed, or the gateway gave no token (the message has its status and answer).
pub async fn access_token(
    http: &reqwest::Client,
    gateway_url: &str,
    secret: &str,
    scope: &str,
) -> Result<String, String> {
    let (status, body) = token(http, gateway_url, CLIENT_ID, secret, scope).await?;
    match body["access_token"].as_str() {
        Some(token) if status == 200 => Ok(token.to_owned()),
        _ => Err(format!("the service client's token request: {status} {body}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_runs_as_the_tutor_plugin_does_then_the_extra_arguments() {
        let args = ensure_args(&["--rotate"]);
        assert_eq!(args[..6], ["clients", "ensure", "--client-id", "ibal-openedx", "--secret-env", SECRET_ENV]);
        assert_eq!(args.iter().filter(|a| **a == "--scope").count(), 2);
        assert_eq!(args.last(), Some(&"--rotate"));
    }
}
