//! The LMS side of chat tickets, as the IbalXBlock signs them: RS256 with the LMS's own key (`kid`
//! named), the claims of docs/protocol.md. Every test gateway trusts this LMS's public key.

use std::sync::{Arc, OnceLock};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The LMS root URL tickets name as their issuer.
pub const LMS_ISSUER: &str = "https://lms.test.example";
pub const KID: &str = "lms-ticket-1";
pub const COURSE: &str = "course-v1:edX+DemoX+Demo";
pub const BLOCK: &str = "block-v1:edX+DemoX+Demo+type@ibalxblock+block@a1";

struct Keys {
    signing: EncodingKey,
    /// A key the gateway does not know, to forge signatures with.
    stranger: EncodingKey,
    jwks: String,
}

/// Key generation is slow-ish: one pair per test binary.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let row = ibal_gateway::identity::keys::generate_key(0).expect("key");
        let stranger = ibal_gateway::identity::keys::generate_key(0).expect("key");
        let mut jwk: Value = serde_json::from_str(&row.public_jwk).expect("jwk");
        let public =
            json!({"kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig", "n": jwk["n"].take(), "e": jwk["e"].take()});
        Keys {
            signing: EncodingKey::from_rsa_pem(row.private_key.as_bytes()).expect("pem"),
            stranger: EncodingKey::from_rsa_pem(stranger.private_key.as_bytes()).expect("pem"),
            jwks: json!({ "keys": [public] }).to_string(),
        }
    })
}

/// The LMS minting tickets for a gateway at `audience` (its origin).
#[derive(Clone)]
pub struct TicketLms {
    pub audience: Arc<str>,
}

impl TicketLms {
    pub fn new(gateway_origin: &str) -> Self {
        Self { audience: gateway_origin.into() }
    }

    /// The gateway's configuration for this LMS.
    pub fn gateway_vars() -> Vec<(&'static str, String)> {
        vec![("TICKET_JWKS", keys().jwks.clone()), ("TICKET_ISSUER", LMS_ISSUER.to_owned())]
    }

    /// A learner's ticket for `usage_id` in `course_id`, as the block mints it, with `overrides`.
    pub fn claims(&self, username: &str, course_id: &str, usage_id: &str, overrides: Value) -> Value {
        let now = ibal_gateway::domain::now_ms() / 1000;
        let mut claims = json!({
            "iss": LMS_ISSUER, "aud": &*self.audience, "sub": username, "preferred_username": username,
            "course_id": course_id, "usage_id": usage_id, "role": "learner", "global_staff": false,
            "title": "IBAL Chat", "instructions": "", "iat": now, "exp": now + 300,
            "jti": uuid::Uuid::new_v4().simple().to_string(),
        });
        if let (Some(c), Some(o)) = (claims.as_object_mut(), overrides.as_object()) {
            for (k, v) in o {
                c.insert(k.clone(), v.clone());
            }
        }
        claims
    }

    pub fn sign(&self, claims: &Value) -> String {
        sign(claims, Some(KID), &keys().signing)
    }

    /// A learner's ticket in the demo course's block.
    pub fn ticket(&self, username: &str) -> String {
        self.sign(&self.claims(username, COURSE, BLOCK, json!({})))
    }

    /// A ticket with the given claims changed.
    pub fn ticket_with(&self, username: &str, overrides: Value) -> String {
        self.sign(&self.claims(username, COURSE, BLOCK, overrides))
    }

    /// Signed by a key the gateway does not trust, under the trusted key's id.
    pub fn forged(&self, username: &str) -> String {
        sign(&self.claims(username, COURSE, BLOCK, json!({})), Some(KID), &keys().stranger)
    }

    /// Signed with the real key but naming another key id.
    pub fn unknown_kid(&self, username: &str) -> String {
        sign(&self.claims(username, COURSE, BLOCK, json!({})), Some("rotated-away"), &keys().signing)
    }
}

fn sign(claims: &Value, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}
