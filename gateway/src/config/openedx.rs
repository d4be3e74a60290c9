//! Open edX: the popup sign-in's OAuth2 client (`OPENEDX_*`) and the LMS-signed chat tickets (`TICKET_*`).

use secrecy::SecretString;
use url::Url;

use super::vars::{ConfigError, Vars, origin_of};

/// LMS-signed chat tickets: the proof of a socket's course context (and, with LMS sign-in, of its
/// user).
#[derive(Debug, Clone)]
pub struct TicketConfig {
    /// The tickets' `iss`: the LMS root URL (`TICKET_ISSUER`, by default `OPENEDX_URL`).
    pub issuer: String,
    /// The LMS's public keys, a JWK set (`TICKET_JWKS`); a second key can be listed for rotation.
    pub jwks: String,
}

#[derive(Debug, Clone)]
pub struct OpenEdxConfig {
    /// The LMS as browsers see it (`OPENEDX_URL`).
    pub url: Url,
    /// The LMS as the gateway reaches it server-to-server (inside Docker: `http://lms:8000`).
    pub internal_url: Url,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub auth_url: Url,
    pub token_url: Url,
    pub redirect_uri: Url,
    /// The LMS public JWK set (JSON); Open edX publishes none, so it is configuration.
    pub jwks: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub scopes: String,
}

/// The LMS origin and its MFE origin (`apps.<LMS host>`), which frame and open the chat.
pub(super) fn openedx_origins(lms: &Url) -> Vec<String> {
    let mut out = vec![origin_of(lms)];
    if let Some(host) = lms.host_str() {
        let mut mfe = lms.clone();
        if mfe.set_host(Some(&format!("apps.{host}"))).is_ok() {
            out.push(origin_of(&mfe));
        }
    }
    out
}

pub(super) fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("{}{}", base.path().trim_end_matches('/'), path));
    url
}

pub(super) fn openedx_config(vars: &Vars, public_url: &Url) -> Result<Option<OpenEdxConfig>, ConfigError> {
    let Some(url) = vars.url("OPENEDX_URL")? else {
        for var in ["OPENEDX_CLIENT_ID", "OPENEDX_AUTH_URL", "OPENEDX_TOKEN_URL", "OPENEDX_JWKS"] {
            if vars.get(var).is_some() {
                return Err(ConfigError::new("OPENEDX_URL", format!("must be set when {var} is set")));
            }
        }
        return Ok(None);
    };
    let client_id = vars
        .get("OPENEDX_CLIENT_ID")
        .ok_or_else(|| ConfigError::new("OPENEDX_CLIENT_ID", "must be set when OPENEDX_URL is set"))?
        .to_owned();
    let internal_url = vars.url("OPENEDX_INTERNAL_URL")?.unwrap_or_else(|| url.clone());
    let jwks = match vars.get("OPENEDX_JWKS") {
        None => None,
        Some(raw) => {
            let value: serde_json::Value =
                serde_json::from_str(raw).map_err(|e| ConfigError::new("OPENEDX_JWKS", format!("not JSON: {e}")))?;
            if !value.get("keys").is_some_and(serde_json::Value::is_array) {
                return Err(ConfigError::new("OPENEDX_JWKS", "expected a JWK set: {\"keys\": [...]}"));
            }
            Some(raw.to_owned())
        }
    };
    Ok(Some(OpenEdxConfig {
        auth_url: vars.url("OPENEDX_AUTH_URL")?.unwrap_or_else(|| join(&url, "/oauth2/authorize")),
        token_url: vars.url("OPENEDX_TOKEN_URL")?.unwrap_or_else(|| join(&internal_url, "/oauth2/access_token")),
        redirect_uri: vars.url("OPENEDX_REDIRECT_URI")?.unwrap_or_else(|| join(public_url, "/oauth/openedx/callback")),
        issuer: vars.get("OPENEDX_ISSUER").map(str::to_owned).unwrap_or_else(|| join(&url, "/oauth2").to_string()),
        audience: vars.get("OPENEDX_AUDIENCE").unwrap_or("openedx").to_owned(),
        scopes: vars.get("OPENEDX_SCOPES").unwrap_or("email profile").to_owned(),
        client_secret: vars.secret("OPENEDX_CLIENT_SECRET"),
        client_id,
        jwks,
        internal_url,
        url,
    }))
}

pub(super) fn ticket_config(vars: &Vars, openedx: Option<&OpenEdxConfig>) -> Result<Option<TicketConfig>, ConfigError> {
    let Some(jwks) = vars.get("TICKET_JWKS") else {
        if vars.get("TICKET_ISSUER").is_some() {
            return Err(ConfigError::new("TICKET_JWKS", "must be set when TICKET_ISSUER is set"));
        }
        return Ok(None);
    };
    let issuer = match (vars.get("TICKET_ISSUER"), openedx) {
        (Some(issuer), _) => issuer.trim_end_matches('/').to_owned(),
        (None, Some(edx)) => edx.url.as_str().trim_end_matches('/').to_owned(),
        (None, None) => {
            return Err(ConfigError::new(
                "TICKET_ISSUER",
                "must be set when TICKET_JWKS is set without OPENEDX_URL (the LMS root URL, e.g. https://lms.example.com)",
            ));
        }
    };
    // Built once here so that an unusable key stops start-up with its variable named.
    crate::crypto::jwks::RsaKeys::parse(jwks)
        .and_then(crate::crypto::jwks::RsaKeys::require_kids)
        .map_err(|problem| ConfigError::new("TICKET_JWKS", problem))?;
    Ok(Some(TicketConfig { issuer, jwks: jwks.to_owned() }))
}
