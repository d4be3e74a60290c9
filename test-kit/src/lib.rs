//! `ibal-test-kit`: the doubles and runners that the gateway's integration tests (`gateway/tests/api/`) and
//! the benchmark harness (`bench/`) both use, kept in one place so that the two play the same parties the
//! same way. It does not depend on the gateway: the tests link the gateway themselves, the bench runs its
//! binary.
//!
//! - [`keys`]: RSA-2048 signing keys made at run time, and their JWKs.
//! - [`lms`]: the LMS that signs chat tickets (RS256, `kid`) and the `TICKET_JWKS`/`TICKET_ISSUER` that make a
//!   gateway trust it.
//! - [`service`]: the LMS's service client of the course index and retirement APIs: `clients ensure` as the
//!   Tutor plugin runs it, then client-credentials tokens.
//! - [`fake_openai`]: a fake OpenAI-compatible model server (streaming chat completions, embeddings, models).
//! - [`process`]: the gateway binary as a child process: a clean environment, what a command printed, the wait
//!   for `serve`'s `listening` line.
//!
//! What only one side needs stays with it: the tests' fake Flowise and fake Open edX, their WebSocket client
//! and in-process gateway; the bench's echo server, its child processes for the baselines and its
//! measurements.

pub mod fake_openai;
pub mod keys;
pub mod lms;
pub mod process;
pub mod service;
