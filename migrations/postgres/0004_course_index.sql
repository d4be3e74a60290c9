-- The course index: what each course's blocks say, pushed by the LMS/Studio service client when the
-- course is published (docs/indexing-and-retirement.md). Every replica reads the same rows; a ranked
-- full-text index (BM25) is built from them, per course, from plain text and titles.
-- Keep in step with ../sqlite and ../mysql.
CREATE TABLE course_index (
    course_id TEXT PRIMARY KEY NOT NULL,
    course_title TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);

-- One row per block: its place (breadcrumb: JSON array of titles; ordinal: position in the course
-- outline), who may see it (start_date: ISO 8601 as the LMS gave it, or NULL; staff_only;
-- group_access: JSON object of partition id to group ids), its plain text, and the client's hash of
-- it all (unchanged blocks are skipped).
CREATE TABLE course_blocks (
    course_id TEXT NOT NULL,
    usage_id TEXT NOT NULL,
    block_type TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    breadcrumb TEXT NOT NULL DEFAULT '[]',
    text_content TEXT NOT NULL DEFAULT '',
    start_date TEXT,
    staff_only BIGINT NOT NULL DEFAULT 0,
    group_access TEXT NOT NULL DEFAULT '{}',
    url TEXT NOT NULL,
    ordinal BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (course_id, usage_id)
);
