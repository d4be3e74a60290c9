//! `DATABASE_URL`: which database, and how it is printed without its password.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::vars::ConfigError;

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
