-- The AI disclosure a learner accepted, and regenerated replies kept beside the versions they replace.
-- Keep in step with ../sqlite and ../postgres.

-- Who accepted which version of the AI disclosure, when, and where it was shown.
CREATE TABLE disclosure_acceptances (
    user_id VARCHAR(36) NOT NULL,
    version VARCHAR(64) NOT NULL,
    platform VARCHAR(255) NOT NULL,
    course_id VARCHAR(255) NOT NULL,
    block_id VARCHAR(255) NOT NULL,
    accepted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, version),
    CONSTRAINT disclosure_acceptances_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A regenerated reply names the reply it is a new version of; both are kept.
ALTER TABLE messages ADD COLUMN replaces VARCHAR(36) NULL;
