//! Configuration: read once at start-up from the environment (over an optional `.env` file) into
//! typed structs. Every problem names the variable, so an operator knows what to fix; secrets are
//! wrapped so that `Debug` never prints them.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// A configuration problem: which variable, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(var: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { var: var.into(), problem: problem.into() }
    }
}

/// The raw variables: the process environment laid over the `.env` file (the environment wins).
#[derive(Debug, Default, Clone)]
pub struct Vars(HashMap<String, String>);

impl Vars {
    /// Reads `ENV_FILE` (which must exist when named) or `./.env` (optional), then the environment.
    pub fn from_process() -> Result<Self, ConfigError> {
        let mut map = HashMap::new();
        let named = std::env::var("ENV_FILE").ok().filter(|v| !v.is_empty());
        let path = named.clone().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".env"));
        if path.exists() {
            let iter = dotenvy::from_filename_iter(&path)
                .map_err(|e| ConfigError::new("ENV_FILE", format!("cannot read {}: {e}", path.display())))?;
            for item in iter {
                let (k, v) = item.map_err(|e| {
                    ConfigError::new("ENV_FILE", format!("{} is not a valid env file: {e}", path.display()))
                })?;
                map.insert(k, v);
            }
        } else if named.is_some() {
            return Err(ConfigError::new("ENV_FILE", format!("{} does not exist", path.display())));
        }
        map.extend(std::env::vars());
        Ok(Self(map))
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// A set, non-blank value (blank counts as unset, as in most `.env` conventions).
    fn get(&self, var: &str) -> Option<&str> {
        self.0.get(var).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn parse<T: FromStr>(&self, var: &str, default: T, what: &str) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|_| ConfigError::new(var, format!("expected {what}, got {raw:?}"))),
        }
    }

    fn bool(&self, var: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(other) => Err(ConfigError::new(var, format!("expected true or false, got {other:?}"))),
        }
    }

    fn url(&self, var: &str) -> Result<Option<Url>, ConfigError> {
        self.get(var).map(|raw| parse_http_url(var, raw)).transpose()
    }

    fn secret(&self, var: &str) -> Option<SecretString> {
        self.get(var).map(|v| SecretString::from(v.to_owned()))
    }

    fn list(&self, var: &str) -> Vec<String> {
        self.get(var)
            .map(|v| v.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

fn parse_http_url(var: &str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| ConfigError::new(var, format!("not a URL ({e}): {raw:?}")))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        _ => Err(ConfigError::new(var, format!("expected an http:// or https:// URL, got {raw:?}"))),
    }
}

/// The origin (`scheme://host[:port]`) of a URL, as browsers compare them.
pub fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Parses an origin given in configuration; a trailing slash or path is refused rather than guessed.
fn parse_origin(var: &str, raw: &str) -> Result<String, ConfigError> {
    let url = Url::parse(raw)
        .map_err(|_| ConfigError::new(var, format!("{raw:?} is not an origin like https://lms.example.com")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || raw.trim_end_matches('/') != origin_of(&url)
    {
        return Err(ConfigError::new(var, format!("{raw:?} is not an origin like https://lms.example.com")));
    }
    Ok(origin_of(&url))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    MySql,
    Postgres,
}

impl DbKind {
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0;
        match scheme {
            "sqlite" => Some(Self::Sqlite),
            "mysql" | "mariadb" => Some(Self::MySql),
            "postgres" | "postgresql" => Some(Self::Postgres),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::MySql => "mysql",
            Self::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub kind: DbKind,
    /// Holds credentials for MySQL and PostgreSQL, hence secret.
    pub url: SecretString,
    pub max_connections: u32,
    /// `serve` runs migrations before it listens unless this is off (replicas after the first).
    pub auto_migrate: bool,
}

impl DatabaseConfig {
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let kind = DbKind::from_url(url).ok_or_else(|| {
            let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or(url);
            ConfigError::new(
                "DATABASE_URL",
                format!("unsupported scheme {scheme:?}: expected sqlite://, mysql:// or postgres://"),
            )
        })?;
        if kind != DbKind::Sqlite {
            Url::parse(url).map_err(|e| ConfigError::new("DATABASE_URL", format!("not a valid URL: {e}")))?;
        }
        Ok(Self { kind, url: SecretString::from(url.to_owned()), max_connections: 10, auto_migrate: true })
    }

    /// The URL with any password replaced, fit for logs and `check` output.
    pub fn display_url(&self) -> String {
        redact_url(self.url.expose_secret())
    }

    /// For SQLite, the file the URL names (None for in-memory databases).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        if self.kind != DbKind::Sqlite {
            return None;
        }
        let rest = self.url.expose_secret().trim_start_matches("sqlite:").trim_start_matches("//");
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }
}

