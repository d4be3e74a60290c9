//! The IBAL gateway: Open edX and LTI 1.3 sign-in, iframe-safe pages, and the course chat.
//!
//! The modules form layers (docs/architecture.md): each uses only the ones listed before it.

pub mod cli;
pub mod crypto;
pub mod domain;
pub mod metrics;
pub mod rate_limit;

pub mod config;
pub mod telemetry;

pub mod store;

pub mod course;
pub mod web;

pub mod identity;

pub mod chat;
pub mod course_index;
pub mod lti;
pub mod retirement;

pub mod app;
pub mod check;

pub use app::AppState;
pub use app::router::app;
