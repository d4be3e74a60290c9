-- Embeddings of course passages (EMBEDDINGS_MODEL), kept by the model and the SHA-256 of the passage's
-- text: a passage is embedded once whatever course or replica asks, and an unchanged passage never again.
-- vector: little-endian 32-bit floats.
-- Keep in step with ../sqlite and ../postgres.
CREATE TABLE passage_vectors (
    model VARCHAR(255) NOT NULL,
    text_hash CHAR(64) NOT NULL,
    vector LONGBLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (model, text_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
