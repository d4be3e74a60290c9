-- Retention (RETENTION_DAYS): old messages are found by age, and one replica at a time purges them.
-- Keep in step with ../sqlite and ../mysql.

-- A named job's lease: the replica holding an unexpired lease runs it; the others skip it.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX messages_created ON messages (created_at);
