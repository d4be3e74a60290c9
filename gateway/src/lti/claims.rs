//! The claims of an LTI 1.3 launch (`id_token`), typed. Every LTI claim is optional here: the
//! launch validation says which one is missing, in its own words, rather than a decoding error.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::domain::CourseRole;

pub const CLAIM_MESSAGE_TYPE: &str = "https://purl.imsglobal.org/spec/lti/claim/message_type";
pub const CLAIM_VERSION: &str = "https://purl.imsglobal.org/spec/lti/claim/version";
pub const CLAIM_DEPLOYMENT_ID: &str = "https://purl.imsglobal.org/spec/lti/claim/deployment_id";
pub const CLAIM_TARGET_LINK_URI: &str = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri";
pub const CLAIM_RESOURCE_LINK: &str = "https://purl.imsglobal.org/spec/lti/claim/resource_link";
pub const CLAIM_ROLES: &str = "https://purl.imsglobal.org/spec/lti/claim/roles";
pub const CLAIM_CONTEXT: &str = "https://purl.imsglobal.org/spec/lti/claim/context";
pub const CLAIM_CUSTOM: &str = "https://purl.imsglobal.org/spec/lti/claim/custom";
pub const CLAIM_DEEP_LINKING_SETTINGS: &str = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings";
pub const CLAIM_DL_CONTENT_ITEMS: &str = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items";
pub const CLAIM_DL_DATA: &str = "https://purl.imsglobal.org/spec/lti-dl/claim/data";

pub const RESOURCE_LINK_REQUEST: &str = "LtiResourceLinkRequest";
pub const DEEP_LINKING_REQUEST: &str = "LtiDeepLinkingRequest";
pub const DEEP_LINKING_RESPONSE: &str = "LtiDeepLinkingResponse";

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LaunchClaims {
    pub iss: String,
    pub sub: String,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/message_type", default)]
    pub message_type: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/version", default)]
    pub version: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/deployment_id", default)]
    pub deployment_id: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri", default)]
    pub target_link_uri: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/resource_link", default)]
    pub resource_link: Option<ResourceLink>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/roles", default)]
    pub roles: Option<Vec<String>>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/context", default)]
    pub context: Option<Context>,
    /// Custom parameters: the platform's strings, as the deep-linking response set them.
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/custom", default)]
    pub custom: BTreeMap<String, Value>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings", default)]
    pub deep_linking_settings: Option<DeepLinkingSettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResourceLink {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Context {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeepLinkingSettings {
    #[serde(default)]
    pub deep_link_return_url: Option<String>,
    /// Opaque: sent back unchanged in the response.
    #[serde(default)]
    pub data: Option<String>,
}

impl LaunchClaims {
    /// A custom parameter as text (platforms send strings; a number is read as its text).
    pub fn custom(&self, key: &str) -> Option<String> {
        match self.custom.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn context_id(&self) -> &str {
        self.context.as_ref().map_or("", |c| c.id.as_str())
    }

    pub fn context_title(&self) -> &str {
        self.context.as_ref().and_then(|c| c.title.as_deref()).unwrap_or_default()
    }

    pub fn link_id(&self) -> &str {
        self.resource_link.as_ref().map_or("", |l| l.id.as_str())
    }

    pub fn link_title(&self) -> Option<&str> {
        self.resource_link.as_ref().and_then(|l| l.title.as_deref())
    }

    /// The user's role in the launch's context (and in no other).
    pub fn course_role(&self) -> CourseRole {
        role_from_claims(self.roles.as_deref().unwrap_or_default())
    }
}

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

    #[test]
    fn claims_read_from_a_launch() {
        let claims: LaunchClaims = serde_json::from_value(serde_json::json!({
            "iss": "https://platform.example", "sub": "u1", "iat": 1, "exp": 2, "nonce": "n",
            CLAIM_MESSAGE_TYPE: RESOURCE_LINK_REQUEST,
            CLAIM_ROLES: ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
            CLAIM_CONTEXT: {"id": "c1", "title": "Physics", "label": "PHY"},
            CLAIM_RESOURCE_LINK: {"id": "l1"},
            CLAIM_CUSTOM: {"title": "Ask", "weight": 3, "nested": {"a": 1}},
            "https://purl.imsglobal.org/spec/lti/claim/tool_platform": {"guid": "x"},
        }))
        .expect("a launch");
        assert_eq!((claims.context_id(), claims.context_title(), claims.link_id()), ("c1", "Physics", "l1"));
        assert_eq!(claims.link_title(), None);
        assert_eq!(claims.course_role(), CourseRole::Instructor);
        assert_eq!(claims.custom("title").as_deref(), Some("Ask"));
        assert_eq!(claims.custom("weight").as_deref(), Some("3"));
        assert_eq!(claims.custom("nested"), None);
        assert_eq!(claims.custom("absent"), None);
    }
}