/// Replaces the password of a URL with `***` so it can be printed.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatBackendKind {
    Room,
    Flowise,
    OpenAi,
    WebSocket,
}

impl ChatBackendKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Room => "room",
            Self::Flowise => "flowise",
            Self::OpenAi => "openai",
            Self::WebSocket => "websocket",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FlowiseConfig {
    pub url: Url,
    pub flow_id: String,
    pub api_key: Option<SecretString>,
    pub timeout: Duration,
    pub max_retries: u32,
}

#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    pub base_url: Url,
    pub api_key: Option<SecretString>,
    pub model: String,
}

/// The chat's limits; each breach is answered with an `error` frame (docs/protocol.md).
#[derive(Debug, Clone)]
pub struct ChatLimits {
    /// The largest message (and WebSocket frame) accepted, in bytes.
    pub max_message_bytes: usize,
    pub messages_per_minute: u32,
    /// Chat sockets a user may open per minute.
    pub connects_per_minute: u32,
    pub max_sockets_per_user: usize,
    /// Frames queued per socket before it is closed as a slow consumer.
    pub outbound_queue: usize,
    pub heartbeat: Duration,
    /// A socket that has sent nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    pub auth_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub backend: ChatBackendKind,
    pub limits: ChatLimits,
    /// The assistant's system prompt; `{course_id}` and `{block_id}` are filled in.
    pub system_prompt: String,
    /// How much earlier conversation (in characters) goes with each question.
    pub history_budget: usize,
    /// The WebSocket URL the widget connects to (`WS_URL`, default `<PUBLIC_URL>/ws/chat/`).
    pub ws_url: Url,
    pub flowise: Option<FlowiseConfig>,
    pub openai: Option<OpenAiConfig>,
    pub upstream_ws_url: Option<Url>,
}

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

/// An IP network (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            // An IPv4 client seen through an IPv6 socket.
            (IpAddr::V4(_), IpAddr::V6(ip)) => {
                ip.to_ipv4_mapped().is_some_and(|v4| self.contains(std::net::IpAddr::V4(v4)))
            }
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: std::net::IpAddr = addr.trim().parse().map_err(|_| ())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or(())?,
        };
        Ok(Self { addr, prefix })
    }
}

/// An LTI platform registered from configuration (`LTI_PLATFORMS`), as Tutor renders it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LtiPlatformConfig {
    pub issuer: String,
    pub client_id: String,
    pub deployment_ids: Vec<String>,
    pub auth_url: String,
    pub jwks_url: String,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub debug: bool,
    pub bind_addr: SocketAddr,
    pub public_url: Url,
    pub secret_key: SecretKey,
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub redis_url: Option<SecretString>,
    /// Host names accepted in the `Host` header; empty means any.
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the API, open the WebSocket and receive `postMessage`.
    pub allowed_origins: Vec<String>,
    /// Origins allowed to frame the framable pages.
    pub frame_ancestors: Vec<String>,
    /// Paths, on an allowed origin, of pages that may relay a popup sign-in to the widget
    /// (`AUTH_RELAY_PATHS`): the IbalXBlock's relay page.
    pub auth_relay_paths: Vec<String>,
    pub template_dir: Option<PathBuf>,
    pub log_format: LogFormat,
    pub openedx: Option<OpenEdxConfig>,
    pub ticket: Option<TicketConfig>,
    pub chat: ChatConfig,
    pub local_accounts: bool,
    pub http_timeout: Duration,
    /// A login's absolute lifetime from sign-in (`SESSION_MAX_AGE`, seconds).
    pub session_max_age: Duration,
    /// When set, `/metrics` answers only to this bearer token (`METRICS_TOKEN`).
    pub metrics_token: Option<SecretString>,
    /// Registered (or completed with new deployments) at start-up.
    pub lti_platforms: Vec<LtiPlatformConfig>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for rate limits).
    pub trusted_proxies: Vec<IpNet>,
}

