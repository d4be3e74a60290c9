//! The gateway as an LTI 1.3 tool: OIDC third-party login initiation, launch validation as the
//! 1EdTech Security Framework requires, and the claims of a launch.

pub mod jwks;
pub mod launch;
pub mod routes;
mod state;

pub use state::LtiState;

use axum::Router;
use axum::routing::{get, post};

/// The tool's endpoints. The platform's browser posts here, from inside the platform's iframe.
pub fn router<S: Clone + Send + Sync + 'static>(state: LtiState) -> Router<S> {
    Router::new()
        .route("/lti/config.json", get(routes::config))
        .route("/lti/login", get(routes::login).post(routes::login))
        .route("/lti/launch", post(routes::launch))
        .route("/lti/launch/verify", post(routes::verify))
        .route("/lti/deep-link", post(routes::deep_link))
        .with_state(state)
}

use crate::domain::CourseRole;

pub const CLAIM_MESSAGE_TYPE: &str = "https://purl.imsglobal.org/spec/lti/claim/message_type";
pub const CLAIM_VERSION: &str = "https://purl.imsglobal.org/spec/lti/claim/version";
pub const CLAIM_DEPLOYMENT_ID: &str = "https://purl.imsglobal.org/spec/lti/claim/deployment_id";
pub const CLAIM_TARGET_LINK_URI: &str = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri";
pub const CLAIM_RESOURCE_LINK: &str = "https://purl.imsglobal.org/spec/lti/claim/resource_link";
pub const CLAIM_ROLES: &str = "https://purl.imsglobal.org/spec/lti/claim/roles";
pub const CLAIM_CONTEXT: &str = "https://purl.imsglobal.org/spec/lti/claim/context";
pub const CLAIM_LAUNCH_PRESENTATION: &str = "https://purl.imsglobal.org/spec/lti/claim/launch_presentation";
pub const CLAIM_CUSTOM: &str = "https://purl.imsglobal.org/spec/lti/claim/custom";
pub const CLAIM_TOOL_PLATFORM: &str = "https://purl.imsglobal.org/spec/lti/claim/tool_platform";
pub const CLAIM_DEEP_LINKING_SETTINGS: &str = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings";

pub const RESOURCE_LINK_REQUEST: &str = "LtiResourceLinkRequest";
pub const DEEP_LINKING_REQUEST: &str = "LtiDeepLinkingRequest";

/// The user's role in the launch's context (and in no other) for its LIS role URIs: teaching roles
/// make an instructor, teaching assistants, mentors and administrators course staff, anyone else a
/// learner. No launch makes anyone an operator of the gateway.
pub fn role_from_claims(roles: &[String]) -> CourseRole {
    let has = |suffixes: &[&str]| roles.iter().any(|r| suffixes.iter().any(|s| r.ends_with(s)));
    if has(&["membership#Instructor", "membership#ContentDeveloper"]) {
        CourseRole::Instructor
    } else if has(&[
        "membership/Instructor#TeachingAssistant",
        "membership#Mentor",
        "membership#Administrator",
        "institution/person#Administrator",
        "system/person#Administrator",
        "system/person#SysAdmin",
    ]) {
        CourseRole::Staff
    } else {
        CourseRole::Learner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_map_from_lis_uris_to_the_context_only() {
        let uri = |r: &str| format!("http://purl.imsglobal.org/vocab/lis/v2/{r}");
        assert_eq!(role_from_claims(&[uri("membership#Learner")]), CourseRole::Learner);
        assert_eq!(
            role_from_claims(&[uri("membership#Instructor"), uri("institution/person#Staff")]),
            CourseRole::Instructor
        );
        assert_eq!(role_from_claims(&[uri("membership/Instructor#TeachingAssistant")]), CourseRole::Staff);
        assert_eq!(role_from_claims(&[uri("institution/person#Administrator")]), CourseRole::Staff);
        assert_eq!(role_from_claims(&[]), CourseRole::Learner);
        assert_eq!(
            role_from_claims(&["Instructor".into()]),
            CourseRole::Learner,
            "short names are not trusted as URIs"
        );
    }
}
