//! RSA-2048 signing keys made at run time, for the parties a test or the bench plays (an LMS signing chat
//! tickets, an LTI platform): made with aws-lc-rs, as the gateway makes its own.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};

pub struct RsaKey {
    pub signing: EncodingKey,
    pub public: DecodingKey,
    /// The public modulus and exponent, base64url, as a JWK carries them.
    n: String,
    e: String,
}

impl RsaKey {
    /// A fresh key pair (some tens of milliseconds: make one per party, not one per ticket).
    ///
    /// # Errors
    /// The key could not be made or exported.
    pub fn generate() -> Result<Self, String> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| "RSA key generation failed")?;
        let der = pair.as_der().map_err(|_| "RSA key export failed")?;
        let signing = EncodingKey::from_rsa_pem(pkcs8_pem(der.as_ref()).as_bytes()).map_err(|e| e.to_string())?;
        let components: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (n, e) = (b64.encode(&components.n), b64.encode(&components.e));
        let public = DecodingKey::from_rsa_components(&n, &e).map_err(|e| e.to_string())?;
        Ok(Self { signing, public, n, e })
    }

    /// The public half as a JWK for RS256 signatures under `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": self.n, "e": self.e})
    }
}

fn pkcs8_pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}
