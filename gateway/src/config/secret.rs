//! `SECRET_KEY`: configured, or generated once for a development server.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::vars::ConfigError;

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

pub(super) const MIN_SECRET_KEY_LEN: usize = 32;

/// In DEBUG, a missing SECRET_KEY is generated once and kept beside the database, so sessions and
/// tokens survive restarts of a development server.
pub(super) fn load_or_generate_secret(data_dir: &Path) -> Result<SecretKey, ConfigError> {
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
pub(super) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
pub(super) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
