//! The three calls of the course index API, and what a block must be to be stored.

use axum_extra::extract::WithRejection;
use std::collections::{BTreeMap, HashSet};

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::CourseIndexState;
use crate::course::Viewer;
use crate::domain::{CourseRole, Groups, OpenEdxCourseId, now_ms, start_seconds};
use crate::identity::bearer::{IndexScope, ServiceBearer};
use crate::store::CourseBlockRow;
use crate::web::error::ApiError;

/// The most blocks one `PUT …/blocks` carries.
pub const MAX_BLOCKS_PER_CALL: usize = 200;
/// The largest request body: 4 MiB (the client keeps its batches within 4,000,000 bytes).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The most usage ids a prune keeps: more than any course has.
const MAX_KEEP: usize = 100_000;
const MAX_TITLE_CHARS: usize = 1000;
const MAX_BREADCRUMB: usize = 16;
const MAX_BLOCK_TYPE_CHARS: usize = 64;
const MAX_URL_CHARS: usize = 2048;
const MAX_HASH_CHARS: usize = 128;
const MAX_PARTITIONS: usize = 64;

/// One block as the client sends it (fields this gateway does not know are ignored).
#[derive(Debug, Deserialize)]
pub(super) struct Block {
    usage_id: String,
    block_type: String,
    display_name: String,
    breadcrumb: Vec<String>,
    text: String,
    start: Option<String>,
    staff_only: bool,
    group_access: BTreeMap<String, Vec<i64>>,
    url: String,
    position: i64,
    hash: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct StoreBlocks {
    course_title: String,
    /// Read one by one, so an error names the block.
    blocks: Vec<Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Prune {
    keep: Vec<String>,
}

fn course(course_id: &str) -> Result<OpenEdxCourseId, ApiError> {
    OpenEdxCourseId::parse(course_id).ok_or_else(|| {
        ApiError::bad_request(
            "bad_course_id",
            "The course id must be an Open edX course key, course-v1:ORG+COURSE+RUN, percent-encoded as one path segment.",
        )
    })
}

/// `GET /api/v1/index/courses/{course_id}/hashes`.
pub(super) async fn hashes(
    State(state): State<CourseIndexState>,
    _service: ServiceBearer<IndexScope>,
    Path(course_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let course = course(&course_id)?;
    let hashes: BTreeMap<String, String> = state.db.course_block_hashes(course.as_str()).await?.into_iter().collect();
    Ok(Json(json!({ "course_id": course.as_str(), "hashes": hashes })))
}

/// `PUT /api/v1/index/courses/{course_id}/blocks`.
pub(super) async fn store_blocks(
    State(state): State<CourseIndexState>,
    _service: ServiceBearer<IndexScope>,
    Path(course_id): Path<String>,
    WithRejection(Json(body), _): WithRejection<Json<StoreBlocks>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let course = course(&course_id)?;
    if body.blocks.is_empty() || body.blocks.len() > MAX_BLOCKS_PER_CALL {
        return Err(ApiError::bad_request(
            "bad_request",
            format!("Send 1 to {MAX_BLOCKS_PER_CALL} blocks per call (got {}).", body.blocks.len()),
        ));
    }
    if body.course_title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::bad_request(
            "bad_request",
            format!("course_title is over {MAX_TITLE_CHARS} characters."),
        ));
    }
    let mut seen = HashSet::new();
    let mut rows = Vec::with_capacity(body.blocks.len());
    for (n, block) in body.blocks.into_iter().enumerate() {
        let row = serde_json::from_value(block).map_err(|e| e.to_string()).and_then(|b| checked(&course, b)).map_err(
            |why| ApiError::bad_request("bad_block", format!("blocks[{n}]: {why}; nothing of this call was stored.")),
        )?;
        if !seen.insert(row.usage_id.clone()) {
            return Err(ApiError::bad_request(
                "bad_block",
                format!("blocks[{n}]: its usage_id was sent twice in this call; nothing of this call was stored."),
            ));
        }
        rows.push(row);
    }
    let counts = state.db.store_course_blocks(course.as_str(), &body.course_title, &rows).await?;
    tracing::info!(
        course = course.as_str(),
        stored = counts.stored,
        unchanged = counts.unchanged,
        "course index: blocks stored"
    );
    Ok(Json(json!({ "stored": counts.stored, "unchanged": counts.unchanged })))
}

/// `POST /api/v1/index/courses/{course_id}/prune`.
pub(super) async fn prune(
    State(state): State<CourseIndexState>,
    _service: ServiceBearer<IndexScope>,
    Path(course_id): Path<String>,
    WithRejection(Json(body), _): WithRejection<Json<Prune>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let course = course(&course_id)?;
    if body.keep.len() > MAX_KEEP {
        return Err(ApiError::bad_request("bad_request", format!("keep names over {MAX_KEEP} blocks.")));
    }
    let keep: HashSet<&str> = body.keep.iter().map(String::as_str).collect();
    let removed = state.db.prune_course_blocks(course.as_str(), &keep).await?;
    tracing::info!(course = course.as_str(), removed, "course index: blocks pruned");
    Ok(Json(json!({ "removed": removed })))
}

#[derive(Debug, Deserialize)]
pub(super) struct SearchQuery {
    q: String,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    5
}

/// The most passages one search returns.
const MAX_SEARCH_LIMIT: usize = 50;
/// The longest question a search takes, in characters.
const MAX_QUERY_CHARS: usize = 2000;

/// `GET /api/v1/index/courses/{course_id}/search?q=…&limit=5`: the passages a learner in no cohort
/// would be given for the question `q`, best first (what the assistant's prompt would hold).
pub(super) async fn search(
    State(state): State<CourseIndexState>,
    _service: ServiceBearer<IndexScope>,
    Path(course_id): Path<String>,
    WithRejection(Query(query), _): WithRejection<Query<SearchQuery>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let course = course(&course_id)?;
    if query.q.trim().is_empty() || query.q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::bad_request("bad_request", format!("q must be 1 to {MAX_QUERY_CHARS} characters.")));
    }
    if !(1..=MAX_SEARCH_LIMIT).contains(&query.limit) {
        return Err(ApiError::bad_request("bad_request", format!("limit must be 1 to {MAX_SEARCH_LIMIT}.")));
    }
    let groups = Groups::new();
    let viewer = Viewer { role: CourseRole::Learner, groups: &groups, now: now_ms() / 1000 };
    let passages = state.knowledge.retrieve(&state.db, course.as_str(), &query.q, &viewer, query.limit).await?;
    let results: Vec<Value> = passages
        .iter()
        .map(|p| {
            json!({
                "n": p.n,
                "usage_id": p.usage_id,
                "title": p.title,
                "breadcrumb": p.breadcrumb,
                "url": p.url,
                "snippet": p.snippet,
                "text": p.text,
            })
        })
        .collect();
    Ok(Json(json!({ "course_id": course.as_str(), "results": results })))
}

