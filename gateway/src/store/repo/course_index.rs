//! The course index: each course's blocks as the LMS/Studio service client pushed them. Every write
//! is one transaction: a batch is stored whole or not at all.

use std::collections::{HashMap, HashSet};

use sqlx::FromRow;

use crate::domain::now_ms;
use crate::sql;
use crate::store::{Db, DbResult, placeholders};

/// One block of a course, as stored (and as a ranked index will be built from).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct CourseBlockRow {
    pub usage_id: String,
    pub block_type: String,
    pub display_name: String,
    /// JSON array of the titles above the block (course, section, subsection, unit).
    pub breadcrumb: String,
    /// Plain text: no markup, no answers or solutions.
    pub text_content: String,
    /// ISO 8601, as the LMS gave it; None when the block has no start date.
    pub start_date: Option<String>,
    /// 1 when only course staff may see the block.
    pub staff_only: i64,
    /// JSON object: partition id → the group ids that may see the block.
    pub group_access: String,
    /// The block in the LMS (`jump_to`).
    pub url: String,
    /// The block's position in the course outline.
    pub ordinal: i64,
    /// The client's hash of all of the above: an unchanged block keeps its hash.
    pub content_hash: String,
    pub updated_at: i64,
}

/// What storing a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredBlocks {
    /// New blocks, and blocks whose hash changed.
    pub stored: u64,
    /// Blocks sent with the hash they already had.
    pub unchanged: u64,
}

macro_rules! block_columns {
    () => {
        "usage_id, block_type, display_name, breadcrumb, text_content, start_date, staff_only, group_access, url, ordinal, content_hash, updated_at"
    };
}

/// Ids per `IN (…)` list: well within every engine's limit of bound parameters.
const IDS_PER_STATEMENT: usize = 200;

