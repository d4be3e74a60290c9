//! The migrations, embedded in the binary: one folder per dialect under `migrations/`.
//! A test checks that every file in those folders is listed here.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::config::DbKind;

/// (version, description, SQL) per dialect, in order.
type Embedded = &'static [(i64, &'static str, &'static str)];

const SQLITE: Embedded = &[
    (1, "initial", include_str!("../../../migrations/sqlite/0001_initial.sql")),
    (2, "course_context", include_str!("../../../migrations/sqlite/0002_course_context.sql")),
    (3, "refresh_families", include_str!("../../../migrations/sqlite/0003_refresh_families.sql")),
    (4, "course_index", include_str!("../../../migrations/sqlite/0004_course_index.sql")),
    (5, "disclosure_and_versions", include_str!("../../../migrations/sqlite/0005_disclosure_and_versions.sql")),
    (6, "backend_reference", include_str!("../../../migrations/sqlite/0006_backend_reference.sql")),
    (7, "chat_controls", include_str!("../../../migrations/sqlite/0007_chat_controls.sql")),
    (8, "retention", include_str!("../../../migrations/sqlite/0008_retention.sql")),
    (9, "course_knowledge", include_str!("../../../migrations/sqlite/0009_course_knowledge.sql")),
    (10, "passage_vectors", include_str!("../../../migrations/sqlite/0010_passage_vectors.sql")),
    (11, "moderation", include_str!("../../../migrations/sqlite/0011_moderation.sql")),
];
const MYSQL: Embedded = &[
    (1, "initial", include_str!("../../../migrations/mysql/0001_initial.sql")),
    (2, "course_context", include_str!("../../../migrations/mysql/0002_course_context.sql")),
    (3, "refresh_families", include_str!("../../../migrations/mysql/0003_refresh_families.sql")),
    (4, "course_index", include_str!("../../../migrations/mysql/0004_course_index.sql")),
    (5, "disclosure_and_versions", include_str!("../../../migrations/mysql/0005_disclosure_and_versions.sql")),
    (6, "backend_reference", include_str!("../../../migrations/mysql/0006_backend_reference.sql")),
    (7, "chat_controls", include_str!("../../../migrations/mysql/0007_chat_controls.sql")),
    (8, "retention", include_str!("../../../migrations/mysql/0008_retention.sql")),
    (9, "course_knowledge", include_str!("../../../migrations/mysql/0009_course_knowledge.sql")),
    (10, "passage_vectors", include_str!("../../../migrations/mysql/0010_passage_vectors.sql")),
    (11, "moderation", include_str!("../../../migrations/mysql/0011_moderation.sql")),
];
const POSTGRES: Embedded = &[
    (1, "initial", include_str!("../../../migrations/postgres/0001_initial.sql")),
    (2, "course_context", include_str!("../../../migrations/postgres/0002_course_context.sql")),
    (3, "refresh_families", include_str!("../../../migrations/postgres/0003_refresh_families.sql")),
    (4, "course_index", include_str!("../../../migrations/postgres/0004_course_index.sql")),
    (5, "disclosure_and_versions", include_str!("../../../migrations/postgres/0005_disclosure_and_versions.sql")),
    (6, "backend_reference", include_str!("../../../migrations/postgres/0006_backend_reference.sql")),
    (7, "chat_controls", include_str!("../../../migrations/postgres/0007_chat_controls.sql")),
    (8, "retention", include_str!("../../../migrations/postgres/0008_retention.sql")),
    (9, "course_knowledge", include_str!("../../../migrations/postgres/0009_course_knowledge.sql")),
    (10, "passage_vectors", include_str!("../../../migrations/postgres/0010_passage_vectors.sql")),
    (11, "moderation", include_str!("../../../migrations/postgres/0011_moderation.sql")),
];

pub(crate) fn embedded(kind: DbKind) -> Embedded {
    match kind {
        DbKind::Sqlite => SQLITE,
        DbKind::MySql => MYSQL,
        DbKind::Postgres => POSTGRES,
    }
}

pub(crate) fn migrator(kind: DbKind) -> Migrator {
    let migrations = embedded(kind)
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                sqlx::SqlStr::from_static(sql),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        for (kind, folder) in [(DbKind::Sqlite, "sqlite"), (DbKind::MySql, "mysql"), (DbKind::Postgres, "postgres")] {
            let mut files: Vec<String> = std::fs::read_dir(root.join(folder))
                .expect("migrations folder")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".sql"))
                .collect();
            files.sort();
            let listed: Vec<String> = embedded(kind).iter().map(|(v, d, _)| format!("{v:04}_{d}.sql")).collect();
            assert_eq!(files, listed, "{folder}: files on disk and embedded migrations differ");
        }
    }

    #[test]
    fn dialects_define_the_same_tables() {
        let tables = |kind| {
            let mut names: Vec<String> = embedded(kind)
                .iter()
                .flat_map(|(_, _, sql)| sql.lines())
                .filter_map(|l| l.strip_prefix("CREATE TABLE "))
                .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(tables(DbKind::Sqlite), tables(DbKind::MySql));
        assert_eq!(tables(DbKind::Sqlite), tables(DbKind::Postgres));
    }
}
