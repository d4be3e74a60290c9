//! The raw variables, and how each kind of value is read from them (every error names its variable).

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

use secrecy::SecretString;
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
    pub(super) fn get(&self, var: &str) -> Option<&str> {
        self.0.get(var).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub(super) fn parse<T: FromStr>(&self, var: &str, default: T, what: &str) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|_| ConfigError::new(var, format!("expected {what}, got {raw:?}"))),
        }
    }

    pub(super) fn bool(&self, var: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(other) => Err(ConfigError::new(var, format!("expected true or false, got {other:?}"))),
        }
    }

    pub(super) fn url(&self, var: &str) -> Result<Option<Url>, ConfigError> {
        self.get(var).map(|raw| parse_http_url(var, raw)).transpose()
    }

    pub(super) fn secret(&self, var: &str) -> Option<SecretString> {
        self.get(var).map(|v| SecretString::from(v.to_owned()))
    }

    pub(super) fn list(&self, var: &str) -> Vec<String> {
        self.get(var)
            .map(|v| v.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

pub(super) fn parse_http_url(var: &str, raw: &str) -> Result<Url, ConfigError> {
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
pub(super) fn parse_origin(var: &str, raw: &str) -> Result<String, ConfigError> {
    let url = Url::parse(raw)
        .map_err(|_| ConfigError::new(var, format!("{raw:?} is not an origin like https://lms.example.com")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || raw.trim_end_matches('/') != origin_of(&url)
    {
        return Err(ConfigError::new(var, format!("{raw:?} is not an origin like https://lms.example.com")));
    }
    Ok(origin_of(&url))
}
