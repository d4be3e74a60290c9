//! Open edX as the identity provider. Open edX serves no JWKS or userinfo endpoint: its public keys
//! are configuration (`OPENEDX_JWKS`), and without them the user is identified through the LMS's user
//! API with the token itself. Its JWTs are RS512 by default and usually carry no `kid`.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use crate::config::OpenEdxConfig;
use crate::crypto::jwks::RsaKeys;
use crate::domain::{IdentityClaims, Role};

#[derive(Debug, thiserror::Error)]
pub enum OpenEdxError {
    #[error("the LMS refused: HTTP {status} {error}")]
    Refused { status: u16, error: String },
    #[error("the LMS did not answer in time")]
    Timeout,
    #[error("the LMS is unreachable")]
    Unreachable,
    #[error("the LMS answered something unexpected: {0}")]
    Malformed(String),
    #[error("the Open edX token is not acceptable: {0}")]
    InvalidToken(&'static str),
}

impl From<reqwest::Error> for OpenEdxError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_decode() || e.is_body() {
            Self::Malformed("unreadable body".into())
        } else {
            Self::Unreachable
        }
    }
}

/// The answer of `/oauth2/access_token` with `token_type=jwt`: an Open edX JWT.
#[derive(Debug)]
pub struct OpenEdxToken {
    pub access_token: String,
}

/// The LMS's OAuth2 endpoints as the `oauth2` crate types them: authorize and token URLs set.
type LmsOAuth = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The token endpoint answered 5xx: the LMS failed (a 4xx is its error answer, typed by `oauth2`).
#[derive(Debug, thiserror::Error)]
enum TokenCallError {
    #[error("HTTP {0}")]
    Status(u16),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Request(String),
}

#[derive(Debug, Deserialize)]
struct OpenEdxClaims {
    sub: String,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    administrator: bool,
    #[serde(default)]
    superuser: bool,
    /// Tokens of restricted applications do not speak for a user.
    #[serde(default)]
    is_restricted: bool,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
}

/// What the gateway must remember of an exchanged Open edX token: when it expires (the session it
/// buys may not outlive it) and what names it once (it is accepted once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectToken {
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// The token's `jti`, else its SHA-256.
    pub once_key: String,
}

pub struct OpenEdx {
    config: OpenEdxConfig,
    oauth: LmsOAuth,
    /// The configured JWK set's keys; none when the LMS is asked who a token is instead.
    keys: Option<RsaKeys>,
    http: reqwest::Client,
}

impl std::fmt::Debug for OpenEdx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenEdx").field("url", &self.config.url.as_str()).field("keys", &self.keys).finish()
    }
}

impl OpenEdx {
    /// Reads the JWK set; every RSA key in it must be usable.
    pub fn new(config: OpenEdxConfig, http: reqwest::Client) -> Result<Self, String> {
        let keys = config.jwks.as_deref().map(RsaKeys::parse).transpose()?;
        let mut oauth = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(config.auth_url.clone()))
            .set_token_uri(TokenUrl::from_url(config.token_url.clone()))
            .set_redirect_uri(RedirectUrl::from_url(config.redirect_uri.clone()))
            // Django OAuth Toolkit (the LMS) reads the client's credentials from the form.
            .set_auth_type(AuthType::RequestBody);
        if let Some(secret) = &config.client_secret {
            oauth = oauth.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        Ok(Self { config, oauth, keys, http })
    }

    pub fn config(&self) -> &OpenEdxConfig {
        &self.config
    }

    /// A fresh PKCE pair: the challenge goes in the authorize URL, the verifier is kept for the code.
    pub fn pkce() -> (PkceCodeChallenge, PkceCodeVerifier) {
        PkceCodeChallenge::new_random_sha256()
    }

    /// Where the popup goes: the LMS's authorize endpoint with PKCE (S256) and `state`.
    pub fn authorize_url(&self, state: &str, challenge: PkceCodeChallenge) -> Url {
        let scopes = self.config.scopes.split_whitespace().map(|s| Scope::new(s.to_owned()));
        let (url, _) = self
            .oauth
            .authorize_url(|| CsrfToken::new(state.to_owned()))
            .add_scopes(scopes)
            .set_pkce_challenge(challenge)
            .url();
        url
    }

    /// Exchanges the authorization code for an Open edX JWT (`token_type=jwt`, asymmetric).
    pub async fn exchange_code(&self, code: &str, verifier: &str) -> Result<OpenEdxToken, OpenEdxError> {
        let http = LmsHttp(self.http.clone());
        let answer: Result<BasicTokenResponse, _> = self
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .add_extra_param("token_type", "jwt")
            .add_extra_param("asymmetric_jwt", "1")
            .request_async(&http)
            .await;
        let token = answer.map_err(|e| match e {
            RequestTokenError::ServerResponse(refusal) => refusal_error(&refusal),
            RequestTokenError::Request(TokenCallError::Status(status)) => {
                OpenEdxError::Refused { status, error: "server error".into() }
            }
            RequestTokenError::Request(TokenCallError::Http(e)) => e.into(),
            RequestTokenError::Request(TokenCallError::Request(why)) | RequestTokenError::Other(why) => {
                OpenEdxError::Malformed(why)
            }
            RequestTokenError::Parse(..) => OpenEdxError::Malformed("the token answer is not the JWT form".into()),
        })?;
        let token_type = token.token_type().as_ref();
        if !token_type.eq_ignore_ascii_case("jwt") {
            return Err(OpenEdxError::Malformed(format!("token_type {token_type:?}, expected JWT")));
        }
        Ok(OpenEdxToken { access_token: token.access_token().secret().clone() })
    }

