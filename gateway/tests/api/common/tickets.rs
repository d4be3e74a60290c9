//! The LMS side of chat tickets, as the IbalXBlock signs them: the kit's LMS (ibal_test_kit::lms), one per
//! test binary, whose public key every test gateway trusts, with the tests' learners and their forgeries.

use std::sync::{Arc, OnceLock};

use ibal_test_kit::keys::RsaKey;
use ibal_test_kit::lms::{Lms, Ticket};
use serde_json::{Value, json};

/// The LMS root URL tickets name as their issuer.
pub const LMS_ISSUER: &str = "https://lms.test.example";
pub const KID: &str = "lms-ticket-1";
pub const COURSE: &str = "course-v1:edX+DemoX+Demo";
pub const BLOCK: &str = "block-v1:edX+DemoX+Demo+type@ibalxblock+block@a1";

struct Keys {
    lms: Lms,
    /// A key the gateway does not know, to forge signatures with.
    stranger: RsaKey,
}

/// Key generation is slow-ish: one pair per test binary.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        lms: Lms::new(LMS_ISSUER, KID).expect("key"),
        stranger: RsaKey::generate().expect("key"),
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
        keys().lms.gateway_vars().to_vec()
    }

    /// A learner's ticket for `usage_id` in `course_id`, as the block mints it, with `overrides`.
    pub fn claims(&self, username: &str, course_id: &str, usage_id: &str, overrides: Value) -> Value {
        let ticket = Ticket {
            audience: &self.audience,
            sub: username,
            username,
            course: course_id,
            block: usage_id,
            title: "IBAL Chat",
        };
        let mut claims = keys().lms.claims(&ticket);
        if let (Some(c), Some(o)) = (claims.as_object_mut(), overrides.as_object()) {
            for (k, v) in o {
                c.insert(k.clone(), v.clone());
            }
        }
        claims
    }

    pub fn sign(&self, claims: &Value) -> String {
        keys().lms.sign(claims).expect("sign")
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
        let claims = self.claims(username, COURSE, BLOCK, json!({}));
        ibal_test_kit::lms::sign(&claims, Some(KID), &keys().stranger.signing).expect("sign")
    }

    /// Signed with the real key but naming another key id.
    pub fn unknown_kid(&self, username: &str) -> String {
        keys().lms.sign_as(&self.claims(username, COURSE, BLOCK, json!({})), Some("rotated-away")).expect("sign")
    }
}
