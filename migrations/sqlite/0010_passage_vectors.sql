-- Embeddings of course passages (EMBEDDINGS_MODEL), kept by the model and the SHA-256 of the passage's
-- text: a passage is embedded once whatever course or replica asks, and an unchanged passage never again.
-- vector: little-endian 32-bit floats.
-- Keep in step with ../mysql and ../postgres.
CREATE TABLE passage_vectors (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (model, text_hash)
);
