//! Open edX as the identity provider: its OAuth2 client, and the popup sign-in built on it.

pub mod client;
pub mod popup;

pub use client::*;