/// Where the secret key came from: configuration, or generated and kept in the data folder.
#[derive(Clone)]
pub struct SecretKey {
    pub value: SecretString,
    pub generated_at: Option<PathBuf>,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("value", &"[REDACTED]").field("generated_at", &self.generated_at).finish()
    }
}

const MIN_SECRET_KEY_LEN: usize = 32;

impl Config {
    pub fn from_process() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::from_process()?)
    }

    /// Parses and validates everything; touches the disk only to keep a generated dev secret key.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let bind_addr: SocketAddr =
            vars.parse("BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8000)), "host:port like 127.0.0.1:8000")?;
        let public_url = match vars.url("PUBLIC_URL")? {
            Some(url) => url,
            None => default_public_url(bind_addr),
        };
        let debug = vars.bool("DEBUG", is_local(&public_url))?;

        let mut database = DatabaseConfig::from_url(vars.get("DATABASE_URL").unwrap_or("sqlite://data/ibal.db"))?;
        database.max_connections =
            vars.parse("DATABASE_MAX_CONNECTIONS", database.max_connections, "a positive number")?;
        if database.max_connections == 0 {
            return Err(ConfigError::new("DATABASE_MAX_CONNECTIONS", "must be at least 1"));
        }
        database.auto_migrate = vars.bool("AUTO_MIGRATE", true)?;

        let data_dir = match vars.get("DATA_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => database
                .sqlite_path()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| PathBuf::from("data")),
        };

        // Parsed before a development secret key may be written: a refused start writes nothing.
        let openedx = openedx_config(vars, &public_url)?;
        let ticket = ticket_config(vars, openedx.as_ref())?;
        let chat = chat_config(vars, &public_url)?;

        let secret_key = match vars.secret("SECRET_KEY") {
            Some(key) if key.expose_secret().len() < MIN_SECRET_KEY_LEN => {
                return Err(ConfigError::new(
                    "SECRET_KEY",
                    format!("too short: use at least {MIN_SECRET_KEY_LEN} random characters"),
                ));
            }
            Some(key) => SecretKey { value: key, generated_at: None },
            None if debug => load_or_generate_secret(&data_dir)?,
            None => {
                return Err(ConfigError::new(
                    "SECRET_KEY",
                    "must be set when DEBUG=false (generate one with: openssl rand -hex 32)",
                ));
            }
        };

        let redis_url = match vars.get("REDIS_URL") {
            None => None,
            Some(raw) => {
                let url = Url::parse(raw).map_err(|e| ConfigError::new("REDIS_URL", format!("not a URL: {e}")))?;
                if !matches!(url.scheme(), "redis" | "rediss") {
                    return Err(ConfigError::new("REDIS_URL", "expected a redis:// or rediss:// URL"));
                }
                Some(SecretString::from(raw.to_owned()))
            }
        };

        let http_timeout = Duration::from_secs(vars.parse("HTTP_TIMEOUT", 10u64, "a number of seconds")?);
        let session_max_age =
            Duration::from_secs(vars.parse("SESSION_MAX_AGE", 30 * 24 * 3600u64, "a number of seconds")?);
        if session_max_age.is_zero() {
            return Err(ConfigError::new("SESSION_MAX_AGE", "must be at least 1 second"));
        }

        let mut allowed_origins = vec![origin_of(&public_url)];
        let mut frame_ancestors = Vec::new();
        let lms_urls =
            openedx.iter().map(|edx| edx.url.clone()).chain(ticket.iter().filter_map(|t| Url::parse(&t.issuer).ok()));
        for lms in lms_urls {
            for origin in openedx_origins(&lms) {
                push_unique(&mut allowed_origins, origin.clone());
                push_unique(&mut frame_ancestors, origin);
            }
        }
        for raw in vars.list("ALLOWED_ORIGINS") {
            push_unique(&mut allowed_origins, parse_origin("ALLOWED_ORIGINS", &raw)?);
        }
        for raw in vars.list("FRAME_ANCESTORS") {
            push_unique(&mut frame_ancestors, parse_origin("FRAME_ANCESTORS", &raw)?);
        }
        let mut auth_relay_paths = vars.list("AUTH_RELAY_PATHS");
        if auth_relay_paths.is_empty() {
            auth_relay_paths.extend(DEFAULT_AUTH_RELAY_PATHS.map(str::to_owned));
        }
        if let Some(bad) = auth_relay_paths.iter().find(|p| !is_plain_path(p)) {
            return Err(ConfigError::new(
                "AUTH_RELAY_PATHS",
                format!("{bad:?} is not a path like {DEFAULT_AUTH_RELAY_PATH} (no query, fragment or host)"),
            ));
        }

        let log_format = match vars.get("LOG_FORMAT").map(str::to_ascii_lowercase).as_deref() {
            None => {
                if debug {
                    LogFormat::Pretty
                } else {
                    LogFormat::Json
                }
            }
            Some("pretty" | "text") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new("LOG_FORMAT", format!("expected json or pretty, got {other:?}")));
            }
        };

        let template_dir = vars.get("TEMPLATE_DIR").map(PathBuf::from);
        if let Some(dir) = &template_dir
            && !dir.is_dir()
        {
            return Err(ConfigError::new("TEMPLATE_DIR", format!("{} is not a folder", dir.display())));
        }

        let allowed_hosts =
            vars.list("ALLOWED_HOSTS").into_iter().filter(|h| h != "*").map(|h| h.to_ascii_lowercase()).collect();
        let local_accounts = vars.bool("LOCAL_ACCOUNTS", openedx.is_none())?;
        let trusted_proxies = vars
            .list("TRUSTED_PROXIES")
            .iter()
            .map(|raw| {
                raw.parse().map_err(|()| {
                    ConfigError::new(
                        "TRUSTED_PROXIES",
                        format!("{raw:?} is not an IP address or network like 10.0.0.0/8"),
                    )
                })
            })
            .collect::<Result<Vec<IpNet>, _>>()?;
        let lti_platforms = match vars.get("LTI_PLATFORMS") {
            None => Vec::new(),
            Some(raw) => {
                let platforms: Vec<LtiPlatformConfig> = serde_json::from_str(raw).map_err(|e| {
                    ConfigError::new(
                        "LTI_PLATFORMS",
                        format!(
                            "expected a JSON list of {{issuer, client_id, deployment_ids, auth_url, jwks_url}}: {e}"
                        ),
                    )
                })?;
                for p in &platforms {
                    for url in [&p.auth_url, &p.jwks_url] {
                        parse_http_url("LTI_PLATFORMS", url)?;
                    }
                    if p.deployment_ids.is_empty() || p.issuer.is_empty() || p.client_id.is_empty() {
                        return Err(ConfigError::new(
                            "LTI_PLATFORMS",
                            format!("{}: issuer, client_id and a deployment id are required", p.issuer),
                        ));
                    }
                }
                platforms
            }
        };

        Ok(Self {
            debug,
            bind_addr,
            public_url,
            secret_key,
            data_dir,
            database,
            redis_url,
            allowed_hosts,
            allowed_origins,
            frame_ancestors,
            auth_relay_paths,
            template_dir,
            log_format,
            openedx,
            ticket,
            chat,
            local_accounts,
            http_timeout,
            session_max_age,
            metrics_token: vars.secret("METRICS_TOKEN"),
            lti_platforms,
            trusted_proxies,
        })
    }

    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// Where Open edX serves the IbalXBlock's relay page (`runtime.local_resource_url`): through its
