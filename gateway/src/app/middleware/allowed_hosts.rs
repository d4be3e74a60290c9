//! `ALLOWED_HOSTS`: requests for other host names are refused before any handler runs.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::web::error::ApiError;
use crate::web::security::SecurityPolicy;

/// Probes come from orchestrators with whatever Host they like.
const PROBE_PATHS: &[&str] = &["/health", "/ready", "/metrics"];

/// Refuses requests for hosts not in `ALLOWED_HOSTS` (when set), as Django did for the original system.
pub async fn check(State(policy): State<Arc<SecurityPolicy>>, request: Request, next: Next) -> Response {
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
}
