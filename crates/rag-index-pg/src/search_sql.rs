//! The search statements, built once per embedding dimension.
//!
//! Access control is one rule written two ways, for two access paths: the
//! caller's own documents and documents granted to them, narrowed (never
//! widened) by `document_ids` and the pipeline. [`scope_cte`] lists those
//! documents, for reads keyed by owner and document (postings, the vectors
//! of a small scope, statistics); [`visible`] is the same rule as a row
//! filter, for the HNSW scans that cannot be keyed. Parameters: `$1`
//! caller, `$2` document ids (or NULL), `$3` pipeline (or NULL); then the
//! dense and sparse parameters in that order.

/// The statements for one dimension.
#[derive(Debug, Clone)]
pub(crate) struct SearchSql {
    /// The scope's nearest chunks, with their rows and cosine similarity.
    pub dense: String,
    /// The scope's postings of the query terms, with the scope's N and
    /// average length on every row (scored in [`crate::bm25`]).
    pub postings: String,
    /// Rows of chunks already known to be in the scope, by id, with their
    /// cosine similarity to an optional vector.
    pub fetch: String,
}

/// When the dense search compares every vector of the scope instead of
/// reading HNSW. A filtered HNSW search visits about `ef_search / f`
/// vectors to collect its list when a share `f = S / T` of the table's `T`
/// vectors is visible, so its cost grows as the scope shrinks; an exact
/// scan costs `S`. They cross where `S = sqrt(ef_search * T)`: with
/// `ef_search` 200 (`PgConfig`, read from the session), 14,000 chunks in a table of a million,
/// 141,000 in one of a hundred million. Measured at a million (`ragctl
/// bench`, module docs of this crate): 10,000 vectors exactly in about
/// 11 ms, against 9 ms through HNSW at that scope; a scope of 1,000
/// through HNSW would visit 200,000 vectors, past `hnsw.max_scan_tuples`,
/// and come back short. Below [`EXACT_DENSE_MIN_CHUNKS`] the scan is always
/// exact (a table not yet analyzed reports no size).
fn exact_dense_when() -> String {
    format!(
        "(SELECT n FROM stats) <= GREATEST({EXACT_DENSE_MIN_CHUNKS}, sqrt(
            COALESCE(current_setting('hnsw.ef_search', true), '40')::float8
            * GREATEST((SELECT reltuples FROM pg_class WHERE oid = 'hybrid_dense_embeddings'::regclass), 0)))"
    )
}

/// Scopes this small are always searched exactly.
const EXACT_DENSE_MIN_CHUNKS: u32 = 2_000;

/// Page scopes of at most this many pages are MaxSim-scored exactly, every
/// page a candidate; larger ones take their candidates from HNSW.
const EXACT_PAGES_MAX: u32 = 500;

// Reads keyed by a scope document are written `scope CROSS JOIN LATERAL
// (... WHERE key = s.document_id OFFSET 0)`: the fence keeps them one
// index probe per document whatever the planner guesses the scope's size
// to be. Written as plain joins, a database whose scope is most of a
// table (the benchmark's department in a database of 100,000 chunks) got
// a merge join on `owner` alone that compared 6 million rows, 290 ms
// instead of 4.
/// The documents the caller may search (`$1` caller, `$2` document ids or
/// NULL, `pipeline` an SQL expression for the pipeline or NULL), with their
/// owners: own documents, then documents granted by others. Every search
/// reads its rows through this set, so its cost follows the caller's
/// scope and not the size of the database.
pub(crate) fn scope_cte(pipeline: &str) -> String {
    let narrow = format!(
        "($2::text[] IS NULL OR d.document_id = ANY($2::text[])) AND ({pipeline} IS NULL OR d.pipeline = {pipeline})"
    );
    format!(
        "scope AS MATERIALIZED (
            SELECT d.document_id, d.owner FROM hybrid_documents d WHERE d.owner = $1 AND {narrow}
            UNION ALL
            SELECT d.document_id, d.owner FROM hybrid_document_grants g
            JOIN hybrid_documents d ON d.document_id = g.document_id
            WHERE g.grantee = $1 AND d.owner <> $1 AND {narrow})"
    )
}

