-- IBAL schema, MySQL / MariaDB dialect. Times are Unix milliseconds; ids are UUIDv7 text (time-ordered).
-- utf8mb4_bin: keys such as subjects, nonces and client ids are compared exactly, as in the other dialects.
-- Keep in step with ../sqlite and ../postgres: the repository tests run against all three.

CREATE TABLE users (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    username VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL DEFAULT '',
    email VARCHAR(255) NOT NULL DEFAULT '',
    role VARCHAR(32) NOT NULL DEFAULT 'learner',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_seen_at BIGINT NULL,
    INDEX users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE identities (
    issuer VARCHAR(255) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    user_id VARCHAR(36) NOT NULL,
    password_hash VARCHAR(255) NULL,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NULL,
    PRIMARY KEY (issuer, subject),
    INDEX identities_user (user_id),
    CONSTRAINT identities_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE conversations (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    owner VARCHAR(36) NOT NULL,
    user_id VARCHAR(36) NULL,
    context_key CHAR(64) NOT NULL,
    platform VARCHAR(255) NOT NULL DEFAULT '',
    course_id VARCHAR(255) NOT NULL DEFAULT '',
    block_id VARCHAR(255) NOT NULL DEFAULT '',
    title VARCHAR(255) NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY conversations_owner_context (owner, context_key),
    INDEX conversations_user (user_id, updated_at),
    CONSTRAINT conversations_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE messages (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    conversation_id VARCHAR(36) NOT NULL,
    sender_id VARCHAR(36) NULL,
    client_id VARCHAR(64) NULL,
    role VARCHAR(16) NOT NULL,
    sender_name VARCHAR(255) NOT NULL DEFAULT '',
    content MEDIUMTEXT NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'complete',
    reply_to VARCHAR(36) NULL,
    error_code VARCHAR(64) NULL,
    tokens BIGINT NULL,
    latency_ms BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY messages_client (conversation_id, sender_id, client_id),
    INDEX messages_history (conversation_id, created_at, id),
    CONSTRAINT messages_conversation_fk FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE CASCADE,
    CONSTRAINT messages_sender_fk FOREIGN KEY (sender_id) REFERENCES users (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE message_feedback (
    message_id VARCHAR(36) NOT NULL,
    user_id VARCHAR(36) NOT NULL,
    rating BIGINT NOT NULL,
    comment TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, user_id),
    CONSTRAINT feedback_message_fk FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE,
    CONSTRAINT feedback_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE signing_keys (
    kid VARCHAR(64) NOT NULL PRIMARY KEY,
    algorithm VARCHAR(16) NOT NULL,
    private_key TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT NULL,
    expires_at BIGINT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE refresh_tokens (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    token_hash CHAR(64) NOT NULL,
    family_id VARCHAR(36) NOT NULL,
    user_id VARCHAR(36) NOT NULL,
    client_id VARCHAR(255) NOT NULL,
    scope VARCHAR(1024) NOT NULL DEFAULT '',
    context TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT NULL,
    revoked_at BIGINT NULL,
    UNIQUE KEY refresh_tokens_hash (token_hash),
    INDEX refresh_tokens_family (family_id),
    CONSTRAINT refresh_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE oauth_clients (
    client_id VARCHAR(255) NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    secret_hash VARCHAR(255) NULL,
    redirect_uris TEXT NOT NULL,
    grant_types VARCHAR(1024) NOT NULL DEFAULT '',
    scopes VARCHAR(1024) NOT NULL DEFAULT '',
    first_party BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE lti_platforms (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    issuer VARCHAR(255) NOT NULL,
    client_id VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL DEFAULT '',
    auth_url VARCHAR(2048) NOT NULL,
    token_url VARCHAR(2048) NULL,
    jwks_url VARCHAR(2048) NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE KEY lti_platforms_issuer_client (issuer, client_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE lti_deployments (
    platform_id VARCHAR(36) NOT NULL,
    deployment_id VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (platform_id, deployment_id),
    CONSTRAINT lti_deployments_platform_fk FOREIGN KEY (platform_id) REFERENCES lti_platforms (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE lti_nonces (
    platform_id VARCHAR(36) NOT NULL,
    nonce VARCHAR(255) NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (platform_id, nonce),
    INDEX lti_nonces_expiry (expires_at),
    CONSTRAINT lti_nonces_platform_fk FOREIGN KEY (platform_id) REFERENCES lti_platforms (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE sessions (
    id VARCHAR(128) NOT NULL PRIMARY KEY,
    data MEDIUMTEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    INDEX sessions_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
