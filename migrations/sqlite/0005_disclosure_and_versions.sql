-- The AI disclosure a learner accepted, and regenerated replies kept beside the versions they replace.
-- Keep in step with ../mysql and ../postgres.

-- Who accepted which version of the AI disclosure, when, and where it was shown.
CREATE TABLE disclosure_acceptances (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    platform TEXT NOT NULL,
    course_id TEXT NOT NULL,
    block_id TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, version)
);

-- A regenerated reply names the reply it is a new version of; both are kept.
ALTER TABLE messages ADD COLUMN replaces TEXT;
