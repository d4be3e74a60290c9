//! The gateway's RS256 signing keys: created at first start, kept in the database with their private
//! halves sealed under `SECRET_KEY` (see `crypto::sealed`), rotated by `ibal-gateway keys rotate`. The newest key signs; every key whose tokens may still be alive is
//! published at `/.well-known/jwks.json`. Replicas reload from the database when they meet a `kid`
//! they do not know, so a rotation done elsewhere is picked up without a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::json;

use crate::crypto::sealed::{SealError, Sealer};
use crate::domain::now_ms;
use crate::store::{Db, DbError, SigningKeyRow};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    Generate,
    #[error("stored key {kid} is unusable: {reason}")]
    Corrupt { kid: String, reason: String },
    #[error("no signing key")]
    Missing,
    #[error(
        "signing key {kid} was sealed under another SECRET_KEY: start with the SECRET_KEY it was sealed \
         with, or re-seal the keys with `OLD_SECRET_KEY=<the previous key> ibal-gateway keys rewrap`"
    )]
    WrongSecret { kid: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

struct Loaded {
    active: Option<(String, EncodingKey)>,
    verify: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
}

pub struct KeyRing {
    db: Db,
    sealer: Arc<Sealer>,
    loaded: RwLock<Loaded>,
    last_reload: Mutex<Instant>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").finish_non_exhaustive()
    }
}

/// Reloads caused by unknown `kid`s happen at most this often: forged kids cannot hammer the database.
const RELOAD_MIN_INTERVAL: Duration = Duration::from_secs(10);

impl KeyRing {
    /// Loads the keys, creating the first one when the database has none.
    pub async fn load(db: Db, sealer: Arc<Sealer>) -> Result<Arc<Self>, KeyError> {
        if db.active_signing_key().await?.is_none() {
            let row = sealed(generate_key(now_ms())?, &sealer)?;
            db.add_signing_key(&row).await?;
            tracing::info!(kid = %row.kid, "created the first signing key");
        }
        let ring = Arc::new(Self {
            db,
            sealer,
            loaded: RwLock::new(Loaded { active: None, verify: HashMap::new(), jwks: json!({"keys": []}) }),
            last_reload: Mutex::new(Instant::now()),
        });
        ring.reload().await?;
        Ok(ring)
    }

    pub async fn reload(&self) -> Result<(), KeyError> {
        let rows = self.db.published_signing_keys(now_ms()).await?;
        let mut verify = HashMap::new();
        let mut jwks = Vec::new();
        let mut active = None;
        for row in &rows {
            let jwk: serde_json::Value = serde_json::from_str(&row.public_jwk)
                .map_err(|e| KeyError::Corrupt { kid: row.kid.clone(), reason: e.to_string() })?;
            let (n, e) = (jwk["n"].as_str().unwrap_or_default(), jwk["e"].as_str().unwrap_or_default());
            let decoding = DecodingKey::from_rsa_components(n, e)
                .map_err(|e| KeyError::Corrupt { kid: row.kid.clone(), reason: e.to_string() })?;
            verify.insert(row.kid.clone(), decoding);
            jwks.push(jwk);
            if row.retired_at.is_none() && active.is_none() {
                let pem = self.private_pem(row).await?;
                let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
                    .map_err(|e| KeyError::Corrupt { kid: row.kid.clone(), reason: e.to_string() })?;
                active = Some((row.kid.clone(), encoding));
            }
        }
        let mut loaded = self.loaded.write().map_err(|_| KeyError::Missing)?;
        *loaded = Loaded { active, verify, jwks: json!({ "keys": jwks }) };
        if let Ok(mut last) = self.last_reload.lock() {
            *last = Instant::now();
        }
        Ok(())
    }

