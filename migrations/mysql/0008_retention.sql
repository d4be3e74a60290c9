-- Retention (RETENTION_DAYS): old messages are found by age, and one replica at a time purges them.
-- Keep in step with ../sqlite and ../postgres.

-- A named job's lease: the replica holding an unexpired lease runs it; the others skip it.
CREATE TABLE leases (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    holder VARCHAR(64) NOT NULL,
    expires_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE INDEX messages_created ON messages (created_at);
