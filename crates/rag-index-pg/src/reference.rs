//! Exact answers to the index's searches, written as the definitions read
//! and never as fast as the searches themselves: what the scale benchmark
//! (`ragctl bench`) measures the searches against. Dense: the nearest
//! vectors by a full scan of the scope. Sparse: Okapi BM25 with N, average
//! length and document frequencies counted over the scope's chunks. Both
//! read the scope's documents as the searches do ([`scope_cte`]): what they
//! check is ranking, not access.

use pgvector::Vector;
use rag_core::ports::{Bm25Params, IndexError, SearchScope};
use sqlx::AssertSqlSafe;

use crate::index::backend;
use crate::search_sql::scope_cte;
use crate::PgIndex;

impl PgIndex {
    /// The `k` chunks of the scope nearest to `vector` (cosine), by a full
    /// scan of the scope's vectors: `(chunk_id, similarity)`, best first.
    pub async fn exact_dense(
        &self,
        scope: &SearchScope,
        vector: &[f32],
        model: &str,
        k: usize,
    ) -> Result<Vec<(String, f64)>, IndexError> {
        let (dims, _) = self.dimensions();
        // Ordered by the similarity, not by the index's distance operator,
        // so no index can answer it: every vector of the scope is compared.
        let sql = format!(
            "WITH {scope}
             SELECT e.chunk_id, 1 - (e.embedding::vector({dims}) <=> $3::vector({dims})) AS s
             FROM scope JOIN hybrid_dense_embeddings e ON e.document_id = scope.document_id
             WHERE e.dims = {dims} AND e.model = $4
             ORDER BY s DESC, e.chunk_id LIMIT $5",
            scope = scope_cte("NULL::text")
        );
        let rows: Vec<(i64, f64)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(&scope.caller.user)
            .bind(&scope.document_ids)
            .bind(Vector::from(vector.to_vec()))
            .bind(model)
            .bind(k as i64)
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(backend)?;
        Ok(ranked(rows))
    }

    /// The `k` best chunks of the scope by Okapi BM25 for `terms` (with
    /// their frequencies in the query), every statistic counted over the
    /// scope's chunks: `(chunk_id, score)`, best first.
    pub async fn exact_sparse(
        &self,
        scope: &SearchScope,
        terms: &[(String, u32)],
        params: Bm25Params,
        k: usize,
    ) -> Result<Vec<(String, f64)>, IndexError> {
        let sql = format!(
            "WITH {scope},
             corpus AS MATERIALIZED (SELECT count(*)::float8 AS n, COALESCE(avg(c.term_count), 1)::float8 AS avgdl
                        FROM scope JOIN hybrid_chunks c ON c.document_id = scope.document_id),
             q AS (SELECT * FROM unnest($3::text[], $4::int[]) AS q(term, qtf)),
             post AS MATERIALIZED (SELECT p.term, p.chunk_id, p.tf, c.term_count FROM scope
                      JOIN hybrid_bm25_index p ON p.owner = scope.owner AND p.document_id = scope.document_id
                      JOIN hybrid_chunks c ON c.chunk_id = p.chunk_id
                      WHERE p.term = ANY($3::text[])),
             df AS MATERIALIZED (SELECT term, count(*)::float8 AS df FROM post GROUP BY term)
             SELECT p.chunk_id,
                    SUM(q.qtf * ln(1 + (c.n - df.df + 0.5) / (df.df + 0.5))
                        * p.tf * ($5 + 1) / (p.tf + $5 * (1 - $6 + $6 * p.term_count / c.avgdl))) AS score
             FROM post p JOIN df USING (term) JOIN q USING (term) CROSS JOIN corpus c
             GROUP BY p.chunk_id ORDER BY score DESC, p.chunk_id LIMIT $7",
            scope = scope_cte("NULL::text")
        );
        let words: Vec<&str> = terms.iter().map(|(t, _)| t.as_str()).collect();
        let qtf: Vec<i32> = terms.iter().map(|(_, f)| *f as i32).collect();
        let rows: Vec<(i64, f64)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(&scope.caller.user)
            .bind(&scope.document_ids)
            .bind(&words)
            .bind(&qtf)
            .bind(params.k1)
            .bind(params.b)
            .bind(k as i64)
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(backend)?;
        Ok(ranked(rows))
    }

    /// How many VDR pages the scope holds: the length a page search's list
    /// must reach (up to its limit) to be complete.
    pub async fn visible_pages(&self, scope: &SearchScope) -> Result<u64, IndexError> {
        let sql = format!(
            "WITH {scope} SELECT count(*) FROM scope JOIN vdr_pages p ON p.document_id = scope.document_id",
            scope = scope_cte("NULL::text")
        );
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(&scope.caller.user)
            .bind(&scope.document_ids)
            .fetch_one(&mut *self.connection().await?)
            .await
            .map_err(backend)?;
        Ok(n as u64)
    }
}

/// `(chunk_id, score)` rows as the searches name chunks.
fn ranked(rows: Vec<(i64, f64)>) -> Vec<(String, f64)> {
    rows.into_iter()
        .map(|(id, s)| (id.to_string(), s))
        .collect()
}
