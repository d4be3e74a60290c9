//! Configuration: read once at start-up from the environment (over an optional `.env` file) into
//! typed structs. Every problem names the variable, so an operator knows what to fix; secrets are
//! wrapped so that `Debug` never prints them. One file per part of the configuration.

mod chat;
mod database;
mod insights;
mod learner_data;
mod lti;
mod net;
mod openedx;
mod secret;
mod vars;

pub use chat::*;
pub use database::*;
pub use insights::InsightsConfig;
use insights::insights_config;
pub use learner_data::*;
pub use lti::*;
pub use net::*;
pub use openedx::*;
pub use secret::*;
pub use vars::*;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
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
    /// The course team's dashboard (`/instructor/<course>`).
    pub insights: InsightsConfig,
    pub local_accounts: bool,
    pub http_timeout: Duration,
    /// A login's absolute lifetime from sign-in (`SESSION_MAX_AGE`, seconds).
    pub session_max_age: Duration,
    /// When set, `/metrics` answers only to this bearer token (`METRICS_TOKEN`).
    pub metrics_token: Option<SecretString>,
    /// Registered (or completed with new deployments) at start-up.
    pub lti_platforms: Vec<LtiPlatformConfig>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for rate limits).
    pub trusted_proxies: Vec<ProxyNet>,
    /// `RETIREMENT_ROOM_MESSAGES`: a retired learner's room messages removed or redacted.
    pub retirement_room_messages: RoomMessages,
    /// `RETENTION_DAYS`: messages, feedback and empty conversations older than this are deleted.
    pub retention: Option<std::time::Duration>,
}

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
        let insights = insights_config(vars)?;
        let retirement_room_messages = room_messages_config(vars)?;
        let retention = retention_config(vars)?;

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
                raw.parse().map_err(|_| {
                    ConfigError::new(
                        "TRUSTED_PROXIES",
                        format!("{raw:?} is not an IP address or network like 10.0.0.0/8"),
                    )
                })
            })
            .collect::<Result<Vec<ProxyNet>, _>>()?;
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
            insights,
            local_accounts,
            http_timeout,
            session_max_age,
            metrics_token: vars.secret("METRICS_TOKEN"),
            lti_platforms,
            trusted_proxies,
            retirement_room_messages,
            retention,
        })
    }

    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }
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
    fn the_room_assistant_needs_a_room_and_a_model() {
        let openai = ("OPENAI_BASE_URL", "http://llm:8000/v1");
        assert!(Config::from_vars(&vars(&[])).expect("defaults").chat.room_assistant.is_none(), "off by default");
        assert_eq!(err(&[("ROOM_ASSISTANT", "openai")]).var, "ROOM_ASSISTANT", "no OPENAI_BASE_URL");
        assert_eq!(err(&[("ROOM_ASSISTANT", "flowise"), openai]).var, "ROOM_ASSISTANT", "no FLOWISE_URL");
        assert_eq!(err(&[("ROOM_ASSISTANT", "telepathy"), openai]).var, "ROOM_ASSISTANT");
        assert_eq!(err(&[("ROOM_ASSISTANT", "openai"), openai, ("CHAT_BACKEND", "openai")]).var, "ROOM_ASSISTANT");
        assert_eq!(
            err(&[("ROOM_ASSISTANT", "openai"), openai, ("ROOM_ASSISTANT_NAMES", "a b")]).var,
            "ROOM_ASSISTANT_NAMES"
        );
        assert_eq!(
            err(&[("ROOM_ASSISTANT", "openai"), openai, ("ROOM_ASSISTANT_PER_MINUTE", "0")]).var,
            "ROOM_ASSISTANT_PER_MINUTE"
        );
        let config =
            Config::from_vars(&vars(&[("ROOM_ASSISTANT", "openai"), openai, ("ROOM_ASSISTANT_NAMES", "@Tutor, bot")]))
                .expect("valid");
        let room = config.chat.room_assistant.expect("on");
        assert_eq!(
            (room.backend, room.names, room.per_minute),
            (ChatBackendKind::OpenAi, vec!["tutor".into(), "bot".into()], 6)
        );
    }

    #[test]
    fn embeddings_need_an_endpoint_and_default_to_the_openai_one() {
        assert!(Config::from_vars(&vars(&[])).expect("defaults").chat.embeddings.is_none(), "off by default");
        assert_eq!(err(&[("EMBEDDINGS_MODEL", "e5")]).var, "EMBEDDINGS_BASE_URL");
        let openai = ("OPENAI_BASE_URL", "http://llm:8000/v1");
        assert_eq!(
            err(&[("EMBEDDINGS_MODEL", "e5"), openai, ("EMBEDDINGS_MIN_SIMILARITY", "2")]).var,
            "EMBEDDINGS_MIN_SIMILARITY"
        );
        let config =
            Config::from_vars(&vars(&[("EMBEDDINGS_MODEL", "e5"), openai, ("OPENAI_API_KEY", "sk-1")])).expect("valid");
        let embeddings = config.chat.embeddings.expect("on");
        assert_eq!((embeddings.base_url.as_str(), embeddings.model.as_str()), ("http://llm:8000/v1", "e5"));
        assert_eq!(embeddings.api_key.map(|k| k.expose_secret().to_owned()).as_deref(), Some("sk-1"));
        assert!((embeddings.min_similarity - 0.3).abs() < f32::EPSILON);
        let own =
            Config::from_vars(&vars(&[("EMBEDDINGS_MODEL", "e5"), ("EMBEDDINGS_BASE_URL", "http://emb:9000/v1")]))
                .expect("valid");
        assert_eq!(own.chat.embeddings.expect("on").base_url.as_str(), "http://emb:9000/v1");
    }

    #[test]
    fn the_dashboard_keeps_learners_pseudonymous_unless_told_otherwise() {
        let insights = Config::from_vars(&vars(&[])).expect("defaults").insights;
        assert!(!insights.show_names && !insights.transcripts && insights.price_per_1k_tokens == 0.0);
        assert_eq!(err(&[("INSIGHTS_PRICE_PER_1K_TOKENS", "-1")]).var, "INSIGHTS_PRICE_PER_1K_TOKENS");
        assert_eq!(err(&[("INSIGHTS_SHOW_NAMES", "maybe")]).var, "INSIGHTS_SHOW_NAMES");
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
        let net: ProxyNet = "172.16.0.0/12".parse().expect("net");
        assert!(net.contains("172.31.255.1".parse().expect("ip")));
        assert!(!net.contains("172.32.0.1".parse().expect("ip")));
        assert!(net.contains("::ffff:172.20.0.3".parse().expect("mapped")));
        let one: ProxyNet = "::1".parse().expect("net");
        assert!(one.contains("::1".parse().expect("ip")) && !one.contains("::2".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<ProxyNet>().is_err() && "nope".parse::<ProxyNet>().is_err());
    }

    #[test]
    fn redact_url_hides_passwords() {
        assert_eq!(redact_url("mysql://llm:hunter2@mysql:3306/llm"), "mysql://llm:***@mysql:3306/llm");
        assert_eq!(redact_url("sqlite://data/ibal.db"), "sqlite://data/ibal.db");
    }
}
