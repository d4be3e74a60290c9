-- Room moderation and the time to the first token.
-- A message course staff hid keeps its text (for the audit); hidden_at says since when it is hidden.
-- An assistant reply records how long its first token took (first_token_ms) besides its total time.
-- A mute holds one user in one course's rooms until until_ms; a room has at most one pinned
-- announcement; every action of course staff is listed in moderation_actions (who, what, when; the
-- message or user it touched, never a copy of a text).
-- Keep in step with ../sqlite and ../postgres.
ALTER TABLE messages ADD COLUMN hidden_at BIGINT NULL;
ALTER TABLE messages ADD COLUMN first_token_ms BIGINT NULL;

CREATE TABLE room_mutes (
    platform VARCHAR(255) NOT NULL,
    course_id VARCHAR(255) NOT NULL,
    user_id VARCHAR(36) NOT NULL,
    until_ms BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (platform, course_id, user_id),
    CONSTRAINT room_mutes_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE room_pins (
    conversation_id VARCHAR(36) NOT NULL PRIMARY KEY,
    content TEXT NOT NULL,
    author_name VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT room_pins_conversation_fk FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE moderation_actions (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    platform VARCHAR(255) NOT NULL,
    course_id VARCHAR(255) NOT NULL,
    conversation_id VARCHAR(36) NULL,
    actor_id VARCHAR(36) NULL,
    actor_name VARCHAR(255) NOT NULL,
    action VARCHAR(16) NOT NULL,
    message_id VARCHAR(36) NULL,
    target_user_id VARCHAR(36) NULL,
    minutes BIGINT NULL,
    created_at BIGINT NOT NULL,
    INDEX moderation_actions_course (platform, course_id, created_at),
    CONSTRAINT moderation_actions_conversation_fk FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE SET NULL,
    CONSTRAINT moderation_actions_actor_fk FOREIGN KEY (actor_id) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT moderation_actions_message_fk FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE SET NULL,
    CONSTRAINT moderation_actions_target_fk FOREIGN KEY (target_user_id) REFERENCES users (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