/// Chunk count and average length of the scope, summed from per-document
/// statistics kept at write time.
const STATS_CTE: &str = "stats AS MATERIALIZED (
    SELECT COALESCE(SUM(m.chunk_count), 0)::float8 AS n,
           COALESCE(SUM(m.total_terms)::float8 / NULLIF(SUM(m.chunk_count), 0), 1) AS avgdl
    FROM scope s CROSS JOIN LATERAL (
        SELECT m.chunk_count, m.total_terms FROM document_bm25_metadata m
        WHERE m.document_id = s.document_id OFFSET 0) m)";

/// Rows of table alias `t` the caller may search, as a filter on an index
/// scan: the grant list is read once into a hash (a subquery under `OR`
/// stays a hashed subplan) instead of being probed or searched per row.
fn visible(t: &str) -> String {
    format!(
        "{} AND ($3::text IS NULL OR {t}.pipeline = $3::text)",
        visible_documents(t)
    )
}

/// Rows of table alias `t` belonging to documents the caller may search
/// (`$1` caller, `$2` document ids or NULL), whatever their pipeline.
fn visible_documents(t: &str) -> String {
    format!(
        "({t}.owner = $1 OR {t}.document_id IN (SELECT g.document_id FROM hybrid_document_grants g WHERE g.grantee = $1)) \
         AND ($2::text[] IS NULL OR {t}.document_id = ANY($2::text[]))"
    )
}

/// MaxSim page search for page vectors of dimension `dims`, in one round
/// trip. Candidates: every page of a small scope, or else the nearest `$5`
/// vectors of each query vector through the partial HNSW index. Each
/// candidate is then scored exactly, as the sum over query vectors of its
/// best cosine. Parameters: `$1` caller, `$2` document ids (or NULL), `$3`
/// query vectors, `$4` model, `$5` candidates per query vector, `$6` limit.
pub(crate) fn page_search(dims: usize) -> String {
    format!(
        "WITH q AS (SELECT ord, v::vector({dims}) AS v FROM unnest($3::vector[]) WITH ORDINALITY AS t(v, ord)),
        {scope},
        scope_pages AS MATERIALIZED (
            SELECT p.page_id FROM scope s CROSS JOIN LATERAL (
                SELECT p.page_id FROM vdr_pages p WHERE p.document_id = s.document_id OFFSET 0) p),
        cand AS (
            SELECT page_id FROM scope_pages
            WHERE (SELECT count(*) FROM scope_pages) <= {EXACT_PAGES_MAX}
            UNION
            SELECT n.page_id FROM q CROSS JOIN LATERAL (
                SELECT pv.page_id FROM vdr_page_vectors pv
                WHERE pv.dims = {dims} AND pv.model = $4 AND {vis}
                ORDER BY pv.embedding::vector({dims}) <=> q.v
                LIMIT $5) n
            WHERE (SELECT count(*) FROM scope_pages) > {EXACT_PAGES_MAX}),
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
        scope = scope_cte("'vdr'::text"),
        vis = visible_documents("pv")
    )
}

/// How many rows a filtered HNSW scan returns at least, before they are
/// re-sorted by their exact distance and cut to the limit. With
/// `hnsw.iterative_scan = relaxed_order` (`PgConfig`) the scan yields
/// rows slightly out of order, so its first ten are not the ten best it
/// saw: at a million chunks and a scope of 100,000, taking the first ten
/// gave recall@10 0.90 against an exact scan, taking 200 gave 0.99 but
/// doubled the scan's time (`ragctl bench`).
const HNSW_OVERFETCH: u32 = 40;

