//! What every page and API shares: the error types and their HTTP form, the security policy
//! (hosts, frame ancestors, CSP), the client's address behind proxies, the templates, and the
//! widget's assets.

pub mod client_addr;
pub mod cors;
pub mod csrf;
pub mod error;
pub mod security;
pub mod templates;
pub mod widget;
