-- Embeddings of course passages (EMBEDDINGS_MODEL), kept by the model and the SHA-256 of the passage's
-- text: a passage is embedded once whatever course or replica asks, and an unchanged passage never again.
-- vector: little-endian 32-bit floats.
-- Keep in step with ../sqlite and ../mysql.
CREATE TABLE passage_vectors (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (model, text_hash)
);
