//! The search statements, built once per embedding dimension.
//!
//! Access control is one predicate, [`visible`], applied to every table a
//! search reads (each row carries its owner): the caller's own rows, rows of
//! documents granted to them, narrowed (never widened) by `document_ids` and
//! the pipeline. Parameters: `$1` caller, `$2` document ids (or NULL), `$3`
//! pipeline (or NULL); then the dense and sparse parameters in that order.

/// The statements for one dimension.
#[derive(Debug, Clone)]
pub(crate) struct SearchSql {
    pub dense_only: String,
    pub sparse_only: String,
    pub hybrid: String,
}

/// Rows of table alias `t` the caller may search.
fn visible(t: &str) -> String {
    format!(
        "{} AND ($3::text IS NULL OR {t}.pipeline = $3::text)",
        visible_documents(t)
    )
}

/// Rows of table alias `t` belonging to documents the caller may search
/// (`$1` caller, `$2` document ids or NULL), whatever their pipeline.
pub(crate) fn visible_documents(t: &str) -> String {
    format!(
        "({t}.owner = $1 OR {t}.document_id = ANY(ARRAY(SELECT g.document_id FROM hybrid_document_grants g WHERE g.grantee = $1))) \
         AND ($2::text[] IS NULL OR {t}.document_id = ANY($2::text[]))"
    )
}

/// MaxSim page search for page vectors of dimension `dims`, in one round
/// trip: the nearest `$5` vectors of each query vector (through the partial
/// HNSW index) name the candidate pages; each candidate is then scored
/// exactly, as the sum over query vectors of its best cosine. Parameters:
/// `$1` caller, `$2` document ids (or NULL), `$3` query vectors, `$4`
/// model, `$5` candidates per query vector, `$6` limit.
pub(crate) fn page_search(dims: usize) -> String {
    format!(
        "WITH q AS (SELECT ord, v::vector({dims}) AS v FROM unnest($3::vector[]) WITH ORDINALITY AS t(v, ord)),
        cand AS (
            SELECT DISTINCT n.page_id FROM q CROSS JOIN LATERAL (
                SELECT pv.page_id FROM vdr_page_vectors pv
                WHERE pv.dims = {dims} AND pv.model = $4 AND {vis}
                ORDER BY pv.embedding::vector({dims}) <=> q.v
                LIMIT $5) n),
        best AS (
            SELECT pv.page_id, q.ord, MAX(1 - (pv.embedding::vector({dims}) <=> q.v)) AS sim
            FROM vdr_page_vectors pv JOIN cand USING (page_id) CROSS JOIN q
            WHERE pv.dims = {dims} AND pv.model = $4
            GROUP BY pv.page_id, q.ord),
        scored AS (
            SELECT page_id, ROUND(SUM(sim)::numeric, 9)::float8 AS score FROM best
            GROUP BY page_id ORDER BY score DESC, page_id LIMIT $6)
        SELECT s.score, p.page_id, p.document_id, p.page_num, p.image_key, p.content, p.text_source, p.metadata,
               d.file_name, d.bucket
        FROM scored s JOIN vdr_pages p USING (page_id) JOIN hybrid_documents d ON d.document_id = p.document_id
        ORDER BY s.score DESC, p.document_id, p.page_num",
        vis = visible_documents("pv")
    )
}

/// Nearest chunks by cosine distance through the partial HNSW index of
/// dimension `dims`. Parameters `$v` vector, `$v+1` model, `$v+2` limit.
fn dense_cte(dims: usize, v: usize) -> String {
    let (m, l) = (v + 1, v + 2);
    format!(
        "dense AS (
            SELECT e.chunk_id, 1 - (e.embedding::vector({dims}) <=> ${v}::vector({dims})) AS score
            FROM hybrid_dense_embeddings e
            WHERE e.dims = {dims} AND e.model = ${m} AND {vis}
            ORDER BY e.embedding::vector({dims}) <=> ${v}::vector({dims})
            LIMIT ${l})",
        vis = visible("e")
    )
}

