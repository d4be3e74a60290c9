-- Course context is proven (an LMS-signed chat ticket or an LTI launch), and roles are per course.
-- Keep in step with ../sqlite and ../mysql.

-- A user's role in one course of one platform (learner, staff, instructor), from the latest ticket
-- or launch that proved it.
CREATE TABLE course_memberships (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    course_id TEXT NOT NULL,
    role TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, platform, course_id)
);
CREATE INDEX course_memberships_course ON course_memberships (platform, course_id, role);

-- What the course team set for one chat (block or LTI resource link): its title and the assistant's
-- instructions, as the platform signed them.
CREATE TABLE chat_contexts (
    context_key TEXT PRIMARY KEY NOT NULL,
    platform TEXT NOT NULL,
    course_id TEXT NOT NULL,
    block_id TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    instructions TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);

-- Single-use proofs (chat tickets exchanged for a sign-in) remembered until they expire.
CREATE TABLE spent_tokens (
    issuer TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX spent_tokens_expiry ON spent_tokens (expires_at);

-- The sender's role in the course when the message was sent, so room history shows staff badges.
ALTER TABLE messages ADD COLUMN sender_role TEXT NOT NULL DEFAULT '';

-- The global role is for gateway operators only. A grant made with `ibal-gateway users` is kept
-- apart from what a sign-in door reports, so the next sign-in does not undo it.
ALTER TABLE users ADD COLUMN role_granted TEXT;
-- Course-blind roles of earlier versions (an LTI instructor anywhere was staff everywhere) are void:
-- Open edX global staff are operators again at their next sign-in.
UPDATE users SET role = 'learner';
