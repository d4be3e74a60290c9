//! Storage: one handle over SQLite, MySQL/MariaDB or PostgreSQL, chosen by `DATABASE_URL`.
//!
//! Queries are written once, with `?` placeholders, through sqlx's `Any` driver; `sql!` rewrites them
//! to `$n` for PostgreSQL once per call site. Where the dialects differ in more than placeholders
//! (upserts), the repository branches on [`DbKind`]. Times are Unix milliseconds, ids UUIDv7 text.

mod migrations;
pub mod repo;
mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

use crate::config::{DatabaseConfig, DbKind};

pub use repo::*;
pub use writer::Receipt;

/// A storage failure, as the layers above need to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write; the name says which.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                Self::Unavailable(e)
            }
            other => Self::Other(other),
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// True when a write was refused by a unique index or primary key.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    kind: DbKind,
    /// Messages go through this queue to one batching writer; None on the writer's own handle.
    writer: Option<writer::MessageWriter>,
    metrics: StoreMetrics,
    /// Moves after every revocation this process commits (a login ended, a user erased): what was
    /// learnt about logins before it may be stale ([`Db::revocations`]).
    revocations: Arc<AtomicU64>,
}

/// The store's metrics; `AppState` registers them with the gateway's.
#[derive(Clone, Debug)]
pub struct StoreMetrics {
    /// Chat messages written (a resend found already stored is not counted).
    pub messages_stored: prometheus_client::metrics::counter::Counter,
    /// Messages per transaction of the batching writer.
    pub batch_size: prometheus_client::metrics::histogram::Histogram,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self {
            messages_stored: prometheus_client::metrics::counter::Counter::default(),
            batch_size: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(1.0, 2.0, 9),
            ),
        }
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("kind", &self.kind).field("size", &self.pool.size()).finish()
    }
}

impl Db {
    /// Connects (creating the SQLite file and its folder when needed). Does not migrate.
    pub async fn connect(config: &DatabaseConfig) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let mut url = config.url.expose_secret().to_owned();
        if let Some(path) = config.sqlite_path() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| DbError::Unavailable(sqlx::Error::Io(e)))?;
            }
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
            }
        }
        let options: AnyConnectOptions = url.parse().map_err(DbError::Unavailable)?;
        // Statements are logged at debug level only: they never carry values, but they are noisy.
        let options = options
            .log_statements(tracing::log::LevelFilter::Debug)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let kind = config.kind;
        let pool = AnyPoolOptions::new()
            .max_connections(if kind == DbKind::Sqlite { config.max_connections.min(8) } else { config.max_connections })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        // WAL lets readers and the writer proceed together; NORMAL is durable in WAL
                        // mode across application crashes; foreign keys are off by default in SQLite.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(DbError::Unavailable)?;
        let direct = Self { pool, kind, writer: None, metrics: StoreMetrics::default(), revocations: Arc::default() };
        let writer = writer::MessageWriter::spawn(direct.clone());
        Ok(Self { writer: Some(writer), ..direct })
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// How many revocations this process has committed: a cache of live logins keyed on it forgets
    /// everything the moment one more is committed here.
    pub fn revocations(&self) -> u64 {
        self.revocations.load(Ordering::Acquire)
    }

    /// Called after a revocation is committed (not before: a check racing it must not cache the
    /// state it read before the commit under the new count).
    pub(crate) fn revoked(&self) {
        self.revocations.fetch_add(1, Ordering::AcqRel);
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies the embedded migrations of this database's dialect; already applied ones are skipped.
    pub async fn migrate(&self) -> DbResult<MigrationReport> {
        let migrator = migrations::migrator(self.kind);
        let before = self.applied_migrations().await.unwrap_or(0);
        migrator.run(&self.pool).await?;
        let after = self.applied_migrations().await?;
        Ok(MigrationReport { applied_now: after.saturating_sub(before), total: after })
    }

    async fn applied_migrations(&self) -> DbResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&self.pool).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// One round trip, for `/ready` and `check`.
    pub async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A statement built at run time, in this database's placeholder style.
    pub(crate) fn sql_dynamic(&self, sql: String) -> String {
        match self.kind {
            DbKind::Postgres => numbered_placeholders(&sql),
            DbKind::Sqlite | DbKind::MySql => sql,
        }
    }

    /// The statement in this database's placeholder style. `pg` caches the PostgreSQL rewrite.
    pub(crate) fn sql(&self, sql: &'static str, pg: &'static OnceLock<String>) -> &'static str {
        match self.kind {
            DbKind::Postgres => pg.get_or_init(|| numbered_placeholders(sql)).as_str(),
            DbKind::Sqlite | DbKind::MySql => sql,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied_now: u64,
    pub total: u64,
}

/// `?, ?, …`: the placeholders of an `IN (…)` list of `n` values.
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `?` → `$1, $2, …`, leaving question marks inside string literals alone.
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut in_string = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                in_string = !in_string;
                out.push(c);
            }
            '?' if !in_string => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

/// A statement for the current dialect, its PostgreSQL form computed once per call site.
#[macro_export]
#[doc(hidden)]
macro_rules! sql {
    ($db:expr, $sql:expr) => {{
        static PG: ::std::sync::OnceLock<String> = ::std::sync::OnceLock::new();
        $db.sql($sql, &PG)
    }};
}

#[cfg(test)]
mod tests {
    use super::numbered_placeholders;

    #[test]
    fn placeholders_are_numbered_outside_strings() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE b = ? AND c = '?' AND d IN (?, ?)"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d IN ($2, $3)"
        );
    }
}
