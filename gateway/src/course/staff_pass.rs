//! A staff pass: the gateway's own proof, minted at an LTI launch whose platform signed a staff role
//! in the course, that this user may open the course's dashboard — the LTI counterpart of the chat
//! ticket the LMS signs for `POST /instructor/enter`. Sealed (AES-256-GCM under a key derived from
//! `SECRET_KEY`, so no one else can mint or read one), short-lived, and spent on use.

use serde::{Deserialize, Serialize};

use crate::crypto::random_token;
use crate::crypto::sealed::Sealer;
use crate::domain::{CourseKey, now_ms};

/// How long a launch page's pass opens the dashboard.
pub const LIFETIME_MS: i64 = 15 * 60_000;
/// Binds sealed passes to their purpose: no other sealed value opens as one.
const PURPOSE: &str = "staff pass v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffPass {
    pub user_id: String,
    pub platform: String,
    pub course_id: String,
    /// Spent once (the issuer of spent passes is [`StaffPass::ISSUER`]).
    pub jti: String,
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PassError {
    #[error("not a pass of this gateway")]
    Invalid,
    #[error("the pass has expired")]
    Expired,
}

impl StaffPass {
    /// The issuer under which spent passes are remembered.
    pub const ISSUER: &'static str = "ibal:staff-pass";

    pub fn new(user_id: &str, course: &CourseKey) -> Self {
        Self {
            user_id: user_id.to_owned(),
            platform: course.platform.clone(),
            course_id: course.course_id.clone(),
            jti: random_token(16),
            expires_at_ms: now_ms() + LIFETIME_MS,
        }
    }

    pub fn course(&self) -> CourseKey {
        CourseKey { platform: self.platform.clone(), course_id: self.course_id.clone() }
    }

    /// The pass as a form value; none when sealing fails (the page then offers no way in).
    pub fn seal(&self, sealer: &Sealer) -> Option<String> {
        let json = serde_json::to_string(self).ok()?;
        sealer.seal(&json, PURPOSE).ok()
    }

    /// The pass a form value holds, if this gateway sealed it and it has not expired.
    ///
    /// # Errors
    /// `Invalid` for anything this gateway did not seal as a pass; `Expired` after its lifetime.
    pub fn open(sealer: &Sealer, sealed: &str) -> Result<Self, PassError> {
        let json = sealer.open(sealed.trim(), PURPOSE).map_err(|_| PassError::Invalid)?;
        let pass: Self = serde_json::from_str(&json).map_err(|_| PassError::Invalid)?;
        if pass.expires_at_ms <= now_ms() {
            return Err(PassError::Expired);
        }
        Ok(pass)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn sealer(key: &str) -> Sealer {
        Sealer::new(&SecretString::from(key.to_owned()))
    }

    #[test]
    fn a_pass_opens_only_under_its_key_unaltered_and_in_time() {
        let course = CourseKey { platform: "https://platform|tool".into(), course_id: "c1".into() };
        let pass = StaffPass::new("u1", &course);
        let ours = sealer("a-secret-key-of-at-least-32-bytes!!");
        let sealed = pass.seal(&ours).expect("sealed");
        assert_eq!(StaffPass::open(&ours, &sealed), Ok(pass.clone()));
        assert_eq!(
            StaffPass::open(&sealer("another-secret-key-of-32-bytes-or-more"), &sealed),
            Err(PassError::Invalid)
        );
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(StaffPass::open(&ours, &altered), Err(PassError::Invalid));
        // Another sealed value (a signing key's, say) is no pass.
        let other = ours.seal("{}", "kid-1").expect("sealed");
        assert_eq!(StaffPass::open(&ours, &other), Err(PassError::Invalid));
        let old = StaffPass { expires_at_ms: now_ms() - 1, ..pass };
        assert_eq!(StaffPass::open(&ours, &old.seal(&ours).expect("sealed")), Err(PassError::Expired));
    }
}
