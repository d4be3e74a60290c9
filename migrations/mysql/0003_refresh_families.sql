-- A login (a chain of rotated refresh tokens) is one record, checked on every use: revoking it
-- kills every token of the chain, including a successor issued while a reuse was being detected.
-- Keep in step with ../sqlite and ../postgres.
CREATE TABLE refresh_families (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    user_id VARCHAR(36) NOT NULL,
    client_id VARCHAR(255) NOT NULL,
    -- The sign-in: the session's absolute lifetime is measured from here, never extended.
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NULL,
    INDEX refresh_families_user (user_id),
    CONSTRAINT refresh_families_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO refresh_families (id, user_id, client_id, created_at, expires_at, revoked_at)
SELECT family_id, MIN(user_id), MIN(client_id), MIN(created_at), MAX(expires_at), MAX(revoked_at)
FROM refresh_tokens GROUP BY family_id;
