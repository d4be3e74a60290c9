//! Course knowledge: the passages of an indexed course that a learner may see, ranked for a question.
//!
//! The database holds each course's blocks (the course index API writes them); each replica builds a
//! BM25 index of a course in memory on first use and rebuilds it when the course's revision in the
//! database has moved (one indexed read per question). With an embeddings model (`EMBEDDINGS_MODEL`)
//! each passage also has a vector (embedded once, kept in the database by the hash of its text), the
//! question is embedded too, and the keyword and vector rankings are merged by reciprocal rank fusion;
//! when the embeddings server fails, keyword ranking goes on alone. What a learner may see is decided
//! per question, from what the LMS signed: released blocks, not staff-only, and group-restricted blocks
//! only in the learner's groups; course staff see everything, as in the LMS.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

use super::embeddings::{self, Embedder};
use crate::crypto::sha256_hex;
use crate::domain::{CourseRole, Groups, start_seconds};
use crate::search::{self, Index};
use crate::store::{CourseBlockRow, Db, DbResult};

/// Courses whose index a replica keeps in memory (a 2,000-block course takes a few MB).
const CACHED_COURSES: usize = 32;
/// The characters of a source's snippet.
const SNIPPET_CHARS: usize = 200;
/// Hits read per passage wanted: room to skip a block's second passage.
const OVERSAMPLE: usize = 4;
/// How deep each ranking goes before they are merged.
const FUSION_DEPTH: usize = 50;
/// Reciprocal rank fusion's constant (Cormack, Clarke & Büttcher, 2009).
const RRF_K: f32 = 60.0;
/// A course whose passages could not all be embedded is tried again after this long.
const EMBED_RETRY: Duration = Duration::from_secs(60);

/// Who is asking, as the LMS proved it.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub role: CourseRole,
    pub groups: &'a Groups,
    /// Unix seconds: blocks starting later are not released yet.
    pub now: i64,
}

impl Viewer<'_> {
    fn may_see(&self, block: &Block) -> bool {
        if self.role.is_course_staff() {
            return true;
        }
        let released = match block.start {
            Start::None => true,
            Start::At(at) => at <= self.now,
            // A date the gateway cannot read is not a date it can say has passed.
            Start::Unreadable => false,
        };
        released
            && !block.staff_only
            && block.group_access.iter().all(|(partition, allowed)| {
                allowed.is_empty() || self.groups.get(partition).is_some_and(|group| allowed.contains(group))
            })
    }
}

/// A passage retrieved for a question, numbered from 1 in rank order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    pub n: usize,
    pub usage_id: String,
    pub title: String,
    /// "Section › Subsection › Unit".
    pub breadcrumb: String,
    /// The block in the LMS.
    pub url: String,
    pub text: String,
    pub snippet: String,
}

#[derive(Debug)]
enum Start {
    None,
    At(i64),
    Unreadable,
}

#[derive(Debug)]
struct Block {
    usage_id: String,
    title: String,
    breadcrumb: String,
    url: String,
    staff_only: bool,
    start: Start,
    group_access: BTreeMap<String, Vec<i64>>,
}

/// One course's ranked index, at one revision.
#[derive(Debug)]
struct CourseSearch {
    revision: i64,
    blocks: Vec<Block>,
    /// (block, text) per indexed document.
    passages: Vec<(usize, String)>,
    index: Index,
    /// One unit vector per passage, with an embeddings model that answered.
    vectors: Option<Vec<Vec<f32>>>,
    /// Whether this is all there will be: false when the embeddings server failed (tried again later).
    complete: bool,
    built: Instant,
}

