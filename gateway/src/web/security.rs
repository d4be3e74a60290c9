//! Security headers on every response: a fresh CSP nonce per request, framing refused unless a page
//! says it is framable (then `frame-ancestors` lists the configured origins), and the `Host` check.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::config::{Config, origin_of};
use crate::web::error::ApiError;

/// The per-request nonce that page templates put on their `<script>` and `<style>` tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CspNonce(pub Arc<str>);

impl CspNonce {
    fn generate() -> Self {
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
    hsts: bool,
    allowed_hosts: Vec<String>,
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

    fn page_csp(&self, nonce: &str, framable: Option<&Framable>) -> String {
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

/// Adds the nonce to the request and the security headers to the response.
pub async fn security_headers(State(policy): State<Arc<SecurityPolicy>>, mut request: Request, next: Next) -> Response {
    let nonce = CspNonce::generate();
    request.extensions_mut().insert(nonce.clone());
    let mut response = next.run(request).await;

    let framable = response.extensions().get::<Framable>().cloned();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let csp = if is_html {
        policy.page_csp(nonce.as_str(), framable.as_ref())
    } else {
        // Not a document: nothing may run or load in its name.
        "default-src 'none'; frame-ancestors 'none'".to_owned()
    };

    let headers = response.headers_mut();
    set(headers, header::CONTENT_SECURITY_POLICY, &csp);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "strict-origin-when-cross-origin");
    if framable.is_none() {
        set(headers, header::X_FRAME_OPTIONS, "DENY");
    } else {
        // frame-ancestors governs; a stray X-Frame-Options would make browsers refuse the frame.
        headers.remove(header::X_FRAME_OPTIONS);
    }
    if policy.hsts {
        set(headers, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains");
    }
    response
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Probes come from orchestrators with whatever Host they like.
const PROBE_PATHS: &[&str] = &["/health", "/ready", "/metrics"];

/// Refuses requests for hosts not in `ALLOWED_HOSTS` (when set), as Django did for the original system.
pub async fn check_host(State(policy): State<Arc<SecurityPolicy>>, request: Request, next: Next) -> Response {
    if policy.allowed_hosts.is_empty() || PROBE_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().host())
        .map(host_without_port)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if policy.allowed_hosts.iter().any(|allowed| host_matches(allowed, &host)) {
        next.run(request).await
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_host", "This host name is not served here.").into_response()
    }
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [::1]:8000 → ::1
        return rest.split(']').next().unwrap_or_default();
    }
    host.rsplit_once(':').map_or(host, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { host })
}

/// `.example.com` allows the domain and its subdomains, as in Django.
fn host_matches(allowed: &str, host: &str) -> bool {
    match allowed.strip_prefix('.') {
        Some(domain) => host == domain || host.ends_with(&format!(".{domain}")),
        None => host == allowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_are_ignored() {
        assert_eq!(host_without_port("chat.local.openedx.io:8190"), "chat.local.openedx.io");
        assert_eq!(host_without_port("[::1]:8000"), "::1");
        assert_eq!(host_without_port("localhost"), "localhost");
    }

    #[test]
    fn leading_dot_allows_subdomains() {
        assert!(host_matches(".example.com", "chat.example.com"));
        assert!(host_matches(".example.com", "example.com"));
        assert!(!host_matches(".example.com", "badexample.com"));
        assert!(!host_matches("example.com", "chat.example.com"));
    }

    #[test]
    fn nonces_are_fresh() {
        assert_ne!(CspNonce::generate(), CspNonce::generate());
    }
}
