-- Course context is proven (an LMS-signed chat ticket or an LTI launch), and roles are per course.
-- Keep in step with ../sqlite and ../postgres.

-- A user's role in one course of one platform (learner, staff, instructor), from the latest ticket
-- or launch that proved it.
CREATE TABLE course_memberships (
    user_id VARCHAR(36) NOT NULL,
    platform VARCHAR(255) NOT NULL,
    course_id VARCHAR(255) NOT NULL,
    role VARCHAR(16) NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, platform, course_id),
    INDEX course_memberships_course (platform, course_id, role),
    CONSTRAINT course_memberships_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- What the course team set for one chat (block or LTI resource link): its title and the assistant's
-- instructions, as the platform signed them.
CREATE TABLE chat_contexts (
    context_key CHAR(64) NOT NULL PRIMARY KEY,
    platform VARCHAR(255) NOT NULL,
    course_id VARCHAR(255) NOT NULL,
    block_id VARCHAR(255) NOT NULL,
    title VARCHAR(255) NOT NULL DEFAULT '',
    instructions TEXT NOT NULL,
    updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Single-use proofs (chat tickets exchanged for a sign-in) remembered until they expire.
CREATE TABLE spent_tokens (
    issuer VARCHAR(255) NOT NULL,
    jti VARCHAR(128) NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti),
    INDEX spent_tokens_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The sender's role in the course when the message was sent, so room history shows staff badges.
ALTER TABLE messages ADD COLUMN sender_role VARCHAR(16) NOT NULL DEFAULT '';

-- The global role is for gateway operators only. A grant made with `ibal-gateway users` is kept
-- apart from what a sign-in door reports, so the next sign-in does not undo it.
ALTER TABLE users ADD COLUMN role_granted VARCHAR(32) NULL;
-- Course-blind roles of earlier versions (an LTI instructor anywhere was staff everywhere) are void:
-- Open edX global staff are operators again at their next sign-in.
UPDATE users SET role = 'learner';
