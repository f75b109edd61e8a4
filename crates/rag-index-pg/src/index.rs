//! [`PgIndex`]: documents, chunks, vectors and postings in PostgreSQL.

use async_trait::async_trait;
use pgvector::Vector;
use rag_core::domain::classify::Pipeline;
use rag_core::ports::{
    ChunkHit, ChunkRecord, DenseQuery, DocumentRecord, DocumentSummary, Index, IndexError,
    IndexQuery, IndexResults, Neighbours, OtherModelDocument, SearchScope, SparseQuery,
    StoredChunk,
};
use rag_core::search::bm25;
use rag_core::Caller;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use std::sync::Arc;

use crate::filter::Narrowed;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row, Transaction};

use crate::credentials::{Connections, PasswordSource};

use crate::search_sql::SearchSql;
use crate::SetupError;

/// Advisory lock key serialising the creation of HNSW indexes.
pub(crate) const INDEX_DDL_LOCK: i64 = 0x7261_675f_686e_7377; // "rag_hnsw"

/// The index for one embedding dimension.
#[derive(Clone)]
pub struct PgIndex {
    db: Connections,
    dims: usize,
    sql: std::sync::Arc<SearchSql>,
    /// Dimension of VDR page vectors (the page model may differ from the
    /// text model: ColPali's are 128).
    pub(crate) page_dims: usize,
    pub(crate) page_sql: std::sync::Arc<String>,
    /// Whether any document holds another model's vectors, as last seen
    /// (see [`OtherModels`]).
    other_models: std::sync::Arc<std::sync::Mutex<Option<OtherModels>>>,
}

/// The last answer to "does any text document hold vectors of a model
/// other than `model`?". Every dense search asks which documents of its
/// scope do; while the answer is no (the usual case: the model has not
/// changed), it is known without a statement for [`OTHER_MODELS_TTL`]. A
/// statement per search cost a tenant's dense search about 1 ms p50
/// of 9 at a million chunks (`ragctl bench`: 9.3 against 8.2).
struct OtherModels {
    model: String,
    any: bool,
    seen: std::time::Instant,
}

/// How long [`OtherModels`] is trusted: a document indexed by a container
/// still running the previous model, during a deployment, is named by
/// searches at most this much later.
const OTHER_MODELS_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl std::fmt::Debug for PgIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgIndex").field("dims", &self.dims).finish()
    }
}

pub(crate) fn backend(e: sqlx::Error) -> IndexError {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => IndexError::Unavailable(e.to_string()),
        other => IndexError::Backend(other.to_string()),
    }
}

