//! The course index API: the LMS/Studio service client (client credentials, scope `index`) pushes
//! each published course's blocks here, incrementally (docs/indexing-and-retirement.md).
//!
//! - `GET  /api/v1/index/courses/{course_id}/hashes` → `{course_id, hashes: {usage_id: hash}}`
//! - `PUT  /api/v1/index/courses/{course_id}/blocks` `{course_title, blocks: [...]}` (1 to 200 blocks,
//!   at most 4 MiB) → `{stored, unchanged}`, stored whole or not at all
//! - `POST /api/v1/index/courses/{course_id}/prune` `{keep: [usage_id, ...]}` → `{removed}`
//! - `GET  /api/v1/index/courses/{course_id}/search?q=…&limit=5` → `{course_id, results: [...]}`: what
//!   retrieval gives a learner in no cohort for that question (for operators checking the index)
//!
//! The course id is one path segment, percent-encoded (`course-v1%3AORG%2BCOURSE%2BRUN`). Ranked
//! retrieval over these rows: [`crate::course::knowledge`].

mod api;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post, put};

use crate::course::Knowledge;
use crate::identity::Authenticator;
use crate::store::Db;

/// What the course index API needs: the store, and what checks the service's token.
#[derive(Clone, Debug)]
pub struct CourseIndexState {
    pub db: Db,
    pub auth: Authenticator,
    pub knowledge: Knowledge,
}

impl FromRef<CourseIndexState> for Authenticator {
    fn from_ref(s: &CourseIndexState) -> Self {
        s.auth.clone()
    }
}

pub fn router<S: Clone + Send + Sync + 'static>(state: CourseIndexState) -> Router<S> {
    Router::new()
        .route("/api/v1/index/courses/{course_id}/hashes", get(api::hashes))
        .route("/api/v1/index/courses/{course_id}/blocks", put(api::store_blocks))
        .route("/api/v1/index/courses/{course_id}/prune", post(api::prune))
        .route("/api/v1/index/courses/{course_id}/search", get(api::search))
        .layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .with_state(state)
}
