//! The application state handed to every handler, and the sub-states extracted from it.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::config::Config;
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
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("templates: {0}")]
    Templates(#[from] minijinja::Error),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

impl AppState {
    pub fn new(config: Config, db: Db) -> Result<Self, StateError> {
        let templates = Templates::new(config.template_dir.clone())?;
        let http = http_client(&config)?;
        Ok(Self {
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
