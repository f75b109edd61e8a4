-- amplify-rag-async hybrid index. Creates new tables only; never alters a
-- table it did not create, so it runs safely inside an existing Amplify database.

CREATE EXTENSION IF NOT EXISTS vector;

-- One row per indexed document. document_id is the statusId (bucket#key).
CREATE TABLE IF NOT EXISTS hybrid_documents (
    document_id     text PRIMARY KEY,
    owner           text NOT NULL,
    bucket          text NOT NULL,
    object_key      text NOT NULL,
    file_name       text NOT NULL,
    content_type    text,
    pipeline        text NOT NULL CHECK (pipeline IN ('text_rag', 'vdr')),
    embedding_model text NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS hybrid_documents_owner_idx ON hybrid_documents (owner);

-- Documents shared with other users: visible to the grantee, owned by the owner.
CREATE TABLE IF NOT EXISTS hybrid_document_grants (
    grantee     text NOT NULL,
    document_id text NOT NULL REFERENCES hybrid_documents (document_id) ON DELETE CASCADE,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (grantee, document_id)
);
CREATE INDEX IF NOT EXISTS hybrid_document_grants_document_idx ON hybrid_document_grants (document_id);

-- Chunks of text, in document order, with the page they came from.
CREATE TABLE IF NOT EXISTS hybrid_chunks (
    chunk_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id text NOT NULL REFERENCES hybrid_documents (document_id) ON DELETE CASCADE,
    owner       text NOT NULL,
    chunk_index integer NOT NULL,
    page_num    integer,
    pipeline    text NOT NULL,
    content     text NOT NULL,
    term_count  integer NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (document_id, chunk_index)
);

-- Dense vectors. The column has no fixed dimension so that the model is
-- configuration: each dimension in use gets its own partial HNSW index on
-- (embedding::vector(N)) WHERE dims = N, created by the application
-- (`ragctl db migrate`) for the configured model.
CREATE TABLE IF NOT EXISTS hybrid_dense_embeddings (
    chunk_id    bigint PRIMARY KEY,
    document_id text NOT NULL REFERENCES hybrid_documents (document_id) ON DELETE CASCADE,
    owner       text NOT NULL,
    pipeline    text NOT NULL,
    model       text NOT NULL,
    dims        integer NOT NULL,
    embedding   vector NOT NULL,
    CONSTRAINT hybrid_dense_embeddings_dims_check CHECK (vector_dims(embedding) = dims)
);
CREATE INDEX IF NOT EXISTS hybrid_dense_embeddings_document_idx ON hybrid_dense_embeddings (document_id);

-- BM25 postings: one row per (term, chunk), with the chunk's length so that
-- scoring needs no join. Covering primary key for index-only term lookups.
CREATE TABLE IF NOT EXISTS hybrid_bm25_index (
    term        text NOT NULL,
    chunk_id    bigint NOT NULL,
    document_id text NOT NULL REFERENCES hybrid_documents (document_id) ON DELETE CASCADE,
    owner       text NOT NULL,
    pipeline    text NOT NULL,
    tf          integer NOT NULL,
    chunk_len   integer NOT NULL,
    PRIMARY KEY (term, chunk_id) INCLUDE (document_id, tf, chunk_len)
);
CREATE INDEX IF NOT EXISTS hybrid_bm25_index_document_idx ON hybrid_bm25_index (document_id);

-- Per-document BM25 statistics: corpus statistics (N, average length) for any
-- searched scope are sums over the documents in it.
CREATE TABLE IF NOT EXISTS document_bm25_metadata (
    document_id text PRIMARY KEY REFERENCES hybrid_documents (document_id) ON DELETE CASCADE,
    owner       text NOT NULL,
    chunk_count integer NOT NULL,
    total_terms bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
