//! The gateway's integration tests, one binary with a module per area (built and linked once):
//! HTTP through the router, the CLI as a process, the repository on the three databases, sign-in,
//! proven course context, the chat over real WebSockets, LTI 1.3, replicas on Redis and PostgreSQL,
//! the course index and learner data.

#[macro_use]
mod common;

mod chat;
mod cli;
mod context;
mod course_index;
mod http;
mod identity;
mod insights;
mod knowledge;
mod lti;
mod moderation;
mod replicas;
mod repository;
mod retirement;
mod room_assistant;
