//! The IBAL gateway: Open edX and LTI 1.3 sign-in, iframe-safe pages, and the course chat.

pub mod config;
pub mod db;
