-- A login (a chain of rotated refresh tokens) is one record, checked on every use: revoking it
-- kills every token of the chain, including a successor issued while a reuse was being detected.
-- Keep in step with ../mysql and ../postgres.
CREATE TABLE refresh_families (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    -- The sign-in: the session's absolute lifetime is measured from here, never extended.
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);

INSERT INTO refresh_families (id, user_id, client_id, created_at, expires_at, revoked_at)
SELECT family_id, MIN(user_id), MIN(client_id), MIN(created_at), MAX(expires_at), MAX(revoked_at)
FROM refresh_tokens GROUP BY family_id;
