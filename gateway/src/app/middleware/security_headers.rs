//! The security headers of every response: a strict CSP with a fresh nonce per request (pages may
//! be framed only by the ancestors the handler allowed), nosniff, referrer policy, HSTS on HTTPS.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::web::security::{CspNonce, Framable, SecurityPolicy};

/// Adds the nonce to the request and the security headers to the response.
pub async fn add(State(policy): State<Arc<SecurityPolicy>>, mut request: Request, next: Next) -> Response {
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
