-- Postings keyed owner first: a search reads the caller's own postings of a
-- term as one index range, and a granted document's as one more (owner, term,
-- document), instead of every owner's postings of the term filtered
-- afterwards. The pipeline is carried in the key so that a pipeline filter
-- stays an index-only scan. The table and its columns are unchanged; the old
-- key (term, chunk_id) determined the same rows, so the new one is unique too.
SET LOCAL maintenance_work_mem = '1GB';
ALTER TABLE hybrid_bm25_index DROP CONSTRAINT hybrid_bm25_index_pkey;
ALTER TABLE hybrid_bm25_index
    ADD CONSTRAINT hybrid_bm25_index_pkey PRIMARY KEY (owner, term, document_id, chunk_id)
    INCLUDE (tf, chunk_len, pipeline);