/// resource view, or, with the static-asset pipeline (production), as a collected static file whose
/// name carries a content hash (`relay.<hash>.html`).
pub const DEFAULT_AUTH_RELAY_PATHS: [&str; 3] = [
    "/xblock/resource/ibalxblock/public/relay.html",
    "/static/xblock/resources/ibal_xblock/public/relay.html",
    "/static/xblock/resources/ibal_xblock/public/relay.*.html",
];
const DEFAULT_AUTH_RELAY_PATH: &str = DEFAULT_AUTH_RELAY_PATHS[0];

/// A path, with at most one `*` (one file-name part: letters, digits, `-`, `_`, `.`).
fn is_plain_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains(['?', '#', '\\', ' '])
        && !path.contains("..")
        && path.matches('*').count() <= 1
}

/// Whether `path` is one `pattern` names: the same, or the same but for what `*` stands for.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == path,
        Some((head, tail)) => {
            path.len() >= head.len() + tail.len()
                && path.starts_with(head)
                && path.ends_with(tail)
                && path[head.len()..path.len() - tail.len()]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn default_public_url(bind: SocketAddr) -> Url {
    let authority = if bind.ip().is_unspecified() || bind.ip().is_loopback() {
        format!("localhost:{}", bind.port())
    } else {
        bind.to_string() // brackets IPv6 addresses
    };
    Url::parse(&format!("http://{authority}/")).expect("a socket address always forms a valid URL")
}

fn is_local(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The LMS origin and its MFE origin (`apps.<LMS host>`), which frame and open the chat.
fn openedx_origins(lms: &Url) -> Vec<String> {
    let mut out = vec![origin_of(lms)];
    if let Some(host) = lms.host_str() {
        let mut mfe = lms.clone();
        if mfe.set_host(Some(&format!("apps.{host}"))).is_ok() {
            out.push(origin_of(&mfe));
        }
    }
    out
}

fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("{}{}", base.path().trim_end_matches('/'), path));
    url
}

