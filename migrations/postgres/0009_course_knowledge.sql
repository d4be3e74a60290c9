-- Course knowledge: each course's index carries a revision, bumped by every change to its blocks, so
-- each replica knows when the ranked index it holds in memory is stale; an assistant reply keeps the
-- course passages it cited (JSON array of {n, title, breadcrumb, url, snippet}).
-- Keep in step with ../sqlite and ../mysql.
ALTER TABLE course_index ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN sources TEXT;
