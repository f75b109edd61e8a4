-- VDR pages: one row per page of a visually indexed document, with where its
-- rendered image lives and the text shown as its snippet.
CREATE TABLE IF NOT EXISTS vdr_pages (
    page_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id  text NOT NULL REFERENCES hybrid_documents (document_id) ON DELETE CASCADE,
    owner        text NOT NULL,
    page_num     integer NOT NULL CHECK (page_num >= 1),
    image_key    text,
    content      text NOT NULL,
    text_source  text NOT NULL CHECK (text_source IN ('text_layer', 'ocr', 'none')),
    model        text NOT NULL,
    vector_count integer NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (document_id, page_num)
);
CREATE INDEX IF NOT EXISTS vdr_pages_owner_idx ON vdr_pages (owner);

-- Multi-vector page embeddings (late interaction). Like hybrid_dense_embeddings,
-- the dimension is configuration: the application creates a partial HNSW index
-- on (embedding::vector(N)) WHERE dims = N for the configured page model.
CREATE TABLE IF NOT EXISTS vdr_page_vectors (
    vector_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_id     bigint NOT NULL REFERENCES vdr_pages (page_id) ON DELETE CASCADE,
    document_id text NOT NULL REFERENCES hybrid_documents (document_id) ON DELETE CASCADE,
    owner       text NOT NULL,
    model       text NOT NULL,
    dims        integer NOT NULL,
    embedding   vector NOT NULL,
    CONSTRAINT vdr_page_vectors_dims_check CHECK (vector_dims(embedding) = dims)
);
CREATE INDEX IF NOT EXISTS vdr_page_vectors_page_idx ON vdr_page_vectors (page_id);
CREATE INDEX IF NOT EXISTS vdr_page_vectors_document_idx ON vdr_page_vectors (document_id);
CREATE INDEX IF NOT EXISTS vdr_page_vectors_owner_idx ON vdr_page_vectors (owner);