fn chunk_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The pipeline a row names; a name this build does not know (a newer
/// writer, a hand edit) is an error, not silently text RAG.
fn parse_pipeline(name: &str) -> Result<Pipeline, sqlx::Error> {
    Pipeline::parse(name).ok_or_else(|| {
        sqlx::Error::Decode(format!("unknown pipeline '{name}' in the index").into())
    })
}

impl PgIndex {
    /// An index over `pool` that manages documents (lists, deletes,
    /// shares them) but stores and searches no vectors: for a function that
    /// loads no model (the api-processor). Any vector given to it is refused
    /// for its length.
    pub fn for_documents(pool: PgPool) -> Self {
        Self::new(pool, 0)
    }

    /// An index over `pool` for vectors of `dims` dimensions.
    pub fn new(pool: PgPool, dims: usize) -> Self {
        Self {
            db: Connections {
                pool,
                password: None,
            },
            dims,
            sql: std::sync::Arc::new(SearchSql::new(dims)),
            page_dims: dims,
            page_sql: std::sync::Arc::new(crate::search_sql::page_search(dims)),
            other_models: Default::default(),
        }
    }

    /// Whether any text document holds vectors of another model than
    /// `model`, from the last answer while it is fresh.
    async fn any_other_model(&self, model: &str) -> Result<bool, IndexError> {
        if let Ok(last) = self.other_models.lock() {
            if let Some(last) = last
                .as_ref()
                .filter(|l| l.model == model && l.seen.elapsed() < OTHER_MODELS_TTL)
            {
                return Ok(last.any);
            }
        }
        let any: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM hybrid_documents
             WHERE pipeline = 'text_rag' AND embedding_model <> $1)",
        )
        .bind(model)
        .fetch_one(&mut *self.connection().await?)
        .await
        .map_err(backend)?;
        if let Ok(mut last) = self.other_models.lock() {
            *last = Some(OtherModels {
                model: model.to_owned(),
                any,
                seen: std::time::Instant::now(),
            });
        }
        Ok(any)
    }

    /// The same index with VDR page vectors of `dims` dimensions (by
    /// default, the text dimension: the local page embedder uses the text
    /// model).
    pub fn with_page_dimensions(mut self, dims: usize) -> Self {
        self.page_dims = dims;
        self.page_sql = std::sync::Arc::new(crate::search_sql::page_search(dims));
        self
    }

    /// The same index re-reading its password from `source` whenever the
    /// server refuses a login (a rotated secret: see [`PasswordSource`]).
    pub fn with_password_source(mut self, source: Arc<dyn PasswordSource>) -> Self {
        self.db.password = Some(source);
        self
    }

    /// Text dimension (`dims`) and page dimension.
    pub fn dimensions(&self) -> (usize, usize) {
        (self.dims, self.page_dims)
    }

    /// The pool, for callers that share it.
    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    /// A connection, re-reading a rotated password if the login is refused.
    pub(crate) async fn connection(&self) -> Result<PoolConnection<Postgres>, IndexError> {
        self.db.acquire().await
    }

    /// A transaction, re-reading a rotated password if the login is refused.
    pub(crate) async fn transaction(&self) -> Result<Transaction<'static, Postgres>, IndexError> {
        self.db.begin().await
    }

    /// Applies the SQL migrations, then makes sure the HNSW index for this
    /// dimension exists. Idempotent and safe to run concurrently.
    pub async fn migrate(&self) -> Result<(), SetupError> {
        // Building an index over existing rows can outlast any statement
        // timeout meant for searches and writes.
        // The connection goes back to the pool with the timeout restored
        // (RESET returns to the connection's startup value), or is closed.
        let mut conn = self.db.pool.acquire().await?;
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await?;
        let migrated = self.migrate_on(&mut conn).await;
        match migrated {
            Ok(()) => {
                sqlx::query("RESET statement_timeout")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
            Err(e) => {
                let _ = conn.close().await;
                Err(e)
            }
        }
    }

    async fn migrate_on(&self, conn: &mut PoolConnection<Postgres>) -> Result<(), SetupError> {
        crate::schema::MIGRATOR.run(&mut **conn).await?;
        self.create_vector_indexes(conn, None).await?;
        Ok(())
    }

    /// Refreshes planner statistics (and the visibility map, for index-only
    /// postings scans) after a bulk load.
    pub async fn analyze(&self) -> Result<(), IndexError> {
        for table in crate::schema::TABLES {
            sqlx::query(AssertSqlSafe(format!("VACUUM (ANALYZE) {table}")))
                .execute(&mut *self.connection().await?)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// The scope's nearest chunks to `d`'s vector, with their rows.
    async fn dense_search(
        &self,
        query: &IndexQuery,
        d: &DenseQuery,
        vector: &[f32],
    ) -> Result<Vec<(ChunkHit, Option<f64>)>, IndexError> {
        let scope = &query.scope;
        // Statements are built from constants and the configured dimension only.
        let rows = sqlx::query(AssertSqlSafe(self.sql.dense.as_str()))
            .bind(&scope.caller.user)
            .bind(&scope.document_ids)
            .bind(scope.pipeline.map(Pipeline::as_str))
            .bind(Vector::from(vector.to_vec()))
            .bind(&d.model)
            .bind(d.limit as i64)
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(backend)?;
        Self::scored_hits(&rows)
    }

    /// Every chunk of the scope matching a query term, scored by BM25 over
    /// the scope, best first.
    async fn bm25_search(
        &self,
        query: &IndexQuery,
        s: &SparseQuery,
    ) -> Result<Vec<bm25::Scored>, IndexError> {
        let scope = &query.scope;
        let terms: Vec<&str> = s.terms.iter().map(|(t, _)| t.as_str()).collect();
        let rows = sqlx::query(AssertSqlSafe(self.sql.postings.as_str()))
            .bind(&scope.caller.user)
            .bind(&scope.document_ids)
            .bind(scope.pipeline.map(Pipeline::as_str))
            .bind(terms)
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(backend)?;
        let (mut n, mut avgdl) = (0.0, 1.0);
        let mut postings = Vec::with_capacity(rows.len());
        for row in &rows {
            n = row.try_get("n").map_err(backend)?;
            avgdl = row.try_get("avgdl").map_err(backend)?;
            postings.push(bm25::Posting {
                term: row.try_get("term").map_err(backend)?,
                chunk_id: row.try_get("chunk_id").map_err(backend)?,
                document_id: row.try_get("document_id").map_err(backend)?,
                tf: row.try_get("tf").map_err(backend)?,
                chunk_len: row.try_get("chunk_len").map_err(backend)?,
            });
        }
        Ok(bm25::score(&postings, &s.terms, n, avgdl, s.params))
    }

    /// Rows of chunks `ids` (of the searched scope), with their cosine
    /// similarity to the `(vector, model)` when there is one.
    async fn fetch(
        &self,
        ids: &[i64],
        dense: Option<(&[f32], &str)>,
    ) -> Result<Vec<(ChunkHit, Option<f64>)>, IndexError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(AssertSqlSafe(self.sql.fetch.as_str()))
            .bind(ids)
            .bind(dense.map(|(v, _)| Vector::from(v.to_vec())))
            .bind(dense.map(|(_, model)| model))
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(backend)?;
        Self::scored_hits(&rows)
    }

    fn scored_hits(rows: &[PgRow]) -> Result<Vec<(ChunkHit, Option<f64>)>, IndexError> {
        rows.iter()
            .map(|row| {
                let dense: Option<f64> = row.try_get("dense_score").map_err(backend)?;
                Ok((Self::hit(row).map_err(backend)?, dense))
            })
            .collect()
    }

    fn hit(row: &PgRow) -> Result<ChunkHit, sqlx::Error> {
        let mut metadata: Value = row.try_get::<Json<Value>, _>("metadata")?.0;
        if let Value::Object(m) = &mut metadata {
            m.entry("file_name").or_insert_with(|| {
                Value::String(row.try_get::<String, _>("file_name").unwrap_or_default())
            });
        }
        Ok(ChunkHit {
            chunk_id: row.try_get::<i64, _>("chunk_id")?.to_string(),
            document_id: row.try_get("document_id")?,
            content: row.try_get("content")?,
            page_num: row
                .try_get::<Option<i32>, _>("page_num")?
                .and_then(|p| u32::try_from(p).ok()),
            pipeline: parse_pipeline(row.try_get::<&str, _>("pipeline")?)?,
            metadata,
        })
    }
}

/// A document as listings show it; callers add the WHERE clause.
const DOCUMENT_SUMMARY: &str =
    "SELECT d.document_id, d.file_name, d.pipeline, d.metadata, COALESCE(m.chunk_count, 0) AS chunks
     FROM hybrid_documents d LEFT JOIN document_bm25_metadata m USING (document_id)";

fn document_summary(r: &PgRow) -> Result<DocumentSummary, IndexError> {
    let summary = || -> Result<DocumentSummary, sqlx::Error> {
        Ok(DocumentSummary {
            document_id: r.try_get("document_id")?,
            file_name: r.try_get("file_name")?,
            pipeline: parse_pipeline(r.try_get::<&str, _>("pipeline")?)?,
            chunks: r.try_get::<i32, _>("chunks")?.max(0) as u32,
            metadata: r.try_get::<Json<Value>, _>("metadata")?.0,
        })
    };
    summary().map_err(backend)
}

/// Claims or refreshes the document row inside `tx`; another owner's row
/// is left alone and the write refused.
pub(crate) async fn claim_document(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    doc: &DocumentRecord,
) -> Result<(), IndexError> {
    let pipeline = doc.pipeline.as_str();
    let claimed = sqlx::query(
            "INSERT INTO hybrid_documents (document_id, owner, bucket, object_key, file_name, content_type, pipeline, embedding_model, metadata)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (document_id) DO UPDATE SET
                bucket = EXCLUDED.bucket, object_key = EXCLUDED.object_key, file_name = EXCLUDED.file_name,
                content_type = EXCLUDED.content_type, pipeline = EXCLUDED.pipeline,
                embedding_model = EXCLUDED.embedding_model, metadata = EXCLUDED.metadata, updated_at = now()
             WHERE hybrid_documents.owner = EXCLUDED.owner
             RETURNING document_id",
        )
        .bind(&doc.document_id)
        .bind(&doc.owner)
        .bind(&doc.bucket)
        .bind(&doc.key)
        .bind(&doc.file_name)
        .bind(&doc.content_type)
        .bind(pipeline)
        .bind(&doc.embedding_model)
        .bind(Json(&doc.metadata))
        .fetch_optional(&mut **tx)
        .await
        .map_err(backend)?;
    if claimed.is_none() {
        return Err(IndexError::NotOwner {
            document_id: doc.document_id.clone(),
        });
    }

    Ok(())
}

/// Inserts `chunks` of `doc` (rows, dense vectors of `dims` dimensions, BM25
/// postings) inside `tx`.
/// Stores the vectors of chunks `chunk_ids` of a document (`document_id`,
/// `owner`, `pipeline`), of `model` with `dims` dimensions: the one
/// statement that writes dense vectors, for new documents and re-embedded ones.
async fn insert_vectors(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    (document_id, owner, pipeline): (&str, &str, &str),
    model: &str,
    dims: usize,
    chunk_ids: &[i64],
    vectors: &[Vector],
) -> Result<(), IndexError> {
    sqlx::query(
        "INSERT INTO hybrid_dense_embeddings (chunk_id, document_id, owner, pipeline, model, dims, embedding)
         SELECT id, $1, $2, $3, $4, $5, v FROM unnest($6::bigint[], $7::vector[]) AS t(id, v)",
    )
    .bind(document_id)
    .bind(owner)
    .bind(pipeline)
    .bind(model)
    .bind(dims as i32)
    .bind(chunk_ids)
    .bind(vectors)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(crate) async fn insert_chunks(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    doc: &DocumentRecord,
    dims: usize,
    chunks: &[ChunkRecord],
) -> Result<(), IndexError> {
    let pipeline = doc.pipeline.as_str();
    let indexes: Vec<i32> = chunks.iter().map(|c| c.chunk_index as i32).collect();
    let pages: Vec<Option<i32>> = chunks
        .iter()
        .map(|c| c.page_num.map(|p| p as i32))
        .collect();
    let contents: Vec<&str> = chunks.iter().map(|c| c.content.as_str()).collect();
    let lengths: Vec<i32> = chunks.iter().map(|c| c.term_count as i32).collect();
    let metadata: Vec<Json<&Value>> = chunks.iter().map(|c| Json(&c.metadata)).collect();
    let ids: Vec<(i64, i32)> = sqlx::query_as(
            "INSERT INTO hybrid_chunks (document_id, owner, chunk_index, page_num, pipeline, content, term_count, metadata)
             SELECT $1, $2, i, p, $3, c, n, m FROM unnest($4::int[], $5::int[], $6::text[], $7::int[], $8::jsonb[]) AS t(i, p, c, n, m)
             RETURNING chunk_id, chunk_index",
        )
        .bind(&doc.document_id)
        .bind(&doc.owner)
        .bind(pipeline)
        .bind(&indexes)
        .bind(&pages)
        .bind(&contents)
        .bind(&lengths)
        .bind(&metadata)
        .fetch_all(&mut **tx)
        .await
        .map_err(backend)?;
    let id_of: std::collections::HashMap<i32, i64> =
        ids.into_iter().map(|(id, i)| (i, id)).collect();
    let chunk_ids: Vec<i64> = chunks
        .iter()
        .filter_map(|c| id_of.get(&(c.chunk_index as i32)).copied())
        .collect();
    if chunk_ids.len() != chunks.len() {
        return Err(IndexError::Backend(
            "duplicate chunk_index in document".into(),
        ));
    }

    let vectors: Vec<Vector> = chunks
        .iter()
        .map(|c| Vector::from(c.embedding.clone()))
        .collect();
    let owner = (doc.document_id.as_str(), doc.owner.as_str(), pipeline);
    insert_vectors(tx, owner, &doc.embedding_model, dims, &chunk_ids, &vectors).await?;

    let postings = chunks.iter().map(|c| c.terms.len()).sum();
    let (mut terms, mut pchunks, mut tfs, mut lens) = (
        Vec::with_capacity(postings),
        Vec::with_capacity(postings),
        Vec::with_capacity(postings),
        Vec::with_capacity(postings),
    );
    for (c, id) in chunks.iter().zip(&chunk_ids) {
        for (term, tf) in &c.terms {
            terms.push(term.as_str());
            pchunks.push(*id);
            tfs.push(*tf as i32);
            lens.push(c.term_count as i32);
        }
    }
    sqlx::query(
            "INSERT INTO hybrid_bm25_index (term, chunk_id, document_id, owner, pipeline, tf, chunk_len)
             SELECT t, id, $1, $2, $3, f, l FROM unnest($4::text[], $5::bigint[], $6::int[], $7::int[]) AS x(t, id, f, l)",
        )
        .bind(&doc.document_id)
        .bind(&doc.owner)
        .bind(pipeline)
        .bind(&terms)
        .bind(&pchunks)
        .bind(&tfs)
        .bind(&lens)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;

    Ok(())
}

impl PgIndex {
    /// The scope with its filter resolved ([`crate::filter`]).
    pub(crate) async fn narrowed(&self, scope: &SearchScope) -> Result<Narrowed, IndexError> {
        if scope.filter.is_none() {
            return Ok(Narrowed::Unfiltered);
        }
        crate::filter::narrow(&mut *self.connection().await?, scope).await
    }

    /// The search over the scope as it is (any filter already resolved).
    async fn search_scope(&self, query: &IndexQuery) -> Result<IndexResults, IndexError> {
        // The dense list and the BM25 postings at once, on two connections:
        // the postings need no vector, so they are read while the query is
        // still being embedded. Then one fetch of the BM25 list's rows the
        // dense list did not bring.
        let dense = async {
            let Some(d) = &query.dense else {
                return Ok(None);
            };
            let vector = d.vector.get().await?;
            if vector.len() != self.dims {
                return Err(IndexError::Backend(format!(
                    "query vector has {} dimensions; the index holds {}",
                    vector.len(),
                    self.dims
                )));
            }
            let list = self.dense_search(query, d, &vector).await?;
            Ok(Some((list, vector, d.model.as_str())))
        };
        let sparse = async {
            match &query.sparse {
                Some(s) => self.bm25_search(query, s).await.map(|b| Some((b, s.limit))),
                None => Ok(None),
            }
        };
        let (dense, sparse) = futures::try_join!(dense, sparse)?;

        let mut out = IndexResults::default();
        match (dense, sparse) {
            (Some((dense, _, _)), None) => {
                out.dense = dense
                    .into_iter()
                    .filter_map(|(hit, cosine)| cosine.map(|c| (hit, c)))
                    .collect();
            }
            (dense, Some((scored, limit))) => {
                let id = |hit: &ChunkHit| hit.chunk_id.parse::<i64>().ok();
                let (dense, vector) = match dense {
                    Some((list, vector, model)) => (list, Some((vector, model))),
                    None => (Vec::new(), None),
                };
                let have: std::collections::HashSet<i64> =
                    dense.iter().filter_map(|(h, _)| id(h)).collect();
                let missing: Vec<i64> = scored
                    .iter()
                    .take(limit)
                    .map(|c| c.chunk_id)
                    .filter(|c| !have.contains(c))
                    .collect();
                let fetched = self
                    .fetch(&missing, vector.as_ref().map(|(v, m)| (v.as_slice(), *m)))
                    .await?;
                // Every chunk of the scope with a query term, by id: the
                // BM25 score of a candidate the dense list brought.
                let bm25: std::collections::HashMap<i64, f64> =
                    scored.iter().map(|c| (c.chunk_id, c.score)).collect();
                let bm25_of = |hit: &ChunkHit| id(hit).and_then(|i| bm25.get(&i).copied());
                // Hybrid candidates are the union of both top lists, and each
                // gets *both* exact scores: BM25 from the postings read
                // (absent = a true 0), cosine from its vector. Fusion then
                // compares like with like.
                for (hit, cosine) in dense.into_iter().chain(fetched) {
                    let sparse = bm25_of(&hit).unwrap_or(0.0);
                    if let (Some(c), Some(_)) = (cosine, &vector) {
                        out.dense.push((hit.clone(), c));
                    }
                    out.sparse.push((hit, sparse));
                }
            }
            (None, None) => return Ok(out),
        }
        // Best first; ties by document, then position, so results do not
        // depend on the order rows were inserted or summed in.
        for list in [&mut out.dense, &mut out.sparse] {
            list.sort_by(|a, b| {
                b.1.total_cmp(&a.1)
                    .then_with(|| a.0.document_id.cmp(&b.0.document_id))
                    .then_with(|| chunk_order(&a.0.chunk_id, &b.0.chunk_id))
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl Index for PgIndex {
    async fn replace_document(
        &self,
        doc: &DocumentRecord,
        chunks: &[ChunkRecord],
    ) -> Result<(), IndexError> {
        if let Some(bad) = chunks.iter().find(|c| c.embedding.len() != self.dims) {
            return Err(IndexError::Backend(format!(
                "chunk {} has a {}-dimensional vector; the index holds {}",
                bad.chunk_index,
                bad.embedding.len(),
                self.dims
            )));
        }
        let mut tx = self.transaction().await?;
        claim_document(&mut tx, doc).await?;
        for table in [
            "vdr_pages",
            "hybrid_bm25_index",
            "hybrid_dense_embeddings",
            "hybrid_chunks",
        ] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE document_id = $1"
            )))
            .bind(&doc.document_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }

        insert_chunks(&mut tx, doc, self.dims, chunks).await?;
        let total_terms: i64 = chunks.iter().map(|c| i64::from(c.term_count)).sum();
        sqlx::query(
            "INSERT INTO document_bm25_metadata (document_id, owner, chunk_count, total_terms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (document_id) DO UPDATE SET chunk_count = EXCLUDED.chunk_count, total_terms = EXCLUDED.total_terms, updated_at = now()",
        )
        .bind(&doc.document_id)
        .bind(&doc.owner)
        .bind(chunks.len() as i32)
        .bind(total_terms)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;

        tx.commit().await.map_err(backend)
    }

    async fn delete_document(
        &self,
        caller: &Caller,
        document_id: &str,
    ) -> Result<bool, IndexError> {
        let deleted =
            sqlx::query("DELETE FROM hybrid_documents WHERE document_id = $1 AND owner = $2")
                .bind(document_id)
                .bind(&caller.user)
                .execute(&mut *self.connection().await?)
                .await
                .map_err(backend)?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn search(&self, query: &IndexQuery) -> Result<IndexResults, IndexError> {
        match self.narrowed(&query.scope).await? {
            Narrowed::Unfiltered => self.search_scope(query).await,
            Narrowed::To(scope) => {
                let query = IndexQuery {
                    scope,
                    ..query.clone()
                };
                self.search_scope(&query).await
            }
            Narrowed::Nothing => Ok(IndexResults::default()),
        }
    }

    async fn documents(&self, caller: &Caller) -> Result<Vec<DocumentSummary>, IndexError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{DOCUMENT_SUMMARY} WHERE d.owner = $1 ORDER BY d.document_id"
        )))
        .bind(&caller.user)
        .fetch_all(&mut *self.connection().await?)
        .await
        .map_err(backend)?;
        rows.iter().map(document_summary).collect()
    }

    async fn document(
        &self,
        caller: &Caller,
        document_id: &str,
    ) -> Result<Option<DocumentSummary>, IndexError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "{DOCUMENT_SUMMARY} WHERE d.owner = $1 AND d.document_id = $2"
        )))
        .bind(&caller.user)
        .bind(document_id)
        .fetch_optional(&mut *self.connection().await?)
        .await
        .map_err(backend)?;
        row.as_ref().map(document_summary).transpose()
    }

    async fn chunks(
        &self,
        caller: &Caller,
        document_id: &str,
    ) -> Result<Option<Vec<StoredChunk>>, IndexError> {
        let mut conn = self.connection().await?;
        if !owns(&mut conn, caller, document_id).await? {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT chunk_index, content, page_num FROM hybrid_chunks
             WHERE document_id = $1 ORDER BY chunk_index",
        )
        .bind(document_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(StoredChunk {
                    chunk_index: u32::try_from(row.try_get::<i32, _>("chunk_index")?)
                        .unwrap_or_default(),
                    content: row.try_get("content")?,
                    page_num: row
                        .try_get::<Option<i32>, _>("page_num")?
                        .and_then(|p| u32::try_from(p).ok()),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map(Some)
            .map_err(backend)
    }

    async fn documents_not_of_model(
        &self,
        model: &str,
        scope: Option<&SearchScope>,
        limit: usize,
    ) -> Result<Vec<OtherModelDocument>, IndexError> {
        let columns =
            "d.document_id, d.owner, d.embedding_model, COALESCE(m.chunk_count, 0) AS chunks";
        let rows = match scope {
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {columns} FROM hybrid_documents d
                     LEFT JOIN document_bm25_metadata m ON m.document_id = d.document_id
                     WHERE d.pipeline = 'text_rag' AND d.embedding_model <> $1
                     ORDER BY d.document_id LIMIT $2"
                )))
                .bind(model)
                .bind(limit as i64)
                .fetch_all(&mut *self.connection().await?)
                .await
            }
            Some(_) if !self.any_other_model(model).await? => return Ok(Vec::new()),
            Some(scope) => {
                let narrowed;
                let scope = match self.narrowed(scope).await? {
                    Narrowed::Unfiltered => scope,
                    Narrowed::To(to) => {
                        narrowed = to;
                        &narrowed
                    }
                    Narrowed::Nothing => return Ok(Vec::new()),
                };
                sqlx::query(AssertSqlSafe(format!(
                    "WITH {} SELECT {columns} FROM scope s
                     JOIN hybrid_documents d ON d.document_id = s.document_id
                     LEFT JOIN document_bm25_metadata m ON m.document_id = d.document_id
                     WHERE d.pipeline = 'text_rag' AND d.embedding_model <> $3
                     ORDER BY d.document_id LIMIT $4",
                    crate::search_sql::scope_cte("NULL::text")
                )))
                .bind(&scope.caller.user)
                .bind(&scope.document_ids)
                .bind(model)
                .bind(limit as i64)
                .fetch_all(&mut *self.connection().await?)
                .await
            }
        }
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(OtherModelDocument {
                    document_id: r.try_get("document_id")?,
                    owner: r.try_get("owner")?,
                    embedding_model: r.try_get("embedding_model")?,
                    chunks: u32::try_from(r.try_get::<i32, _>("chunks")?).unwrap_or_default(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(backend)
    }

    async fn replace_vectors(
        &self,
        owner: &Caller,
        document_id: &str,
        model: &str,
        vectors: &[(u32, Vec<f32>)],
    ) -> Result<bool, IndexError> {
        if let Some((i, v)) = vectors.iter().find(|(_, v)| v.len() != self.dims) {
            return Err(IndexError::Backend(format!(
                "chunk {i} has a {}-dimensional vector; the index holds {}",
                v.len(),
                self.dims
            )));
        }
        let mut tx = self.transaction().await?;
        let owned = sqlx::query(
            "UPDATE hybrid_documents SET embedding_model = $3
             WHERE document_id = $1 AND owner = $2 RETURNING pipeline",
        )
        .bind(document_id)
        .bind(&owner.user)
        .bind(model)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(owned) = owned else {
            return Ok(false);
        };
        let pipeline: String = owned.try_get("pipeline").map_err(backend)?;
        sqlx::query("DELETE FROM hybrid_dense_embeddings WHERE document_id = $1")
            .bind(document_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let ids: std::collections::HashMap<i32, i64> = sqlx::query_as(
            "SELECT chunk_index, chunk_id FROM hybrid_chunks WHERE document_id = $1",
        )
        .bind(document_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?
        .into_iter()
        .collect();
        let chunk_ids = vectors
            .iter()
            .map(|(i, _)| {
                i32::try_from(*i)
                    .ok()
                    .and_then(|i| ids.get(&i).copied())
                    .ok_or_else(|| IndexError::Backend(format!("{document_id} has no chunk {i}")))
            })
            .collect::<Result<Vec<i64>, _>>()?;
        let embeddings: Vec<Vector> = vectors
            .iter()
            .map(|(_, v)| Vector::from(v.clone()))
            .collect();
        insert_vectors(
            &mut tx,
            (document_id, &owner.user, &pipeline),
            model,
            self.dims,
            &chunk_ids,
            &embeddings,
        )
        .await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn purge(&self, caller: &Caller) -> Result<u64, IndexError> {
        let done = sqlx::query("DELETE FROM hybrid_documents WHERE owner = $1")
            .bind(&caller.user)
            .execute(&mut *self.connection().await?)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn grant(
        &self,
        owner: &Caller,
        document_id: &str,
        grantee: &str,
    ) -> Result<bool, IndexError> {
        let done = sqlx::query(
            "INSERT INTO hybrid_document_grants (grantee, document_id)
             SELECT $3, document_id FROM hybrid_documents WHERE document_id = $1 AND owner = $2
             ON CONFLICT DO NOTHING",
        )
        .bind(document_id)
        .bind(&owner.user)
        .bind(grantee)
        .execute(&mut *self.connection().await?)
        .await
        .map_err(backend)?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        owns(&mut *self.connection().await?, owner, document_id).await
    }

    async fn resolve_filter(&self, scope: &SearchScope) -> Result<Option<SearchScope>, IndexError> {
        Ok(match self.narrowed(scope).await? {
            Narrowed::Unfiltered => Some(scope.clone()),
            Narrowed::To(narrowed) => Some(narrowed),
            Narrowed::Nothing => None,
        })
    }

    async fn neighbours(
        &self,
        caller: &Caller,
        chunk_ids: &[String],
        n: usize,
    ) -> Result<std::collections::HashMap<String, Neighbours>, IndexError> {
        let ids: Vec<i64> = chunk_ids.iter().filter_map(|id| id.parse().ok()).collect();
        if ids.is_empty() || n == 0 {
            return Ok(Default::default());
        }
        let rows: Vec<(i64, bool, i32, String)> = sqlx::query_as(NEIGHBOURS)
            .bind(&ids)
            .bind(&caller.user)
            .bind(n as i64)
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(backend)?;
        let mut out: std::collections::HashMap<String, Neighbours> = Default::default();
        for (chunk_id, after, _, content) in rows {
            let around = out.entry(chunk_id.to_string()).or_default();
            if after {
                around.after.push(content);
            } else {
                around.before.push(content);
            }
        }
        Ok(out)
    }

    async fn revoke(
        &self,
        owner: &Caller,
        document_id: &str,
        grantee: &str,
    ) -> Result<bool, IndexError> {
        let mut conn = self.connection().await?;
        if !owns(&mut conn, owner, document_id).await? {
            return Ok(false);
        }
        sqlx::query("DELETE FROM hybrid_document_grants WHERE document_id = $1 AND grantee = $2")
            .bind(document_id)
            .bind(grantee)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(true)
    }

    async fn grantees(
        &self,
        owner: &Caller,
        document_id: &str,
    ) -> Result<Option<Vec<String>>, IndexError> {
        let mut conn = self.connection().await?;
        if !owns(&mut conn, owner, document_id).await? {
            return Ok(None);
        }
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT grantee FROM hybrid_document_grants WHERE document_id = $1 ORDER BY grantee",
        )
        .bind(document_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
        Ok(Some(rows.into_iter().map(|(g,)| g).collect()))
    }
}

/// The chunks around each searched chunk ([`Index::neighbours`]): one
/// probe of `(document_id, chunk_index)` each way per chunk.
const NEIGHBOURS: &str = "WITH t AS (
        SELECT c.chunk_id, c.document_id, c.chunk_index FROM hybrid_chunks c
        JOIN hybrid_documents d ON d.document_id = c.document_id
        WHERE c.chunk_id = ANY($1::bigint[])
          AND (d.owner = $2 OR d.document_id IN
               (SELECT g.document_id FROM hybrid_document_grants g WHERE g.grantee = $2)))
    SELECT t.chunk_id, false AS after, b.chunk_index, b.content FROM t CROSS JOIN LATERAL (
        SELECT c.chunk_index, c.content FROM hybrid_chunks c
        WHERE c.document_id = t.document_id AND c.chunk_index < t.chunk_index
        ORDER BY c.chunk_index DESC LIMIT $3) b
    UNION ALL
    SELECT t.chunk_id, true, a.chunk_index, a.content FROM t CROSS JOIN LATERAL (
        SELECT c.chunk_index, c.content FROM hybrid_chunks c
        WHERE c.document_id = t.document_id AND c.chunk_index > t.chunk_index
        ORDER BY c.chunk_index LIMIT $3) a
    ORDER BY 1, 2, 3";

/// Whether `owner` owns the document.
async fn owns(
    conn: &mut sqlx::PgConnection,
    owner: &Caller,
    document_id: &str,
) -> Result<bool, IndexError> {
    let row = sqlx::query("SELECT 1 FROM hybrid_documents WHERE document_id = $1 AND owner = $2")
        .bind(document_id)
        .bind(&owner.user)
        .fetch_optional(conn)
        .await
        .map_err(backend)?;
    Ok(row.is_some())
}
