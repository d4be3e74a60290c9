//! The IBAL gateway: Open edX and LTI 1.3 sign-in, iframe-safe pages, and the course chat.

pub mod auth;
pub mod chat;
pub mod check;
pub mod cli;
pub mod config;
pub mod course;
pub mod db;
pub mod domain;
pub mod http;
pub mod lti;
pub mod metrics;
pub mod serve;
pub mod state;
pub mod telemetry;
pub mod templates;

pub use http::app;
pub use state::AppState;
