//! The application state handed to every handler, and the sub-states extracted from it.

use std::sync::Arc;

use axum::extract::FromRef;
use secrecy::ExposeSecret;

use crate::chat::{Chat, ChatState};
use crate::config::RoomMessages;
use crate::config::{Config, origin_of};
use crate::course::TicketVerifier;
use crate::course_index::CourseIndexState;
use crate::crypto::sealed::Sealer;
use crate::identity::keys::{KeyError, KeyRing};
use crate::identity::openedx::OpenEdx;
use crate::identity::passwords::PasswordWork;
use crate::identity::tokens::TokenService;
use crate::identity::{Authenticator, IdentityState};
use crate::insights::InsightsState;
use crate::lti::LtiState;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::retirement::RetirementState;
use crate::store::Db;
use crate::web::client_addr::TrustedProxies;
use crate::web::security::SecurityPolicy;
use crate::web::templates::Templates;

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
    pub passwords: PasswordWork,
    pub chat: Arc<Chat>,
    /// LTI platforms' public keys, cached.
    pub lti_jwks: Arc<crate::lti::jwks::JwksCache>,
    /// `TRUSTED_PROXIES`, shared by every request that needs the client's address.
    pub trusted_proxies: TrustedProxies,
    /// Seals what the gateway keeps or hands out under `SECRET_KEY` (signing keys, staff passes).
    pub sealer: Arc<Sealer>,
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
        let sealer = Arc::new(Sealer::new(&config.secret_key.value));
        let keys = KeyRing::load(db.clone(), sealer.clone()).await?;
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
        let chat = Chat::new(
            &config.chat,
            http.clone(),
            config.redis_url.as_ref().map(|u| u.expose_secret()),
            &config.secret_key.value,
        )?;
        let metrics = Arc::new(gateway_metrics(&db, &chat));
        Ok(Self {
            tickets,
            trusted_proxies: TrustedProxies(Arc::new(config.trusted_proxies.clone())),
            sealer,
            lti_jwks: Arc::new(crate::lti::jwks::JwksCache::new(http.clone())),
            chat,
            tokens,
            openedx,
            login_limiter: Arc::new(RateLimiter::new(10, 10)),
            passwords: PasswordWork::new(),
            security: Arc::new(SecurityPolicy::from_config(&config)),
            config: Arc::new(config),
            db,
            templates,
            metrics,
            http,
        })
    }
}

/// The gateway's metrics: the HTTP requests' (kept by the middleware), the store's and the chat's.
fn gateway_metrics(db: &Db, chat: &Arc<Chat>) -> Metrics {
    let mut metrics = Metrics::new();
    let store = db.metrics();
    metrics.register("chat_messages_stored", "Chat messages written to the database", store.messages_stored.clone());
    metrics.register(
        "chat_write_batch_size",
        "Messages per transaction of the batching writer",
        store.batch_size.clone(),
    );
    let hub = &chat.hub.metrics;
    metrics.register("fanout_rejected", "Frames from Redis that failed authentication, dropped", hub.rejected.clone());
    metrics.register("fanout_resyncs", "Times sockets were told to reload after Redis came back", hub.resyncs.clone());
    metrics.register(
        "chat_slow_consumers",
        "Chat sockets closed for falling behind the fan-out",
        hub.slow_consumers.clone(),
    );
    metrics.register_collector(crate::chat::socket::OpenSockets::new(chat.sockets_open.clone()));
    metrics
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

impl FromRef<AppState> for IdentityState {
    fn from_ref(s: &AppState) -> Self {
        Self {
            config: s.config.clone(),
            db: s.db.clone(),
            templates: s.templates.clone(),
            tokens: s.tokens.clone(),
            openedx: s.openedx.clone(),
            tickets: s.tickets.clone(),
            login_limiter: s.login_limiter.clone(),
            passwords: s.passwords.clone(),
            trusted_proxies: s.trusted_proxies.clone(),
        }
    }
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(s: &AppState) -> Self {
        Self { tokens: s.tokens.clone(), db: s.db.clone() }
    }
}

impl FromRef<AppState> for LtiState {
    fn from_ref(s: &AppState) -> Self {
        Self {
            config: s.config.clone(),
            db: s.db.clone(),
            templates: s.templates.clone(),
            tokens: s.tokens.clone(),
            lti_jwks: s.lti_jwks.clone(),
            sealer: s.sealer.clone(),
        }
    }
}

impl FromRef<AppState> for ChatState {
    fn from_ref(s: &AppState) -> Self {
        Self {
            config: s.config.clone(),
            db: s.db.clone(),
            chat: s.chat.clone(),
            auth: Authenticator::from_ref(s),
            tickets: s.tickets.clone(),
        }
    }
}

impl FromRef<AppState> for CourseIndexState {
    fn from_ref(s: &AppState) -> Self {
        Self { db: s.db.clone(), auth: Authenticator::from_ref(s), knowledge: s.chat.knowledge.clone() }
    }
}

impl FromRef<AppState> for InsightsState {
    fn from_ref(s: &AppState) -> Self {
        Self {
            db: s.db.clone(),
            templates: s.templates.clone(),
            tickets: s.tickets.clone(),
            hub: s.chat.hub.clone(),
            sealer: s.sealer.clone(),
            config: Arc::new(s.config.insights.clone()),
            secret_key: s.config.secret_key.value.clone(),
            https: s.config.is_https(),
        }
    }
}

impl FromRef<AppState> for RetirementState {
    fn from_ref(s: &AppState) -> Self {
        let mut issuers: Vec<String> = s.config.openedx.iter().map(|edx| edx.issuer.clone()).collect();
        if let Some(tickets) = &s.tickets
            && !issuers.iter().any(|i| i == tickets.identity_issuer())
        {
            issuers.push(tickets.identity_issuer().to_owned());
        }
        Self {
            db: s.db.clone(),
            auth: Authenticator::from_ref(s),
            openedx_issuers: Arc::new(issuers),
            redact_room_messages: s.config.retirement_room_messages == RoomMessages::Redact,
            cors: crate::web::cors::allowed_origins(&s.config),
        }
    }
}

impl FromRef<AppState> for TrustedProxies {
    fn from_ref(s: &AppState) -> Self {
        s.trusted_proxies.clone()
    }
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
