//! Security headers on every response: a fresh CSP nonce per request, framing refused unless a page
//! says it is framable (then `frame-ancestors` lists the configured origins), and the `Host` check.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;

use crate::config::{Config, origin_of};
use crate::web::error::ApiError;

/// The per-request nonce that page templates put on their `<script>` and `<style>` tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CspNonce(pub Arc<str>);

impl CspNonce {
    pub fn generate() -> Self {
        // URL-safe base64 (allowed by the CSP grammar) needs no HTML escaping in the attribute.
        let bytes: [u8; 18] = rand::random();
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes).into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CspNonce {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CspNonce>()
            .cloned()
            .ok_or_else(|| ApiError::internal("the security-headers layer is not installed"))
    }
}

/// Put on a response to allow the origins in `frame-ancestors` to frame it (plus any extra, such
/// as the LTI platform of this launch). Absent, the page refuses every frame.
#[derive(Debug, Clone, Default)]
pub struct Framable {
    pub extra_ancestors: Vec<String>,
    /// Origins this page's forms may post to besides our own (an LTI deep-linking return URL).
    pub form_targets: Vec<String>,
}

/// What the headers are built from; computed once from the configuration.
#[derive(Debug, Clone)]
pub struct SecurityPolicy {
    frame_ancestors: Vec<String>,
    connect_src: String,
    pub hsts: bool,
    pub allowed_hosts: Vec<String>,
}

impl SecurityPolicy {
    pub fn from_config(config: &Config) -> Self {
        let ws = origin_of(&config.chat.ws_url);
        let mut connect = vec!["'self'".to_owned(), ws];
        // Browsers do not match ws(s):// against 'self' everywhere; name our own socket origin too.
        let own_ws = origin_of(&config.public_url).replacen("http", "ws", 1);
        if !connect.contains(&own_ws) {
            connect.push(own_ws);
        }
        Self {
            frame_ancestors: config.frame_ancestors.clone(),
            connect_src: connect.join(" "),
            hsts: config.is_https(),
            allowed_hosts: config.allowed_hosts.clone(),
        }
    }

    pub fn page_csp(&self, nonce: &str, framable: Option<&Framable>) -> String {
        let ancestors = match framable {
            None => "'none'".to_owned(),
            Some(f) => {
                let mut list: Vec<&str> = vec!["'self'"];
                list.extend(self.frame_ancestors.iter().map(String::as_str));
                list.extend(f.extra_ancestors.iter().map(String::as_str));
                list.join(" ")
            }
        };
        let mut form_action = vec!["'self'"];
        if let Some(f) = framable {
            form_action.extend(f.form_targets.iter().map(String::as_str));
        }
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self' 'nonce-{nonce}'; \
             img-src 'self' data:; connect-src {}; frame-ancestors {ancestors}; base-uri 'none'; form-action {}; object-src 'none'",
            self.connect_src,
            form_action.join(" ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_fresh() {
        assert_ne!(CspNonce::generate(), CspNonce::generate());
    }
}
