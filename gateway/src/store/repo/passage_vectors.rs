//! Embeddings of course passages, by model and the SHA-256 of the passage's text (content-addressed:
//! shared by every course and replica, computed once).

use std::collections::HashMap;

use crate::config::DbKind;
use crate::domain::now_ms;
use crate::store::{Db, DbResult, placeholders};

/// Hashes per `IN (…)` list, and rows per INSERT: well within every engine's bound-parameter limit.
const PER_STATEMENT: usize = 200;

impl Db {
    /// The stored vectors of `model` among `hashes`, by hash (little-endian f32 bytes).
    pub async fn passage_vectors(&self, model: &str, hashes: &[&str]) -> DbResult<HashMap<String, Vec<u8>>> {
        let mut found = HashMap::new();
        for chunk in hashes.chunks(PER_STATEMENT) {
            let query = format!(
                "SELECT text_hash, vector FROM passage_vectors WHERE model = ? AND text_hash IN ({})",
                placeholders(chunk.len())
            );
            let mut select =
                sqlx::query_as::<_, (String, Vec<u8>)>(sqlx::AssertSqlSafe(self.sql_dynamic(query))).bind(model);
            for hash in chunk {
                select = select.bind(*hash);
            }
            found.extend(select.fetch_all(self.pool()).await?);
        }
        Ok(found)
    }

    /// Stores vectors of `model`; one already stored (another replica was quicker) is left as it is.
    pub async fn store_passage_vectors(&self, model: &str, vectors: &[(String, Vec<u8>)]) -> DbResult<()> {
        let now = now_ms();
        for chunk in vectors.chunks(PER_STATEMENT) {
            let rows = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
            let conflict = match self.kind() {
                DbKind::MySql => "ON DUPLICATE KEY UPDATE model = model",
                DbKind::Sqlite | DbKind::Postgres => "ON CONFLICT (model, text_hash) DO NOTHING",
            };
            let statement =
                format!("INSERT INTO passage_vectors (model, text_hash, vector, created_at) VALUES {rows} {conflict}");
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(self.sql_dynamic(statement)));
            for (hash, vector) in chunk {
                insert = insert.bind(model).bind(hash).bind(vector.as_slice()).bind(now);
            }
            insert.execute(self.pool()).await?;
        }
        Ok(())
    }
}