impl CourseSearch {
    fn build(revision: i64, rows: Vec<CourseBlockRow>) -> Self {
        let mut blocks = Vec::with_capacity(rows.len());
        let mut passages = Vec::new();
        let mut documents = Vec::new();
        for row in rows {
            let crumbs: Vec<String> = serde_json::from_str(&row.breadcrumb).unwrap_or_default();
            let block = Block {
                start: match row.start_date.as_deref() {
                    None => Start::None,
                    Some(start) => start_seconds(start).map_or(Start::Unreadable, Start::At),
                },
                // An unreadable restriction restricts to nobody but staff.
                group_access: serde_json::from_str(&row.group_access)
                    .unwrap_or_else(|_| BTreeMap::from([(String::new(), vec![i64::MIN])])),
                staff_only: row.staff_only != 0,
                breadcrumb: crumbs.join(" › "),
                title: row.display_name,
                usage_id: row.usage_id,
                url: row.url,
            };
            // The titles count as words of every passage of the block: a question naming a unit finds it.
            let heading = format!("{} {}", block.breadcrumb, block.title);
            for text in search::passages(&row.text_content, search::passages::MAX_PASSAGE_CHARS) {
                documents.push(format!("{heading}\n{text}"));
                passages.push((blocks.len(), text));
            }
            blocks.push(block);
        }
        let index = Index::build(documents.iter().map(String::as_str));
        Self { revision, blocks, passages, index, vectors: None, complete: true, built: Instant::now() }
    }

    /// The best `limit` passages `viewer` may see, one per block: by keywords, merged with the ranking
    /// by meaning when the question has a vector (`question_vector`, with `min_similarity` the least
    /// cosine a passage needs to be ranked by meaning at all).
    fn retrieve(
        &self,
        question: &str,
        question_vector: Option<&[f32]>,
        min_similarity: f32,
        viewer: &Viewer<'_>,
        limit: usize,
    ) -> Vec<Passage> {
        let allowed = |doc: usize| self.blocks.get(self.passages[doc].0).is_some_and(|b| viewer.may_see(b));
        let depth = limit.saturating_mul(OVERSAMPLE).max(FUSION_DEPTH);
        let keyword: Vec<usize> = self.index.search(question, depth, allowed).into_iter().map(|h| h.doc).collect();
        let ranked = match (question_vector, &self.vectors) {
            (Some(q), Some(vectors)) => fuse(&[&keyword, &nearest(q, vectors, depth, min_similarity, allowed)]),
            _ => keyword,
        };
        let mut seen = HashSet::new();
        ranked
            .into_iter()
            .filter(|doc| seen.insert(self.passages[*doc].0))
            .take(limit)
            .enumerate()
            .map(|(i, doc)| {
                let (block, text) = &self.passages[doc];
                let block = &self.blocks[*block];
                Passage {
                    n: i + 1,
                    usage_id: block.usage_id.clone(),
                    title: block.title.clone(),
                    breadcrumb: block.breadcrumb.clone(),
                    url: block.url.clone(),
                    snippet: search::snippet(text, SNIPPET_CHARS),
                    text: text.clone(),
                }
            })
            .collect()
    }
}

/// The `depth` passages closest in meaning to the question, best first, at least `min` alike.
fn nearest(
    question: &[f32],
    vectors: &[Vec<f32>],
    depth: usize,
    min: f32,
    allowed: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut scored: Vec<(usize, f32)> = vectors
        .iter()
        .enumerate()
        .filter(|(doc, v)| v.len() == question.len() && allowed(*doc))
        .map(|(doc, v)| (doc, v.iter().zip(question).map(|(a, b)| a * b).sum::<f32>()))
        .filter(|(_, similarity)| *similarity >= min)
        .collect();
    scored.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(depth);
    scored.into_iter().map(|(doc, _)| doc).collect()
}

/// Reciprocal rank fusion: each ranking gives a document 1 / (k + its rank); the sums, best first.
fn fuse(rankings: &[&[usize]]) -> Vec<usize> {
    let mut scores: HashMap<usize, f32> = HashMap::new();
    for ranking in rankings {
        for (rank, doc) in ranking.iter().enumerate() {
            let share = 1.0 / (RRF_K + rank as f32 + 1.0);
            *scores.entry(*doc).or_default() += share;
        }
    }
    let mut fused: Vec<(usize, f32)> = scores.into_iter().collect();
    fused.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fused.into_iter().map(|(doc, _)| doc).collect()
}

/// The replica's ranked indexes of the courses asked about lately.
#[derive(Clone)]
pub struct Knowledge {
    courses: Arc<Mutex<LruCache<String, Arc<CourseSearch>>>>,
    embedder: Option<Arc<Embedder>>,
    min_similarity: f32,
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge").finish_non_exhaustive()
    }
}

impl Default for Knowledge {
    fn default() -> Self {
        Self::new(None, 0.0)
    }
}

