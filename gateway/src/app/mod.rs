//! The application: its state, the router assembled from every feature's routes, the middleware,
//! and the server's life cycle.

pub mod middleware;
mod ops;
mod pages;
pub mod router;
pub mod serve;
pub mod state;

pub use state::AppState;
