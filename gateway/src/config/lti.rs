//! LTI platforms registered from configuration (`LTI_PLATFORMS`).

/// An LTI platform registered from configuration (`LTI_PLATFORMS`), as Tutor renders it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LtiPlatformConfig {
    pub issuer: String,
    pub client_id: String,
    pub deployment_ids: Vec<String>,
    pub auth_url: String,
    pub jwks_url: String,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub name: String,
}
