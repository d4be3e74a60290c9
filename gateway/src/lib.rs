//! The IBAL gateway: Open edX and LTI 1.3 sign-in, iframe-safe pages, and the course chat.
//!
//! The modules form layers (docs/architecture.md), one group of declarations each, lowest first: a
//! module uses only modules of the groups before its own (the `layers` test checks it).

pub mod cli;
pub mod crypto;
pub mod domain;
pub mod metrics;
pub mod search;

pub mod config;
pub mod rate_limit;

pub mod store;
pub mod telemetry;

pub mod course;
pub mod web;

pub mod identity;

pub mod chat;

pub mod course_index;
pub mod insights;
pub mod lti;
pub mod retirement;

pub mod app;

pub mod check;

#[cfg(test)]
mod layers;

pub use app::AppState;
pub use app::router::app;