impl Knowledge {
    /// With an `embedder`, passages also rank by meaning (at least `min_similarity` alike).
    pub fn new(embedder: Option<Embedder>, min_similarity: f32) -> Self {
        let capacity = NonZeroUsize::new(CACHED_COURSES).unwrap_or(NonZeroUsize::MIN);
        Self {
            courses: Arc::new(Mutex::new(LruCache::new(capacity))),
            embedder: embedder.map(Arc::new),
            min_similarity,
        }
    }

    /// The best `limit` passages of the course for `question` that `viewer` may see, best first;
    /// none when the course is not indexed or nothing matches.
    ///
    /// # Errors
    /// The database could not be read.
    pub async fn retrieve(
        &self,
        db: &Db,
        course_id: &str,
        question: &str,
        viewer: &Viewer<'_>,
        limit: usize,
    ) -> DbResult<Vec<Passage>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let Some(course) = self.course(db, course_id).await? else { return Ok(Vec::new()) };
        let question_vector = match (&self.embedder, &course.vectors) {
            (Some(embedder), Some(_)) => match embedder.embed(&[question]).await {
                Ok(mut vectors) => vectors.pop(),
                Err(e) => {
                    tracing::warn!(error = %e, "the question could not be embedded; ranking by keywords alone");
                    None
                }
            },
            _ => None,
        };
        Ok(course.retrieve(question, question_vector.as_deref(), self.min_similarity, viewer, limit))
    }

    /// The course's index at its current revision, built when this replica has none or an older one.
    async fn course(&self, db: &Db, course_id: &str) -> DbResult<Option<Arc<CourseSearch>>> {
        let Some(revision) = db.course_index_revision(course_id).await? else {
            self.lock().pop(course_id);
            return Ok(None);
        };
        let current =
            |c: &&Arc<CourseSearch>| c.revision == revision && (c.complete || c.built.elapsed() < EMBED_RETRY);
        if let Some(course) = self.lock().get(course_id).filter(current) {
            return Ok(Some(course.clone()));
        }
        // Built outside the lock: other courses' questions do not wait. Two questions arriving
        // together may both build it; the second's result simply replaces the first's. Building a
        // 2,000-block course takes tens of milliseconds, once per revision: inline, not on a thread.
        let rows = db.course_blocks(course_id).await?;
        let mut course = CourseSearch::build(revision, rows);
        if let Some(embedder) = &self.embedder {
            course.vectors = self.vectors(db, embedder, &course.passages).await;
            course.complete = course.vectors.is_some();
        }
        let course = Arc::new(course);
        self.lock().put(course_id.to_owned(), course.clone());
        Ok(Some(course))
    }

    /// One vector per passage: those stored already, the others embedded now and stored. None when
    /// the embeddings server or the database failed (logged; keyword ranking goes on).
    async fn vectors(&self, db: &Db, embedder: &Embedder, passages: &[(usize, String)]) -> Option<Vec<Vec<f32>>> {
        let hashes: Vec<String> = passages.iter().map(|(_, text)| sha256_hex(text)).collect();
        let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
        let stored = match db.passage_vectors(embedder.model(), &refs).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "stored passage vectors unreadable");
                return None;
            }
        };
        let mut vectors: Vec<Option<Vec<f32>>> =
            hashes.iter().map(|h| stored.get(h).and_then(|bytes| embeddings::from_bytes(bytes))).collect();
        let missing: Vec<usize> = (0..passages.len()).filter(|&i| vectors[i].is_none()).collect();
        if !missing.is_empty() {
            let texts: Vec<&str> = missing.iter().map(|&i| passages[i].1.as_str()).collect();
            let embedded = match embedder.embed(&texts).await {
                Ok(embedded) => embedded,
                Err(e) => {
                    tracing::warn!(error = %e, passages = missing.len(), "course passages could not be embedded");
                    return None;
                }
            };
            let rows: Vec<(String, Vec<u8>)> =
                missing.iter().zip(&embedded).map(|(&i, v)| (hashes[i].clone(), embeddings::to_bytes(v))).collect();
            if let Err(e) = db.store_passage_vectors(embedder.model(), &rows).await {
                // Kept for this replica's index all the same; stored by the next build.
                tracing::warn!(error = %e, "passage vectors could not be stored");
            }
            for (i, v) in missing.into_iter().zip(embedded) {
                vectors[i] = Some(v);
            }
            tracing::info!(passages = rows.len(), model = embedder.model(), "course passages embedded");
        }
        let vectors: Vec<Vec<f32>> = vectors.into_iter().flatten().collect();
        // One dimension for all, or the model changed under a stored vector: embed again next time.
        let dimension = vectors.first().map(Vec::len);
        (vectors.len() == passages.len() && vectors.iter().all(|v| Some(v.len()) == dimension)).then_some(vectors)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Arc<CourseSearch>>> {
        self.courses.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, text: &str) -> CourseBlockRow {
        CourseBlockRow {
            usage_id: id.into(),
            block_type: "html".into(),
            display_name: format!("Block {id}"),
            breadcrumb: r#"["Biology","Cells","Unit 1"]"#.into(),
            text_content: text.into(),
            start_date: None,
            staff_only: 0,
            group_access: "{}".into(),
            url: format!("https://lms.example.com/jump/{id}"),
            ordinal: 0,
            content_hash: "h".into(),
            updated_at: 0,
        }
    }

    fn learner(groups: &Groups) -> Viewer<'_> {
        Viewer { role: CourseRole::Learner, groups, now: 1_800_000_000 }
    }

    fn ids(passages: &[Passage]) -> Vec<&str> {
        passages.iter().map(|p| p.usage_id.as_str()).collect()
    }

    #[test]
    fn learners_see_only_released_public_blocks_of_their_groups() {
        let mut staff = row("staff", "The ribosome assembles proteins (staff notes).");
        staff.staff_only = 1;
        let mut later = row("later", "The ribosome reads messenger RNA (next week).");
        later.start_date = Some("2099-01-01T00:00:00Z".into());
        let mut garbled = row("garbled", "The ribosome, dated oddly.");
        garbled.start_date = Some("soon".into());
        let mut cohort = row("cohort", "The ribosome for the cohort of group 2.");
        cohort.group_access = r#"{"50": [2]}"#.into();
        let open = row("open", "The ribosome is made of RNA and protein.");
        let course = CourseSearch::build(1, vec![staff, later, garbled, cohort, open]);

        let none = Groups::new();
        assert_eq!(ids(&course.retrieve("ribosome", None, 0.0, &learner(&none), 10)), ["open"]);
        let in_two = Groups::from([("50".to_owned(), 2)]);
        let found = course.retrieve("ribosome", None, 0.0, &learner(&in_two), 10);
        let mut seen = ids(&found);
        seen.sort_unstable();
        assert_eq!(seen, ["cohort", "open"]);
        let in_three = Groups::from([("50".to_owned(), 3)]);
        assert_eq!(ids(&course.retrieve("ribosome", None, 0.0, &learner(&in_three), 10)), ["open"]);

        let staff_viewer = Viewer { role: CourseRole::Staff, ..learner(&none) };
        assert_eq!(course.retrieve("ribosome", None, 0.0, &staff_viewer, 10).len(), 5);
    }

    #[test]
    fn passages_are_numbered_one_per_block_with_their_place() {
        let long = "Mitosis splits one cell into two. ".repeat(80);
        let course = CourseSearch::build(1, vec![row("a", &long), row("b", "Meiosis and mitosis differ.")]);
        let found = course.retrieve("mitosis", None, 0.0, &learner(&Groups::new()), 5);
        assert_eq!(found.iter().map(|p| p.n).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(found.iter().filter(|p| p.usage_id == "a").count(), 1, "one passage per block: {found:?}");
        let first = &found[0];
        assert_eq!(first.breadcrumb, "Biology › Cells › Unit 1");
        assert!(first.url.starts_with("https://lms.example.com/jump/"));
        assert!(first.snippet.chars().count() <= SNIPPET_CHARS + 1);
        assert!(first.text.chars().count() <= search::passages::MAX_PASSAGE_CHARS);
    }

    #[test]
    fn a_unit_title_finds_the_units_blocks() {
        let mut named = row("named", "Read the chapter, then answer the questions.");
        named.display_name = "Glycolysis".into();
        let course = CourseSearch::build(1, vec![row("other", "Questions about the chapter."), named]);
        assert_eq!(ids(&course.retrieve("glycolysis", None, 0.0, &learner(&Groups::new()), 1)), ["named"]);
    }
}