    /// The private key of `row`, opened; a key stored before sealing existed is sealed now.
    async fn private_pem(&self, row: &SigningKeyRow) -> Result<String, KeyError> {
        if Sealer::is_sealed(&row.private_key) {
            return self.sealer.open(&row.private_key, &row.kid).map_err(|e| match e {
                SealError::WrongKey => KeyError::WrongSecret { kid: row.kid.clone() },
                other => KeyError::Corrupt { kid: row.kid.clone(), reason: other.to_string() },
            });
        }
        let seal = self.sealer.seal(&row.private_key, &row.kid).map_err(|_| KeyError::Generate)?;
        self.db.replace_signing_private_key(&row.kid, &row.private_key, &seal).await?;
        tracing::info!(kid = %row.kid, "sealed a signing key stored in plain text");
        Ok(row.private_key.clone())
    }

    /// The key that signs now: (kid, key).
    pub fn signing_key(&self) -> Result<(String, EncodingKey), KeyError> {
        self.loaded.read().ok().and_then(|l| l.active.clone()).ok_or(KeyError::Missing)
    }

    /// The verification key for `kid`, reloading once (rate-limited) when it is unknown.
    pub async fn decoding_key(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(key) = self.loaded.read().ok().and_then(|l| l.verify.get(kid).cloned()) {
            return Some(key);
        }
        let due = self.last_reload.lock().map(|last| last.elapsed() >= RELOAD_MIN_INTERVAL).unwrap_or(false);
        if due {
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "could not reload signing keys");
            }
            return self.loaded.read().ok().and_then(|l| l.verify.get(kid).cloned());
        }
        None
    }

    /// The public JWK set.
    pub fn jwks(&self) -> serde_json::Value {
        self.loaded.read().map(|l| l.jwks.clone()).unwrap_or_else(|_| json!({"keys": []}))
    }
}

/// A new RSA-2048 key, as the row to store (private key as PKCS#8 PEM, public key as a JWK).
pub fn generate_key(now: i64) -> Result<SigningKeyRow, KeyError> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
    let der = pair.as_der().map_err(|_| KeyError::Generate)?;
    let components: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let kid = format!("k{}", &crate::domain::new_id().replace('-', "")[..20]);
    let jwk = json!({
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": b64.encode(&components.n),
        "e": b64.encode(&components.e),
    });
    Ok(SigningKeyRow {
        kid,
        algorithm: "RS256".into(),
        private_key: pem("PRIVATE KEY", der.as_ref()),
        public_jwk: jwk.to_string(),
        created_at: now,
        retired_at: None,
        expires_at: None,
    })
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The row with its private key sealed, as it is stored.
pub fn sealed(mut row: SigningKeyRow, sealer: &Sealer) -> Result<SigningKeyRow, KeyError> {
    row.private_key = sealer.seal(&row.private_key, &row.kid).map_err(|_| KeyError::Generate)?;
    Ok(row)
}

/// Re-seals every stored key under `new` (the current `SECRET_KEY`) that opens under `old` (the
/// previous one) or is in plain text: the way to rotate `SECRET_KEY`. Keys already sealed under
/// `new` are left alone. Returns how many were re-sealed.
///
/// # Errors
/// A key that opens under neither (named), or the database.
pub async fn rewrap(db: &Db, old: &Sealer, new: &Sealer) -> Result<usize, KeyError> {
    let mut done = 0;
    for row in db.all_signing_keys().await? {
        if Sealer::is_sealed(&row.private_key) && new.open(&row.private_key, &row.kid).is_ok() {
            continue;
        }
        let pem = if Sealer::is_sealed(&row.private_key) {
            old.open(&row.private_key, &row.kid).map_err(|_| KeyError::WrongSecret { kid: row.kid.clone() })?
        } else {
            row.private_key.clone()
        };
        let seal = new.seal(&pem, &row.kid).map_err(|_| KeyError::Generate)?;
        db.replace_signing_private_key(&row.kid, &row.private_key, &seal).await?;
        done += 1;
    }
    Ok(done)
}

/// Adds a new signing key. The previous keys stop signing now and stay published for `grace`
/// (the access-token lifetime plus leeway), so tokens they signed verify until they expire.
pub async fn rotate(db: &Db, sealer: &Sealer, grace: Duration) -> Result<String, KeyError> {
    let now = now_ms();
    let row = sealed(generate_key(now)?, sealer)?;
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    db.rotate_in_signing_key(&row, now.saturating_add(grace_ms)).await?;
    Ok(row.kid)
}