/// The row to store for a block of `course`, or why it cannot be stored.
fn checked(course: &OpenEdxCourseId, b: Block) -> Result<CourseBlockRow, String> {
    let chars = |s: &str| s.chars().count();
    if !course.owns_usage_id(&b.usage_id) {
        return Err("usage_id must be a block of this course (block-v1:ORG+COURSE+RUN+type@TYPE+block@ID)".into());
    }
    let type_ok = !b.block_type.is_empty()
        && chars(&b.block_type) <= MAX_BLOCK_TYPE_CHARS
        && b.block_type.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !type_ok {
        return Err(format!("block_type must be 1 to {MAX_BLOCK_TYPE_CHARS} letters, digits, '_', '-' or '.'"));
    }
    if chars(&b.display_name) > MAX_TITLE_CHARS {
        return Err(format!("display_name is over {MAX_TITLE_CHARS} characters"));
    }
    if b.breadcrumb.len() > MAX_BREADCRUMB || b.breadcrumb.iter().any(|t| chars(t) > MAX_TITLE_CHARS) {
        return Err(format!(
            "breadcrumb must be at most {MAX_BREADCRUMB} titles of at most {MAX_TITLE_CHARS} characters"
        ));
    }
    if let Some(start) = &b.start
        && (start.len() > 40 || start_seconds(start).is_none())
    {
        return Err("start must be an RFC 3339 date and time (2025-01-31T09:00:00Z) or null".into());
    }
    if b.group_access.len() > MAX_PARTITIONS || b.group_access.keys().any(|k| k.parse::<i64>().is_err()) {
        return Err(format!("group_access must map at most {MAX_PARTITIONS} partition ids (integers) to group ids"));
    }
    let url_ok =
        chars(&b.url) <= MAX_URL_CHARS && url::Url::parse(&b.url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !url_ok {
        return Err(format!("url must be an http(s) URL of at most {MAX_URL_CHARS} characters"));
    }
    if b.position < 0 {
        return Err("position must not be negative".into());
    }
    if b.hash.is_empty() || b.hash.len() > MAX_HASH_CHARS || !b.hash.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("hash must be 1 to {MAX_HASH_CHARS} letters or digits"));
    }
    Ok(CourseBlockRow {
        breadcrumb: serde_json::to_string(&b.breadcrumb).map_err(|e| e.to_string())?,
        group_access: serde_json::to_string(&b.group_access).map_err(|e| e.to_string())?,
        usage_id: b.usage_id,
        block_type: b.block_type,
        display_name: b.display_name,
        text_content: b.text,
        start_date: b.start,
        staff_only: i64::from(b.staff_only),
        url: b.url,
        ordinal: b.position,
        content_hash: b.hash,
        updated_at: 0,
    })
}
