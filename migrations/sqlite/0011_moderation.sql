-- Room moderation and the time to the first token.
-- A message course staff hid keeps its text (for the audit); hidden_at says since when it is hidden.
-- An assistant reply records how long its first token took (first_token_ms) besides its total time.
-- A mute holds one user in one course's rooms until until_ms; a room has at most one pinned
-- announcement; every action of course staff is listed in moderation_actions (who, what, when; the
-- message or user it touched, never a copy of a text).
-- Keep in step with ../mysql and ../postgres.
ALTER TABLE messages ADD COLUMN hidden_at INTEGER;
ALTER TABLE messages ADD COLUMN first_token_ms INTEGER;

CREATE TABLE room_mutes (
    platform TEXT NOT NULL,
    course_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    until_ms INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (platform, course_id, user_id)
);

CREATE TABLE room_pins (
    conversation_id TEXT PRIMARY KEY NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    content TEXT NOT NULL,
    author_name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE moderation_actions (
    id TEXT PRIMARY KEY NOT NULL,
    platform TEXT NOT NULL,
    course_id TEXT NOT NULL,
    conversation_id TEXT REFERENCES conversations (id) ON DELETE SET NULL,
    actor_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    message_id TEXT REFERENCES messages (id) ON DELETE SET NULL,
    target_user_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    minutes INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX moderation_actions_course ON moderation_actions (platform, course_id, created_at);
