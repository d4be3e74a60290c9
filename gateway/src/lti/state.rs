//! What the LTI tool needs from the application, taken from its state by `FromRef`.

use std::sync::Arc;

use crate::config::Config;
use crate::identity::tokens::TokenService;
use crate::lti::jwks::JwksCache;
use crate::store::Db;
use crate::web::templates::Templates;

#[derive(Clone, Debug)]
pub struct LtiState {
    pub config: Arc<Config>,
    pub db: Db,
    pub templates: Templates,
    pub tokens: Arc<TokenService>,
    /// The platforms' public keys, cached.
    pub lti_jwks: Arc<JwksCache>,
    /// Seals the staff passes that take an instructor's launch to the course's dashboard.
    pub sealer: Arc<crate::crypto::sealed::Sealer>,
}
