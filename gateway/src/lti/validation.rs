//! Validating an LTI 1.3 launch (`id_token`) as the 1EdTech Security Framework requires: RS256
//! only, the platform's key, exact issuer, audience (and `azp`), time claims, a nonce bound to this
//! browser's login and never seen before, a registered deployment, and the LTI claims.

use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use super::claims::{DEEP_LINKING_REQUEST, LaunchClaims, RESOURCE_LINK_REQUEST};
use super::jwks::{JwksCache, JwksError};
use crate::domain::now_ms;
use crate::store::{Db, DbError, LtiPlatform};

/// How far clocks may disagree, and how old a launch may be.
const LEEWAY_SECS: i64 = 60;
const MAX_AGE_SECS: i64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("the id_token is not a JWT")]
    Malformed,
    #[error("only RS256 is accepted (got {0})")]
    Algorithm(String),
    #[error("no registered platform for this issuer and audience")]
    UnknownPlatform,
    #[error("several audiences, and azp does not name this tool")]
    Azp,
    #[error("{0}")]
    Keys(#[from] JwksError),
    #[error("the signature does not verify")]
    Signature,
    #[error("the id_token has expired")]
    Expired,
    #[error("the id_token was issued in the future")]
    IssuedInFuture,
    #[error("the id_token is too old")]
    TooOld,
    #[error("the id_token has no nonce")]
    MissingNonce,
    #[error("the nonce does not match this browser's login")]
    NonceMismatch,
    #[error("this launch was already used (replayed nonce)")]
    Replayed,
    #[error("the deployment is missing or not registered")]
    Deployment,
    #[error("unsupported message type")]
    MessageType,
    #[error("LTI version 1.3.0 is required")]
    Version,
    #[error("a required claim is missing: {0}")]
    MissingClaim(&'static str),
    #[error("a claim has the wrong type")]
    MalformedClaims,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl LaunchError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed_token",
            Self::Algorithm(_) => "algorithm_not_allowed",
            Self::UnknownPlatform => "unknown_platform",
            Self::Azp => "invalid_azp",
            Self::Keys(JwksError::UnknownKid) => "unknown_kid",
            Self::Keys(_) => "platform_keys_unavailable",
            Self::Signature => "bad_signature",
            Self::Expired => "expired",
            Self::IssuedInFuture | Self::TooOld => "invalid_iat",
            Self::MissingNonce | Self::NonceMismatch => "invalid_nonce",
            Self::Replayed => "replayed",
            Self::Deployment => "invalid_deployment",
            Self::MessageType => "invalid_message_type",
            Self::Version => "invalid_version",
            Self::MissingClaim(_) => "missing_claim",
            Self::MalformedClaims => "malformed_claims",
            Self::Db(_) => "internal",
        }
    }
}

/// A launch that passed every check. Its nonce has been recorded.
#[derive(Debug, Clone)]
pub struct Launch {
    pub platform: LtiPlatform,
    pub claims: LaunchClaims,
    pub message_type: String,
    pub deployment_id: String,
}

fn part(token: &str, index: usize) -> Result<Value, LaunchError> {
    let segment = token.split('.').nth(index).ok_or(LaunchError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|_| LaunchError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| LaunchError::Malformed)
}

/// Validates `id_token` for the login whose nonce is `expected_nonce`.
pub async fn validate(db: &Db, jwks: &JwksCache, id_token: &str, expected_nonce: &str) -> Result<Launch, LaunchError> {
    if id_token.split('.').count() != 3 {
        return Err(LaunchError::Malformed);
    }
    let header = part(id_token, 0)?;
    let alg = header["alg"].as_str().unwrap_or_default();
    if alg != "RS256" {
        return Err(LaunchError::Algorithm(alg.chars().take(16).collect()));
    }
    // Which platform: by the (unverified) issuer and audience, then everything is verified.
    let unverified = part(id_token, 1)?;
    let issuer = unverified["iss"].as_str().ok_or(LaunchError::UnknownPlatform)?;
    let audiences: Vec<&str> = match &unverified["aud"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let platforms = db.find_lti_platforms(issuer, None).await?;
    let platform = platforms
        .into_iter()
        .find(|p| audiences.contains(&p.client_id.as_str()))
        .ok_or(LaunchError::UnknownPlatform)?;
    let azp = unverified["azp"].as_str();
    if (audiences.len() > 1 && azp.is_none()) || azp.is_some_and(|a| a != platform.client_id) {
        return Err(LaunchError::Azp);
    }

    let key = jwks.key(&platform.jwks_url, header["kid"].as_str()).await?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&platform.issuer]);
    validation.set_audience(&[&platform.client_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECS.unsigned_abs();
    let claims = match jsonwebtoken::decode::<LaunchClaims>(id_token, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            use jsonwebtoken::errors::ErrorKind;
            return Err(match e.kind() {
                ErrorKind::ExpiredSignature => LaunchError::Expired,
                ErrorKind::InvalidSignature => LaunchError::Signature,
                ErrorKind::MissingRequiredClaim(claim) if claim == "sub" => LaunchError::MissingClaim("sub"),
                ErrorKind::MissingRequiredClaim(_) => LaunchError::MissingClaim("exp/iat"),
                ErrorKind::InvalidAlgorithm => LaunchError::Algorithm(alg.to_owned()),
                ErrorKind::Json(_) => LaunchError::MalformedClaims,
                _ => LaunchError::Signature,
            });
        }
    };

    let now = now_ms() / 1000;
    let iat = claims.iat.ok_or(LaunchError::MissingClaim("iat"))?;
    if iat > now + LEEWAY_SECS {
        return Err(LaunchError::IssuedInFuture);
    }
    if iat < now - MAX_AGE_SECS {
        return Err(LaunchError::TooOld);
    }
    let nonce = claims.nonce.as_deref().filter(|n| !n.is_empty()).ok_or(LaunchError::MissingNonce)?;
    if !crate::crypto::constant_time_eq(nonce, expected_nonce) {
        return Err(LaunchError::NonceMismatch);
    }
    if claims.version.as_deref() != Some("1.3.0") {
        return Err(LaunchError::Version);
    }
    let message_type = claims.message_type.clone().unwrap_or_default();
    match message_type.as_str() {
        RESOURCE_LINK_REQUEST => {
            if claims.link_id().is_empty() {
                return Err(LaunchError::MissingClaim("resource_link.id"));
            }
            if claims.roles.is_none() {
                return Err(LaunchError::MissingClaim("roles"));
            }
            if claims.target_link_uri.is_none() {
                return Err(LaunchError::MissingClaim("target_link_uri"));
            }
        }
        DEEP_LINKING_REQUEST => {
            if claims.deep_linking_settings.as_ref().and_then(|d| d.deep_link_return_url.as_deref()).is_none() {
                return Err(LaunchError::MissingClaim("deep_linking_settings.deep_link_return_url"));
            }
        }
        _ => return Err(LaunchError::MessageType),
    }
    let deployment_id = claims.deployment_id.clone().filter(|d| !d.is_empty()).ok_or(LaunchError::Deployment)?;
    if !db.has_lti_deployment(&platform.id, &deployment_id).await? {
        return Err(LaunchError::Deployment);
    }
    // Last, once everything else holds: a launch is used once.
    let exp = claims.exp.unwrap_or(now + 3600);
    if !db.record_lti_nonce(&platform.id, nonce, exp.saturating_mul(1000)).await? {
        return Err(LaunchError::Replayed);
    }
    Ok(Launch { platform, claims, message_type, deployment_id })
}