/// Nearest chunks by cosine distance. Parameters `$v` vector, `$v+1` model,
/// `$v+2` limit. Two branches, of which a one-time filter on the scope's
/// size runs exactly one: a small scope compares all of its vectors (the
/// ordering by score keeps HNSW out of that plan), a large one reads the
/// partial HNSW index of dimension `dims` with the scope as a filter.
fn dense_cte(dims: usize, v: usize) -> String {
    let (m, l) = (v + 1, v + 2);
    let distance = format!("e.embedding::vector({dims}) <=> ${v}::vector({dims})");
    format!(
        "dense AS (
            (SELECT e.chunk_id, 1 - ({distance}) AS score
             FROM scope s CROSS JOIN LATERAL (
                SELECT e.chunk_id, e.embedding FROM hybrid_dense_embeddings e
                WHERE e.document_id = s.document_id AND e.dims = {dims} AND e.model = ${m} OFFSET 0) e
             WHERE {exact}
             ORDER BY score DESC, e.chunk_id LIMIT ${l})
            UNION ALL
            (SELECT chunk_id, score FROM (
                SELECT e.chunk_id, 1 - ({distance}) AS score
                FROM hybrid_dense_embeddings e
                WHERE NOT {exact} AND e.dims = {dims} AND e.model = ${m} AND {vis}
                ORDER BY {distance} LIMIT GREATEST(${l}, {HNSW_OVERFETCH})) n
             ORDER BY score DESC, chunk_id LIMIT ${l}))",
        vis = visible("e"),
        exact = exact_dense_when(),
    )
}

/// The scope's postings of the query terms. Postings are keyed owner
/// first, so the caller's own postings of a term are one index range, and
/// a granted document's are one more (its owner, the term, the document):
/// nothing of anybody else is read. Parameter `$t`: the terms.
fn postings_sql(t: usize) -> String {
    format!(
        "SELECT h.term, h.chunk_id, h.document_id, h.tf, h.chunk_len, s.n, s.avgdl FROM (
            SELECT p.term, p.chunk_id, p.document_id, p.tf, p.chunk_len
            FROM hybrid_bm25_index p
            WHERE p.owner = $1 AND p.term = ANY(${t}::text[])
              AND ($2::text[] IS NULL OR p.document_id = ANY($2::text[]))
              AND ($3::text IS NULL OR p.pipeline = $3::text)
            UNION ALL
            SELECT p.term, p.chunk_id, p.document_id, p.tf, p.chunk_len
            FROM scope s CROSS JOIN LATERAL (
                SELECT p.term, p.chunk_id, p.document_id, p.tf, p.chunk_len FROM hybrid_bm25_index p
                WHERE p.owner = s.owner AND p.term = ANY(${t}::text[]) AND p.document_id = s.document_id
                OFFSET 0) p
            WHERE s.owner <> $1) h CROSS JOIN stats s"
    )
}

/// Joins scored candidates (`chunk_id`, `dense_score`, `sparse_score`, either
/// may be NULL) to their chunks.
const SELECT_SCORED: &str = "
    SELECT r.dense_score, r.sparse_score, c.chunk_id, c.document_id, c.content, c.page_num, c.pipeline, c.metadata, d.file_name
    FROM scored r
    JOIN hybrid_chunks c ON c.chunk_id = r.chunk_id
    JOIN hybrid_documents d ON d.document_id = c.document_id";

impl SearchSql {
    pub(crate) fn new(dims: usize) -> Self {
        let scope = format!("{}, {STATS_CTE}", scope_cte("$3::text"));
        let dense = format!(
            "WITH {scope}, {}, scored AS (SELECT chunk_id, score AS dense_score, NULL::float8 AS sparse_score FROM dense) {SELECT_SCORED}",
            dense_cte(dims, 4)
        );
        let postings = format!("WITH {scope} {}", postings_sql(4));
        // Ids come from this index's own answers for the same scope.
        let fetch = format!(
            "WITH scored AS (
                SELECT c.chunk_id, 1 - (e.embedding::vector({dims}) <=> $2::vector({dims})) AS dense_score,
                       NULL::float8 AS sparse_score
                FROM unnest($1::bigint[]) AS c(chunk_id)
                LEFT JOIN hybrid_dense_embeddings e
                  ON e.chunk_id = c.chunk_id AND e.dims = {dims} AND e.model = $3) {SELECT_SCORED}"
        );
        Self {
            dense,
            postings,
            fetch,
        }
    }
}