    /// Who the Open edX JWT speaks for: verified against the JWK set, or, without one, asked of the
    /// LMS's user API (which validates the token itself).
    pub async fn identify(&self, jwt: &str) -> Result<IdentityClaims, OpenEdxError> {
        Ok(self.identify_subject(jwt).await?.0)
    }

    /// [`Self::identify`], with what a token exchange must remember of the token.
    pub async fn identify_subject(&self, jwt: &str) -> Result<(IdentityClaims, SubjectToken), OpenEdxError> {
        let claims = match &self.keys {
            Some(keys) => self.verify(keys, jwt)?,
            None => self.identify_by_api(jwt).await?,
        };
        let subject = SubjectToken {
            expires_at: claims.exp,
            once_key: claims.jti.clone().filter(|j| !j.is_empty()).unwrap_or_else(|| crate::crypto::sha256_hex(jwt)),
        };
        if claims.is_restricted {
            return Err(OpenEdxError::InvalidToken("issued to a restricted application"));
        }
        let username = claims.preferred_username.clone().filter(|u| !u.is_empty());
        let Some(username) = username else { return Err(OpenEdxError::InvalidToken("no preferred_username")) };
        let identity = IdentityClaims {
            issuer: self.config.issuer.clone(),
            subject: claims.sub,
            name: claims.name.unwrap_or_default(),
            email: claims.email.unwrap_or_default(),
            // Open edX global staff run the platform, so they are the gateway's operators too.
            role: Some(if claims.superuser || claims.administrator { Role::Admin } else { Role::Learner }),
            username,
        };
        Ok((identity, subject))
    }

    fn verify(&self, keys: &RsaKeys, jwt: &str) -> Result<OpenEdxClaims, OpenEdxError> {
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| OpenEdxError::InvalidToken("malformed"))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::RS512) {
            return Err(OpenEdxError::InvalidToken("algorithm not allowed"));
        }
        // Open edX usually omits the kid: acceptable only when there is one key to try.
        let key = keys.find(header.kid.as_deref()).ok_or(OpenEdxError::InvalidToken("unknown signing key"))?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<OpenEdxClaims>(jwt, key, &validation).map(|d| d.claims).map_err(|e| {
            OpenEdxError::InvalidToken(match e.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidAudience => "wrong audience",
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
                _ => "invalid",
            })
        })
    }

    async fn identify_by_api(&self, jwt: &str) -> Result<OpenEdxClaims, OpenEdxError> {
        let base = self.config.internal_url.as_str().trim_end_matches('/');
        let me: serde_json::Value = self.get_json(&format!("{base}/api/user/v1/me"), jwt).await?;
        let username = me["username"]
            .as_str()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| OpenEdxError::Malformed("no username in /me".into()))?;
        let account: serde_json::Value =
            self.get_json(&format!("{base}/api/user/v1/accounts/{}", urlencode(username)), jwt).await?;
        // The LMS accepted the token, so its payload is the LMS's own: use its stable subject.
        let payload = unverified_payload(jwt).unwrap_or_default();
        Ok(OpenEdxClaims {
            sub: payload["sub"].as_str().map_or_else(|| format!("username:{username}"), str::to_owned),
            preferred_username: Some(username.to_owned()),
            email: account["email"].as_str().map(str::to_owned),
            name: account["name"].as_str().map(str::to_owned),
            administrator: payload["administrator"].as_bool().unwrap_or(false),
            superuser: payload["superuser"].as_bool().unwrap_or(false),
            is_restricted: payload["is_restricted"].as_bool().unwrap_or(false),
            exp: payload["exp"].as_i64(),
            jti: payload["jti"].as_str().map(str::to_owned),
        })
    }

    async fn get_json(&self, url: &str, jwt: &str) -> Result<serde_json::Value, OpenEdxError> {
        let response = self
            .http
            .get(url)
            .header(reqwest::header::AUTHORIZATION, format!("JWT {jwt}"))
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(OpenEdxError::InvalidToken("refused by the LMS"));
        }
        if !status.is_success() {
            return Err(OpenEdxError::Refused { status: status.as_u16(), error: "user API".into() });
        }
        response.json().await.map_err(|_| OpenEdxError::Malformed("the user API answered non-JSON".into()))
    }
}

/// The `oauth2` crate's HTTP calls, made with the gateway's one client (the crate's own reqwest
/// feature would bring a second reqwest).
struct LmsHttp(reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for LmsHttp {
    type Error = TokenCallError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, TokenCallError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(|e| TokenCallError::Request(e.to_string()))?;
            let response = self.0.execute(request).await?;
            let status = response.status();
            if status.is_server_error() {
                return Err(TokenCallError::Status(status.as_u16()));
            }
            let mut answer = oauth2::HttpResponse::new(response.bytes().await?.to_vec());
            *answer.status_mut() = status;
            Ok(answer)
        })
    }
}

/// The LMS's error answer (4xx, RFC 6749's shape).
fn refusal_error(refusal: &BasicErrorResponse) -> OpenEdxError {
    OpenEdxError::Refused { status: 400, error: refusal.error().as_ref().to_owned() }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn unverified_payload(jwt: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}