fn openedx_config(vars: &Vars, public_url: &Url) -> Result<Option<OpenEdxConfig>, ConfigError> {
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

fn ticket_config(vars: &Vars, openedx: Option<&OpenEdxConfig>) -> Result<Option<TicketConfig>, ConfigError> {
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

fn chat_config(vars: &Vars, public_url: &Url) -> Result<ChatConfig, ConfigError> {
    let backend = match vars.get("CHAT_BACKEND").map(str::to_ascii_lowercase).as_deref() {
        None | Some("room") => ChatBackendKind::Room,
        Some("flowise") => ChatBackendKind::Flowise,
        Some("openai") => ChatBackendKind::OpenAi,
        Some("websocket") => ChatBackendKind::WebSocket,
        Some(other) => {
            return Err(ConfigError::new(
                "CHAT_BACKEND",
                format!("expected room, flowise, openai or websocket, got {other:?}"),
            ));
        }
    };
    let ws_url = match vars.get("WS_URL") {
        Some(raw) => {
            let url = Url::parse(raw).map_err(|e| ConfigError::new("WS_URL", format!("not a URL: {e}")))?;
            if !matches!(url.scheme(), "ws" | "wss") {
                return Err(ConfigError::new("WS_URL", "expected a ws:// or wss:// URL"));
            }
            url
        }
        None => {
            let mut url = join(public_url, "/ws/chat/");
            let scheme = if public_url.scheme() == "https" { "wss" } else { "ws" };
            // http→ws and https→wss are always permitted scheme changes.
            let _ = url.set_scheme(scheme);
            url
        }
    };

    // Parsed even when unused, so a typo is reported before the day it matters.
    let flowise_timeout = Duration::from_secs(vars.parse("FLOWISE_TIMEOUT", 30u64, "a number of seconds")?);
    let flowise_max_retries = vars.parse("FLOWISE_MAX_RETRIES", 3u32, "a number")?;
    let flowise = match vars.url("FLOWISE_URL")? {
        None if backend == ChatBackendKind::Flowise => {
            return Err(ConfigError::new("FLOWISE_URL", "must be set when CHAT_BACKEND=flowise"));
        }
        None => None,
        Some(url) => Some(FlowiseConfig {
            url,
            flow_id: vars
                .get("FLOWISE_FLOW_ID")
                .ok_or_else(|| ConfigError::new("FLOWISE_FLOW_ID", "must be set when FLOWISE_URL is set"))?
                .to_owned(),
            api_key: vars.secret("FLOWISE_API_KEY"),
            timeout: flowise_timeout,
            max_retries: flowise_max_retries,
        }),
    };
    let openai = match vars.url("OPENAI_BASE_URL")? {
        None if backend == ChatBackendKind::OpenAi => {
            return Err(ConfigError::new("OPENAI_BASE_URL", "must be set when CHAT_BACKEND=openai"));
        }
        None => None,
        Some(base_url) => Some(OpenAiConfig {
            base_url,
            api_key: vars.secret("OPENAI_API_KEY"),
            model: vars.get("OPENAI_MODEL").unwrap_or("gpt-4o-mini").to_owned(),
        }),
    };
    let upstream_ws_url = match vars.get("UPSTREAM_WS_URL") {
        None if backend == ChatBackendKind::WebSocket => {
            return Err(ConfigError::new("UPSTREAM_WS_URL", "must be set when CHAT_BACKEND=websocket"));
        }
        None => None,
        Some(raw) => {
            let url = Url::parse(raw).map_err(|e| ConfigError::new("UPSTREAM_WS_URL", format!("not a URL: {e}")))?;
            if !matches!(url.scheme(), "ws" | "wss") {
                return Err(ConfigError::new("UPSTREAM_WS_URL", "expected a ws:// or wss:// URL"));
            }
            Some(url)
        }
    };
    let limits = ChatLimits {
        max_message_bytes: vars.parse("CHAT_MAX_MESSAGE_BYTES", 16 * 1024, "a number of bytes")?,
        messages_per_minute: vars.parse("CHAT_MESSAGES_PER_MINUTE", 20, "a number")?,
        connects_per_minute: vars.parse("CHAT_CONNECTS_PER_MINUTE", 30, "a number")?,
        max_sockets_per_user: vars.parse("CHAT_MAX_SOCKETS_PER_USER", 5, "a number")?,
        outbound_queue: vars.parse("CHAT_OUTBOUND_QUEUE", 256, "a number of frames")?,
        heartbeat: Duration::from_secs(vars.parse("CHAT_HEARTBEAT_SECS", 20, "a number of seconds")?),
        idle_timeout: Duration::from_secs(vars.parse("CHAT_IDLE_TIMEOUT_SECS", 60, "a number of seconds")?),
        auth_timeout: Duration::from_secs(vars.parse("CHAT_AUTH_TIMEOUT_SECS", 5, "a number of seconds")?),
    };
    for (var, zero) in [
        ("CHAT_MAX_MESSAGE_BYTES", limits.max_message_bytes == 0),
        ("CHAT_MESSAGES_PER_MINUTE", limits.messages_per_minute == 0),
        ("CHAT_MAX_SOCKETS_PER_USER", limits.max_sockets_per_user == 0),
        ("CHAT_CONNECTS_PER_MINUTE", limits.connects_per_minute == 0),
        ("CHAT_OUTBOUND_QUEUE", limits.outbound_queue == 0),
        ("CHAT_HEARTBEAT_SECS", limits.heartbeat.is_zero()),
        ("CHAT_AUTH_TIMEOUT_SECS", limits.auth_timeout.is_zero()),
    ] {
        if zero {
            return Err(ConfigError::new(var, "must be at least 1"));
        }
    }
    if limits.idle_timeout <= limits.heartbeat {
        return Err(ConfigError::new("CHAT_IDLE_TIMEOUT_SECS", "must be longer than CHAT_HEARTBEAT_SECS"));
    }
    let system_prompt =
        vars.get("CHAT_SYSTEM_PROMPT").map(str::to_owned).unwrap_or_else(|| DEFAULT_SYSTEM_PROMPT.to_owned());
    let history_budget = vars.parse("CHAT_HISTORY_BUDGET", 12_000, "a number of characters")?;
    Ok(ChatConfig { backend, limits, system_prompt, history_budget, ws_url, flowise, openai, upstream_ws_url })
}

const DEFAULT_SYSTEM_PROMPT: &str = "You are IBAL, a friendly and patient course assistant. Help the learner understand \
the material of the course {course_id} (unit {block_id}): explain clearly, give short examples, and say so when you are \
not sure. Do not do graded work for the learner.";

/// In DEBUG, a missing SECRET_KEY is generated once and kept beside the database, so sessions and
/// tokens survive restarts of a development server.
fn load_or_generate_secret(data_dir: &Path) -> Result<SecretKey, ConfigError> {
    let path = data_dir.join("secret_key");
    let io_err = |e: std::io::Error| {
        ConfigError::new("SECRET_KEY", format!("not set, and {} cannot be used: {e}", path.display()))
    };
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing.trim().len() >= MIN_SECRET_KEY_LEN => {
            return Ok(SecretKey { value: SecretString::from(existing.trim().to_owned()), generated_at: Some(path) });
        }
        Ok(_) => {
            return Err(ConfigError::new("SECRET_KEY", format!("not set, and {} holds no usable key", path.display())));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    std::fs::create_dir_all(data_dir).map_err(io_err)?;
    let key = hex::encode(rand::random::<[u8; 32]>());
    write_private(&path, &key).map_err(io_err)?;
    Ok(SecretKey { value: SecretString::from(key), generated_at: Some(path) })
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_paths_match_exactly_or_with_one_file_name_wildcard() {
        let hashed = "/static/xblock/resources/ibal_xblock/public/relay.*.html";
        assert!(path_matches(hashed, "/static/xblock/resources/ibal_xblock/public/relay.6d1e5a9b.html"));
        assert!(!path_matches(hashed, "/static/xblock/resources/ibal_xblock/public/relay.a/b.html"));
        assert!(!path_matches(hashed, "/static/xblock/resources/ibal_xblock/public/other.html"));
        assert!(path_matches("/a/relay.html", "/a/relay.html") && !path_matches("/a/relay.html", "/a/relay.htm"));
        assert!(is_plain_path(hashed) && !is_plain_path("/a/*/*.html") && !is_plain_path("/a/../b"));
    }

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        let dir = std::env::temp_dir().join(format!("ibal-config-{}", uuid::Uuid::new_v4()));
        let db = format!("sqlite://{}/ibal.db", dir.display());
        let mut all = vec![("DATABASE_URL".to_owned(), db)];
        all.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Vars::from_pairs(all)
    }

    fn err(pairs: &[(&str, &str)]) -> ConfigError {
        match Config::from_vars(&vars(pairs)) {
            Ok(_) => panic!("expected a configuration error for {pairs:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults_make_a_dev_server() {
        let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(config.public_url.as_str(), "http://localhost:8000/");
        assert!(config.debug, "a loopback public URL defaults to DEBUG");
        assert_eq!(config.chat.backend, ChatBackendKind::Room);
        assert_eq!(config.chat.ws_url.as_str(), "ws://localhost:8000/ws/chat/");
        assert!(config.local_accounts, "local accounts are on when no Open edX is configured");
        assert!(config.secret_key.generated_at.is_some());
        assert_eq!(config.allowed_origins, vec!["http://localhost:8000".to_owned()]);
        assert_eq!(config.database.kind, DbKind::Sqlite);
    }

    #[test]
    fn generated_secret_key_is_kept() {
        let v = vars(&[]);
        let first = Config::from_vars(&v).expect("valid");
        let second = Config::from_vars(&v).expect("valid");
        assert_eq!(first.secret_key.value.expose_secret(), second.secret_key.value.expose_secret());
    }

    #[test]
    fn production_without_secret_key_refuses() {
        let e = err(&[("DEBUG", "false")]);
        assert_eq!(e.var, "SECRET_KEY");
    }

    #[test]
    fn https_public_url_defaults_to_production() {
        let e = err(&[("PUBLIC_URL", "https://chat.example.com")]);
        assert_eq!(e.var, "SECRET_KEY");
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let cases: &[(&str, &str)] = &[
            ("DATABASE_URL", "nonsense://x"),
            ("BIND_ADDR", "not-an-address"),
            ("DEBUG", "maybe"),
            ("PUBLIC_URL", "ftp://x"),
            ("REDIS_URL", "http://x"),
            ("CHAT_BACKEND", "telepathy"),
            ("LOG_FORMAT", "xml"),
            ("UPSTREAM_WS_URL", "http://chat.example.com/ws"),
            ("FLOWISE_TIMEOUT", "soon"),
            ("SECRET_KEY", "short"),
            ("ALLOWED_ORIGINS", "https://lms.example.com/path"),
            ("FRAME_ANCESTORS", "lms.example.com"),
            ("WS_URL", "http://x/ws"),
            ("TEMPLATE_DIR", "/definitely/not/here"),
            ("LTI_PLATFORMS", "{\"issuer\":1}"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            (
                "LTI_PLATFORMS",
                "[{\"issuer\":\"i\",\"client_id\":\"c\",\"deployment_ids\":[\"d\"],\"auth_url\":\"nope\",\"jwks_url\":\"http://j\"}]",
            ),
        ];
        for (var, value) in cases {
            let e = err(&[(var, value)]);
            assert_eq!(&e.var, var, "{var}={value} blamed {e}");
            assert!(!e.problem.is_empty());
        }
    }

    #[test]
    fn backends_require_their_settings() {
        assert_eq!(err(&[("CHAT_BACKEND", "flowise")]).var, "FLOWISE_URL");
        assert_eq!(err(&[("CHAT_BACKEND", "flowise"), ("FLOWISE_URL", "http://f:3000")]).var, "FLOWISE_FLOW_ID");
        assert_eq!(err(&[("CHAT_BACKEND", "openai")]).var, "OPENAI_BASE_URL");
        assert_eq!(err(&[("CHAT_BACKEND", "websocket")]).var, "UPSTREAM_WS_URL");
        assert_eq!(err(&[("OPENEDX_URL", "http://lms")]).var, "OPENEDX_CLIENT_ID");
        assert_eq!(err(&[("OPENEDX_CLIENT_ID", "x")]).var, "OPENEDX_URL");
        assert_eq!(
            err(&[("OPENEDX_URL", "http://lms"), ("OPENEDX_CLIENT_ID", "x"), ("OPENEDX_JWKS", "[1]")]).var,
            "OPENEDX_JWKS"
        );
    }

    #[test]
    fn openedx_derives_its_urls_and_origins() {
        let config = Config::from_vars(&vars(&[
            ("OPENEDX_URL", "http://local.openedx.io"),
            ("OPENEDX_CLIENT_ID", "llm-gateway"),
            ("OPENEDX_CLIENT_SECRET", "s3cret-value"),
            ("PUBLIC_URL", "http://localhost:8000"),
            ("FRAME_ANCESTORS", "https://canvas.example.com"),
        ]))
        .expect("valid");
        let edx = config.openedx.as_ref().expect("configured");
        assert_eq!(edx.auth_url.as_str(), "http://local.openedx.io/oauth2/authorize");
        assert_eq!(edx.token_url.as_str(), "http://local.openedx.io/oauth2/access_token");
        assert_eq!(edx.redirect_uri.as_str(), "http://localhost:8000/oauth/openedx/callback");
        assert_eq!(edx.issuer, "http://local.openedx.io/oauth2");
        assert_eq!(edx.audience, "openedx");
        assert_eq!(
            config.frame_ancestors,
            vec!["http://local.openedx.io", "http://apps.local.openedx.io", "https://canvas.example.com"]
        );
        assert!(config.allowed_origins.contains(&"http://apps.local.openedx.io".to_owned()));
        assert!(!config.local_accounts, "local accounts default off when Open edX is configured");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let config = Config::from_vars(&vars(&[
            ("SECRET_KEY", "k-0123456789abcdef0123456789abcdef-visible?"),
            ("OPENEDX_URL", "http://lms"),
            ("OPENEDX_CLIENT_ID", "id"),
            ("OPENEDX_CLIENT_SECRET", "client-secret-visible?"),
            ("REDIS_URL", "redis://:redis-password-visible@localhost:6379"),
        ]))
        .expect("valid");
        let debug = format!("{config:?}");
        for secret in ["k-0123456789abcdef", "client-secret-visible", "redis-password-visible"] {
            assert!(!debug.contains(secret), "Debug output leaks {secret}");
        }
    }

    #[test]
    fn ip_networks_match_their_addresses() {
        let net: IpNet = "172.16.0.0/12".parse().expect("net");
        assert!(net.contains("172.31.255.1".parse().expect("ip")));
        assert!(!net.contains("172.32.0.1".parse().expect("ip")));
        assert!(net.contains("::ffff:172.20.0.3".parse().expect("mapped")));
        let one: IpNet = "::1".parse().expect("net");
        assert!(one.contains("::1".parse().expect("ip")) && !one.contains("::2".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err() && "nope".parse::<IpNet>().is_err());
    }

    #[test]
    fn redact_url_hides_passwords() {
        assert_eq!(redact_url("mysql://llm:hunter2@mysql:3306/llm"), "mysql://llm:***@mysql:3306/llm");
        assert_eq!(redact_url("sqlite://data/ibal.db"), "sqlite://data/ibal.db");
    }
}
