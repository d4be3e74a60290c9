//! The middleware every request passes through, one file each, in the order they wrap the app
//! (outermost first): request id, observe (log and metrics), allowed hosts, security headers,
//! error pages.

pub mod allowed_hosts;
pub mod error_pages;
pub mod observe;
pub mod security_headers;