impl Db {
    /// The hash of every block the index holds for the course, by usage id.
    pub async fn course_block_hashes(&self, course_id: &str) -> DbResult<HashMap<String, String>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as(sql!(self, "SELECT usage_id, content_hash FROM course_blocks WHERE course_id = ?"))
                .bind(course_id)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().collect())
    }

    /// The course's blocks in outline order.
    pub async fn course_blocks(&self, course_id: &str) -> DbResult<Vec<CourseBlockRow>> {
        let query = sql!(
            self,
            concat!("SELECT ", block_columns!(), " FROM course_blocks WHERE course_id = ? ORDER BY ordinal, usage_id")
        );
        Ok(sqlx::query_as(query).bind(course_id).fetch_all(self.pool()).await?)
    }

    /// The course's title, when it has been indexed.
    pub async fn course_index_title(&self, course_id: &str) -> DbResult<Option<String>> {
        Ok(sqlx::query_scalar(sql!(self, "SELECT course_title FROM course_index WHERE course_id = ?"))
            .bind(course_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// The revision of the course's index: it changes with every change to the course's blocks; None
    /// when the course is not indexed.
    pub async fn course_index_revision(&self, course_id: &str) -> DbResult<Option<i64>> {
        Ok(sqlx::query_scalar(sql!(self, "SELECT revision FROM course_index WHERE course_id = ?"))
            .bind(course_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Stores the blocks (distinct usage ids) and the course's title, in one transaction: new blocks are
    /// inserted, blocks with another hash replaced, blocks with the same hash left alone.
    pub async fn store_course_blocks(
        &self,
        course_id: &str,
        course_title: &str,
        blocks: &[CourseBlockRow],
    ) -> DbResult<StoredBlocks> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let known: Option<String> =
            sqlx::query_scalar(sql!(self, "SELECT course_id FROM course_index WHERE course_id = ?"))
                .bind(course_id)
                .fetch_optional(&mut *tx)
                .await?;
        let title = if known.is_some() {
            sql!(self, "UPDATE course_index SET course_title = ?, updated_at = ? WHERE course_id = ?")
        } else {
            sql!(self, "INSERT INTO course_index (course_title, updated_at, course_id) VALUES (?, ?, ?)")
        };
        sqlx::query(title).bind(course_title).bind(now).bind(course_id).execute(&mut *tx).await?;

        let mut hashes = HashMap::new();
        for chunk in blocks.chunks(IDS_PER_STATEMENT) {
            let query = format!(
                "SELECT usage_id, content_hash FROM course_blocks WHERE course_id = ? AND usage_id IN ({})",
                placeholders(chunk.len())
            );
            let mut select =
                sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(self.sql_dynamic(query))).bind(course_id);
            for block in chunk {
                select = select.bind(&block.usage_id);
            }
            hashes.extend(select.fetch_all(&mut *tx).await?);
        }

        let mut counts = StoredBlocks::default();
        for block in blocks {
            let statement = match hashes.get(&block.usage_id) {
                Some(hash) if *hash == block.content_hash => {
                    counts.unchanged += 1;
                    continue;
                }
                Some(_) => sql!(
                    self,
                    "UPDATE course_blocks SET block_type = ?, display_name = ?, breadcrumb = ?, text_content = ?, start_date = ?, staff_only = ?, group_access = ?, url = ?, ordinal = ?, content_hash = ?, updated_at = ? WHERE course_id = ? AND usage_id = ?"
                ),
                None => sql!(
                    self,
                    "INSERT INTO course_blocks (block_type, display_name, breadcrumb, text_content, start_date, staff_only, group_access, url, ordinal, content_hash, updated_at, course_id, usage_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
            };
            sqlx::query(statement)
                .bind(&block.block_type)
                .bind(&block.display_name)
                .bind(&block.breadcrumb)
                .bind(&block.text_content)
                .bind(&block.start_date)
                .bind(block.staff_only)
                .bind(&block.group_access)
                .bind(&block.url)
                .bind(block.ordinal)
                .bind(&block.content_hash)
                .bind(now)
                .bind(course_id)
                .bind(&block.usage_id)
                .execute(&mut *tx)
                .await?;
            counts.stored += 1;
        }
        if counts.stored > 0 {
            self.bump_revision(&mut tx, course_id).await?;
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// Removes the course's blocks that `keep` does not name, in one transaction; returns how many.
    /// A course left with no block leaves the index altogether.
    pub async fn prune_course_blocks(&self, course_id: &str, keep: &HashSet<&str>) -> DbResult<u64> {
        let mut tx = self.pool().begin().await?;
        let held: Vec<String> =
            sqlx::query_scalar(sql!(self, "SELECT usage_id FROM course_blocks WHERE course_id = ?"))
                .bind(course_id)
                .fetch_all(&mut *tx)
                .await?;
        let gone: Vec<&String> = held.iter().filter(|id| !keep.contains(id.as_str())).collect();
        let mut removed = 0;
        for chunk in gone.chunks(IDS_PER_STATEMENT) {
            let query = format!(
                "DELETE FROM course_blocks WHERE course_id = ? AND usage_id IN ({})",
                placeholders(chunk.len())
            );
            let mut delete = sqlx::query(sqlx::AssertSqlSafe(self.sql_dynamic(query))).bind(course_id);
            for id in chunk {
                delete = delete.bind(*id);
            }
            removed += delete.execute(&mut *tx).await?.rows_affected();
        }
        if gone.len() == held.len() {
            sqlx::query(sql!(self, "DELETE FROM course_index WHERE course_id = ?"))
                .bind(course_id)
                .execute(&mut *tx)
                .await?;
        } else if removed > 0 {
            self.bump_revision(&mut tx, course_id).await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn bump_revision(&self, tx: &mut sqlx::Transaction<'static, sqlx::Any>, course_id: &str) -> DbResult<()> {
        sqlx::query(sql!(self, "UPDATE course_index SET revision = revision + 1 WHERE course_id = ?"))
            .bind(course_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
