//! What the sign-in doors need from the application, taken from its state by `FromRef`.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::config::Config;
use crate::course::TicketVerifier;
use crate::identity::openedx::OpenEdx;
use crate::identity::passwords::PasswordWork;
use crate::identity::tokens::{AccessClaims, TokenService};
use crate::rate_limit::RateLimiter;
use crate::store::Db;
use crate::web::client_addr::TrustedProxies;
use crate::web::templates::Templates;

#[derive(Clone, Debug)]
pub struct IdentityState {
    pub config: Arc<Config>,
    pub db: Db,
    pub templates: Templates,
    pub tokens: Arc<TokenService>,
    /// Open edX as identity provider, when `OPENEDX_URL` is configured.
    pub openedx: Option<Arc<OpenEdx>>,
    /// The verifier of LMS-signed chat tickets, when `TICKET_JWKS` is configured.
    pub tickets: Option<Arc<TicketVerifier>>,
    /// Sign-in attempts (local passwords, token exchange) per client address and per account.
    pub login_limiter: Arc<RateLimiter>,
    /// Password hashing, a bounded number at a time.
    pub passwords: PasswordWork,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` names the client (rate limits are per client).
    pub trusted_proxies: TrustedProxies,
}

impl FromRef<IdentityState> for Authenticator {
    fn from_ref(s: &IdentityState) -> Self {
        Self { tokens: s.tokens.clone(), db: s.db.clone() }
    }
}

impl FromRef<IdentityState> for TrustedProxies {
    fn from_ref(s: &IdentityState) -> Self {
        s.trusted_proxies.clone()
    }
}

/// What checks a bearer token: the token service, and the store that knows which logins were ended.
#[derive(Clone, Debug)]
pub struct Authenticator {
    pub tokens: Arc<TokenService>,
    pub db: Db,
}

impl Authenticator {
    /// Whether the login behind the token is alive. A token without a login (an LMS sign-in by
    /// chat ticket) lives as long as its user does: a retired learner's tokens end at once. A
    /// service's token lives until it expires. A database hiccup does not sign anyone out. A login
    /// found alive is not asked about again for a few seconds ([`super::live_logins`]).
    pub async fn login_alive(&self, claims: &AccessClaims) -> bool {
        let key = match &claims.sid {
            Some(sid) => format!("sid:{sid}"),
            None if !claims.svc => format!("sub:{}", claims.sub),
            None => return true,
        };
        // Read before asking: a revocation committed meanwhile makes this answer forgotten.
        let revocations = self.db.revocations();
        let logins = self.tokens.live_logins();
        if logins.known_alive(&key, revocations) {
            return true;
        }
        let alive = match &claims.sid {
            Some(sid) => self.db.refresh_family_alive(sid).await,
            None => self.db.user_exists(&claims.sub).await,
        };
        match alive {
            Ok(true) => {
                logins.found_alive(key, revocations);
                true
            }
            Ok(false) => false,
            Err(_) => true,
        }
    }
}