/// Okapi BM25 over the visible chunks, with N, avgdl and df computed over
/// the same scope. Parameters `$t` terms, `$t+1` query term frequencies,
/// `$t+2` k1, `$t+3` b, `$t+4` limit. IDF is Lucene's
/// `ln(1 + (N - df + 0.5) / (df + 0.5))`, which is never negative.
fn sparse_ctes(t: usize) -> String {
    let (qtf, k1, b, l) = (t + 1, t + 2, t + 3, t + 4);
    // BM25 statistics rows are per document; their visibility is the document's.
    format!(
        "q AS (SELECT * FROM unnest(${t}::text[], ${qtf}::int[]) AS q(term, qtf)),
        hits AS MATERIALIZED (
            SELECT p.term, p.chunk_id, p.document_id, p.tf, p.chunk_len
            FROM hybrid_bm25_index p
            WHERE p.term = ANY(${t}::text[]) AND {vis_p}),
        stats AS MATERIALIZED (
            SELECT COALESCE(SUM(m.chunk_count), 0)::float8 AS n,
                   COALESCE(SUM(m.total_terms)::float8 / NULLIF(SUM(m.chunk_count), 0), 1) AS avgdl
            FROM document_bm25_metadata m JOIN hybrid_documents md ON md.document_id = m.document_id
            WHERE {vis_md}),
        df AS MATERIALIZED (SELECT term, COUNT(*)::float8 AS df FROM hits GROUP BY term),
        sparse_all AS MATERIALIZED (
            SELECT h.chunk_id, h.document_id,
                   -- Rounded so that equal scores are equal whatever order the
                   -- plan summed the terms in (ties are then broken by document).
                   ROUND(SUM(q.qtf * ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5))
                       * h.tf * (${k1} + 1) / (h.tf + ${k1} * (1 - ${b} + ${b} * h.chunk_len / s.avgdl)))::numeric, 9)::float8 AS score
            FROM hits h JOIN df USING (term) JOIN q USING (term) CROSS JOIN stats s
            GROUP BY h.chunk_id, h.document_id),
        -- Ties are broken by document, then position: the same for every
        -- load of the same corpus, whatever order rows were inserted in.
        sparse AS (SELECT chunk_id, score FROM sparse_all ORDER BY score DESC, document_id, chunk_id LIMIT ${l})",
        vis_p = visible("p"),
        vis_md = visible("md"),
    )
}

/// Joins scored candidates (`chunk_id`, `dense_score`, `sparse_score`, either
/// may be NULL) to their chunks.
const SELECT_SCORED: &str = "
    SELECT r.dense_score, r.sparse_score, c.chunk_id, c.document_id, c.content, c.page_num, c.pipeline, c.metadata, d.file_name
    FROM scored r
    JOIN hybrid_chunks c ON c.chunk_id = r.chunk_id
    JOIN hybrid_documents d ON d.document_id = c.document_id";

/// Hybrid candidates are the union of both top lists, and each gets *both*
/// exact scores: BM25 from the postings already gathered (absent = a true 0)
/// and cosine from its stored vector. Fusion then compares like with like,
/// instead of guessing a score for a chunk that only one list returned.
fn hybrid_scored(dims: usize) -> String {
    format!(
        "cand AS (SELECT chunk_id FROM dense UNION SELECT chunk_id FROM sparse),
        scored AS (
            SELECT c.chunk_id,
                   1 - (e.embedding::vector({dims}) <=> $4::vector({dims})) AS dense_score,
                   COALESCE(sa.score, 0) AS sparse_score
            FROM cand c
            LEFT JOIN hybrid_dense_embeddings e ON e.chunk_id = c.chunk_id AND e.dims = {dims} AND e.model = $5
            LEFT JOIN sparse_all sa ON sa.chunk_id = c.chunk_id)"
    )
}

impl SearchSql {
    pub(crate) fn new(dims: usize) -> Self {
        let dense_only = format!(
            "WITH {}, scored AS (SELECT chunk_id, score AS dense_score, NULL::float8 AS sparse_score FROM dense) {SELECT_SCORED}",
            dense_cte(dims, 4)
        );
        let sparse_only = format!(
            "WITH {}, scored AS (SELECT chunk_id, NULL::float8 AS dense_score, score AS sparse_score FROM sparse) {SELECT_SCORED}",
            sparse_ctes(4)
        );
        let hybrid = format!(
            "WITH {}, {}, {} {SELECT_SCORED}",
            dense_cte(dims, 4),
            sparse_ctes(7),
            hybrid_scored(dims)
        );
        Self {
            dense_only,
            sparse_only,
            hybrid,
        }
    }
}
