//! Ranked keyword search, in memory: course text cut into passages ([`passages`]), words to terms
//! ([`terms`]), and Okapi BM25 over them ([`bm25`]).
//!
//! Written here rather than with an engine such as tantivy: a course is a few thousand passages, the
//! database stays the one store every replica reads, and the same ranking holds on SQLite, MariaDB
//! and PostgreSQL, whose own full-text searches rank differently (docs/course-knowledge.md).

pub mod bm25;
pub mod passages;
pub mod terms;

pub use bm25::{Hit, Index};
pub use passages::{passages, snippet};
