//! The clients of the provider: the built-in widget client and the registered ones, and how they authenticate.

use axum::http::{HeaderMap, header};
use base64::Engine;

use crate::crypto::{constant_time_eq, random_token, sha256_hex};
use crate::domain::now_ms;
use crate::identity::scopes;
use crate::identity::state::IdentityState;
use crate::identity::tokens::WIDGET_CLIENT_ID;
use crate::store::OAuthClientRow;

use super::GRANT_TOKEN_EXCHANGE;
use super::error::OAuthError;
use super::token::TokenForm;

/// A client as the token endpoint sees it, built-in or registered.
pub(super) struct Client {
    pub(super) id: String,
    pub(super) grant_types: Vec<String>,
    pub(super) redirect_uris: Vec<String>,
    /// The scopes it registered (space-separated).
    pub(super) scopes: String,
    /// It authenticated with a secret (a public client cannot).
    pub(super) confidential: bool,
    pub(super) first_party: bool,
    pub(super) name: String,
}

impl Client {
    pub(super) fn widget() -> Self {
        Self {
            id: WIDGET_CLIENT_ID.into(),
            grant_types: vec!["refresh_token".into(), GRANT_TOKEN_EXCHANGE.into()],
            redirect_uris: Vec::new(),
            scopes: scopes::CHAT.into(),
            confidential: false,
            first_party: true,
            name: "IBAL chat".into(),
        }
    }

    pub(super) fn from_row(row: OAuthClientRow) -> Self {
        Self {
            grant_types: row.grant_types.split_whitespace().map(str::to_owned).collect(),
            redirect_uris: serde_json::from_str(&row.redirect_uris).unwrap_or_default(),
            scopes: row.scopes,
            confidential: row.secret_hash.is_some(),
            first_party: row.first_party != 0,
            name: row.name,
            id: row.client_id,
        }
    }

    pub(super) fn allows(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
}

pub(super) async fn find_client(
    state: &IdentityState,
    client_id: &str,
) -> Result<Option<(Client, Option<String>)>, OAuthError> {
    if client_id == WIDGET_CLIENT_ID {
        return Ok(Some((Client::widget(), None)));
    }
    let row = state.db.get_client(client_id).await.map_err(OAuthError::server)?;
    Ok(row.map(|row| {
        let secret_hash = row.secret_hash.clone();
        (Client::from_row(row), secret_hash)
    }))
}

/// Authenticates the client: HTTP Basic or form credentials; public clients by id alone.
pub(super) async fn authenticate_client(
    state: &IdentityState,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<Client, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode =
                |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
            Some((decode(id)?, decode(secret)?))
        });
    let (client_id, secret) = match basic {
        Some((id, secret)) => (id, Some(secret)),
        None => (form.client_id.clone().unwrap_or_default(), form.client_secret.clone()),
    };
    if client_id.is_empty() {
        return Err(OAuthError::new("invalid_client", "Client authentication is required."));
    }
    let Some((client, secret_hash)) = find_client(state, &client_id).await? else {
        return Err(OAuthError::new("invalid_client", "Unknown client."));
    };
    match (secret_hash, secret) {
        (None, _) => Ok(client),
        (Some(hash), Some(secret)) if constant_time_eq(&hash, &sha256_hex(&secret)) => Ok(client),
        _ => Err(OAuthError::new("invalid_client", "Client authentication failed.")),
    }
}

/// Registers a client: returns the secret once (confidential clients); only its hash is kept.
pub fn new_client(
    name: &str,
    redirect_uris: &[String],
    grant_types: &[String],
    scopes: &[String],
    first_party: bool,
    public: bool,
) -> (OAuthClientRow, Option<String>) {
    let client_id = format!("c_{}", &random_token(12));
    let secret = (!public).then(|| random_token(32));
    let row = OAuthClientRow {
        client_id,
        name: name.to_owned(),
        secret_hash: secret.as_deref().map(sha256_hex),
        redirect_uris: serde_json::to_string(redirect_uris).unwrap_or_else(|_| "[]".into()),
        grant_types: grant_types.join(" "),
        scopes: scopes.join(" "),
        first_party: i64::from(first_party),
        created_at: now_ms(),
    };
    (row, secret)
}

/// The registration `ibal-gateway clients ensure` brings a client in line with: confidential, with
/// the operator's own id and secret (only its hash is kept).
pub fn ensured_client(
    client_id: &str,
    name: &str,
    redirect_uris: &[String],
    grant_types: &[String],
    scopes: &[String],
    first_party: bool,
    secret: &str,
) -> OAuthClientRow {
    let (row, _) = new_client(name, redirect_uris, grant_types, scopes, first_party, true);
    OAuthClientRow { client_id: client_id.to_owned(), secret_hash: Some(sha256_hex(secret)), ..row }
}
