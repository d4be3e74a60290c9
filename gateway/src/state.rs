//! The application state handed to every handler, and the sub-states extracted from it.

use std::sync::Arc;

use axum::extract::FromRef;
use secrecy::ExposeSecret;

use crate::auth::keys::{KeyError, KeyRing};
use crate::auth::openedx::OpenEdx;
use crate::auth::rate_limit::RateLimiter;
use crate::auth::sealed::Sealer;
use crate::auth::tokens::TokenService;
use crate::chat::Chat;
use crate::config::{Config, origin_of};
use crate::course::TicketVerifier;
use crate::db::Db;
use crate::http::security::SecurityPolicy;
use crate::metrics::Metrics;
use crate::templates::Templates;

#[derive(Clone, Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub templates: Templates,
    pub metrics: Arc<Metrics>,
    pub security: Arc<SecurityPolicy>,
    /// The one outbound HTTP client: connection pooling and time-outs shared by every call.
    pub http: reqwest::Client,
    pub tokens: Arc<TokenService>,
    /// Open edX as identity provider, when `OPENEDX_URL` is configured.
    pub openedx: Option<Arc<OpenEdx>>,
    /// The verifier of LMS-signed chat tickets, when `TICKET_JWKS` is configured.
    pub tickets: Option<Arc<TicketVerifier>>,
    /// Sign-in attempts (local passwords, token exchange) per client address and per account.
    pub login_limiter: Arc<RateLimiter>,
    /// Password hashing, a bounded number at a time.
    pub passwords: crate::auth::passwords::PasswordWork,
    pub chat: Arc<Chat>,
    /// LTI platforms' public keys, cached.
    pub lti_jwks: Arc<crate::lti::jwks::JwksCache>,
    /// `TRUSTED_PROXIES`, shared by every request that needs the client's address.
    pub trusted_proxies: crate::http::client_addr::TrustedProxies,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("templates: {0}")]
    Templates(#[from] minijinja::Error),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("OPENEDX_JWKS: {0}")]
    OpenEdx(String),
    #[error("TICKET_JWKS: {0}")]
    Tickets(String),
    #[error(transparent)]
    Hub(#[from] crate::chat::hub::HubError),
}

impl AppState {
    /// Builds everything once: templates compiled, keys loaded (the first one created), clients ready.
    pub async fn new(config: Config, db: Db) -> Result<Self, StateError> {
        let templates = Templates::new(config.template_dir.clone())?;
        let http = http_client(&config)?;
        let keys = KeyRing::load(db.clone(), Arc::new(Sealer::new(&config.secret_key.value))).await?;
        let issuer = config.public_url.as_str().trim_end_matches('/').to_owned();
        let tokens = Arc::new(TokenService::new(keys, db.clone(), issuer).with_session_max_age(config.session_max_age));
        let openedx = match &config.openedx {
            Some(edx) => Some(Arc::new(OpenEdx::new(edx.clone(), http.clone()).map_err(StateError::OpenEdx)?)),
            None => None,
        };
        let tickets = match &config.ticket {
            Some(t) => Some(Arc::new(
                TicketVerifier::new(&t.issuer, &origin_of(&config.public_url), &t.jwks)
                    .map_err(StateError::Tickets)?
                    .with_identity_issuer(config.openedx.as_ref().map_or(t.issuer.as_str(), |edx| edx.issuer.as_str())),
            )),
            None => None,
        };
        Ok(Self {
            tickets,
            trusted_proxies: crate::http::client_addr::TrustedProxies(Arc::new(config.trusted_proxies.clone())),
            lti_jwks: Arc::new(crate::lti::jwks::JwksCache::new(http.clone())),
            chat: Chat::new(
                &config.chat,
                http.clone(),
                config.redis_url.as_ref().map(|u| u.expose_secret()),
                &config.secret_key.value,
            )?,
            tokens,
            openedx,
            login_limiter: Arc::new(RateLimiter::new(10, 10)),
            passwords: crate::auth::passwords::PasswordWork::new(),
            security: Arc::new(SecurityPolicy::from_config(&config)),
            config: Arc::new(config),
            db,
            templates,
            metrics: Arc::new(Metrics::default()),
            http,
        })
    }
}

pub fn http_client(config: &Config) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(concat!("ibal-gateway/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(config.http_timeout.min(std::time::Duration::from_secs(5)))
        .timeout(config.http_timeout)
        // Redirects from an identity provider are followed by browsers, never by us.
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

impl FromRef<AppState> for Db {
    fn from_ref(s: &AppState) -> Self {
        s.db.clone()
    }
}

impl FromRef<AppState> for Templates {
    fn from_ref(s: &AppState) -> Self {
        s.templates.clone()
    }
}

impl FromRef<AppState> for Arc<Config> {
    fn from_ref(s: &AppState) -> Self {
        s.config.clone()
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(s: &AppState) -> Self {
        s.metrics.clone()
    }
}

impl FromRef<AppState> for Arc<SecurityPolicy> {
    fn from_ref(s: &AppState) -> Self {
        s.security.clone()
    }
}
