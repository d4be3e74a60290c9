//! The LMS side of chat tickets, as the IbalXBlock signs them: RS256 with the LMS's own key, named by `kid`,
//! carrying the claims of docs/protocol.md. A gateway trusts the LMS through [`Lms::gateway_vars`]
//! (`TICKET_JWKS`, `TICKET_ISSUER`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::keys::RsaKey;

/// The longest a ticket may live: the gateway refuses longer.
pub const TICKET_LIFETIME_SECS: u64 = 300;

/// An LMS with a fresh RSA-2048 key, minting learners' tickets.
pub struct Lms {
    issuer: String,
    kid: String,
    key: RsaKey,
    jwks: String,
    /// Tells this LMS's `jti`s from another's, should two share a database.
    run: String,
    minted: AtomicU64,
}

/// What a learner's ticket names: the gateway it is for (`aud`, the origin of its PUBLIC_URL), the LMS
/// account, and the block it chats in.
pub struct Ticket<'a> {
    pub audience: &'a str,
    /// The account's stable id at the LMS (`sub`).
    pub sub: &'a str,
    pub username: &'a str,
    pub course: &'a str,
    pub block: &'a str,
    /// The block's title, shown in the chat.
    pub title: &'a str,
}

impl Lms {
    /// # Errors
    /// The key could not be made.
    pub fn new(issuer: &str, kid: &str) -> Result<Self, String> {
        let key = RsaKey::generate()?;
        let jwks = json!({"keys": [key.jwk(kid)]}).to_string();
        let run = format!("{:x}-{:x}", std::process::id(), now().as_nanos());
        Ok(Self { issuer: issuer.to_owned(), kid: kid.to_owned(), key, jwks, run, minted: AtomicU64::new(0) })
    }

    /// The LMS root URL, the tickets' `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// What a gateway needs to trust this LMS's tickets.
    pub fn gateway_vars(&self) -> [(&'static str, String); 2] {
        [("TICKET_JWKS", self.jwks.clone()), ("TICKET_ISSUER", self.issuer.clone())]
    }

    /// How many tickets' claims were made so far (each with its own `jti`).
    pub fn minted(&self) -> u64 {
        self.minted.load(Ordering::Relaxed)
    }

    /// A learner's claims, as the block mints them: issued now, for five minutes, with a new `jti`.
    pub fn claims(&self, ticket: &Ticket<'_>) -> Value {
        let iat = now().as_secs();
        json!({
            "iss": self.issuer, "aud": ticket.audience, "sub": ticket.sub, "preferred_username": ticket.username,
            "course_id": ticket.course, "usage_id": ticket.block, "role": "learner", "global_staff": false,
            "title": ticket.title, "instructions": "", "iat": iat, "exp": iat + TICKET_LIFETIME_SECS,
            "jti": format!("{}-{}", self.run, self.minted.fetch_add(1, Ordering::Relaxed)),
        })
    }

    /// `claims` signed with this LMS's key under its `kid`.
    ///
    /// # Errors
    /// The signature failed.
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        self.sign_as(claims, Some(&self.kid))
    }

    /// `claims` signed with this LMS's key, naming `kid` (another key's id, or none) in the header.
    ///
    /// # Errors
    /// The signature failed.
    pub fn sign_as(&self, claims: &Value, kid: Option<&str>) -> Result<String, String> {
        sign(claims, kid, &self.key.signing)
    }

    /// A learner's ticket: [`Lms::claims`], signed.
    ///
    /// # Errors
    /// The signature failed.
    pub fn ticket(&self, ticket: &Ticket<'_>) -> Result<String, String> {
        self.sign(&self.claims(ticket))
    }
}

/// An RS256 JWT of `claims` with `key`, naming `kid` in its header.
///
/// # Errors
/// The signature failed.
pub fn sign(claims: &Value, kid: Option<&str>, key: &EncodingKey) -> Result<String, String> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).map_err(|e| format!("signing a ticket: {e}"))
}

fn now() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};

    use super::*;

    #[test]
    fn tickets_verify_with_the_published_key_and_carry_the_protocols_claims() {
        let lms = Lms::new("https://lms.kit.example", "kit-1").expect("key");
        let vars = lms.gateway_vars();
        assert_eq!(vars[1], ("TICKET_ISSUER", "https://lms.kit.example".to_owned()));
        let jwks: JwkSet = serde_json::from_str(&vars[0].1).expect("jwks");
        let key = DecodingKey::from_jwk(jwks.find("kit-1").expect("kid")).expect("jwk");
        let ticket = Ticket {
            audience: "http://127.0.0.1:1",
            sub: "42",
            username: "ada",
            course: "course-v1:x+y+z",
            block: "block-v1:x+y+z+type@ibalxblock+block@b",
            title: "Chat",
        };
        let (first, second) = (lms.ticket(&ticket).expect("sign"), lms.ticket(&ticket).expect("sign"));
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["http://127.0.0.1:1"]);
        validation.set_issuer(&["https://lms.kit.example"]);
        let claims = jsonwebtoken::decode::<Value>(&first, &key, &validation).expect("valid").claims;
        assert_eq!(jsonwebtoken::decode_header(&first).expect("header").kid.as_deref(), Some("kit-1"));
        assert_eq!((claims["sub"].as_str(), claims["preferred_username"].as_str()), (Some("42"), Some("ada")));
        assert_eq!(claims["usage_id"], "block-v1:x+y+z+type@ibalxblock+block@b");
        assert_eq!(claims["role"], "learner");
        let lifetime = claims["exp"].as_u64().unwrap_or(0) - claims["iat"].as_u64().unwrap_or(0);
        assert_eq!(lifetime, TICKET_LIFETIME_SECS);
        let again = jsonwebtoken::decode::<Value>(&second, &key, &validation).expect("valid").claims;
        assert_ne!(claims["jti"], again["jti"], "one jti per ticket");
        assert_eq!(lms.minted(), 2);

        let stranger = RsaKey::generate().expect("key");
        let forged = sign(&lms.claims(&ticket), Some("kit-1"), &stranger.signing).expect("sign");
        assert!(jsonwebtoken::decode::<Value>(&forged, &key, &validation).is_err());
    }
}
