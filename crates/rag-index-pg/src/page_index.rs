//! [`PageIndex`] on PostgreSQL: VDR pages, their multi-vector embeddings, and
//! MaxSim search (see [`crate::search_sql::page_search`]).

use async_trait::async_trait;

use crate::filter::Narrowed;
use pgvector::Vector;
use rag_core::ports::{
    ChunkRecord, DocumentRecord, IndexError, PageHit, PageIndex, PageQuery, PageRecord,
    PageTextSource,
};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Row};

use crate::index::{backend, claim_document, insert_chunks};
use crate::PgIndex;

fn parse_source(s: &str) -> PageTextSource {
    match s {
        "text_layer" => PageTextSource::TextLayer,
        "ocr" => PageTextSource::Ocr,
        _ => PageTextSource::None,
    }
}

#[async_trait]
impl PageIndex for PgIndex {
    async fn replace_pages(
        &self,
        doc: &DocumentRecord,
        first: u32,
        last: u32,
        pages: &[PageRecord],
        chunks: &[ChunkRecord],
    ) -> Result<(), IndexError> {
        let (dims, page_dims) = self.dimensions();
        let outside = |n: Option<u32>| n.is_none_or(|n| n < first || n > last);
        if let Some(p) = pages.iter().find(|p| outside(Some(p.page_num))) {
            return Err(IndexError::Backend(format!(
                "page {} is outside the range {first}..={last}",
                p.page_num
            )));
        }
        if let Some(c) = chunks.iter().find(|c| outside(c.page_num)) {
            return Err(IndexError::Backend(format!(
                "chunk {} is not on a page of {first}..={last}",
                c.chunk_index
            )));
        }
        if let Some(bad) = pages
            .iter()
            .flat_map(|p| p.vectors.iter())
            .find(|v| v.len() != page_dims)
        {
            return Err(IndexError::Backend(format!(
                "a page vector has {} dimensions; the index holds {page_dims}",
                bad.len()
            )));
        }
        if let Some(bad) = chunks.iter().find(|c| c.embedding.len() != dims) {
            return Err(IndexError::Backend(format!(
                "chunk {} has a {}-dimensional vector; the index holds {dims}",
                bad.chunk_index,
                bad.embedding.len()
            )));
        }
        let (lo, hi) = (first as i32, last as i32);
        // Rows past the document's last page, or of no page, belong to an
        // earlier, longer (or unpaged) version: every range removes them, so
        // none stays searchable once the new version is stored.
        let past = doc
            .page_count
            .map_or(i32::MAX, |n| i32::try_from(n).unwrap_or(i32::MAX));
        let mut tx = self.transaction().await?;
        claim_document(&mut tx, doc).await?;

        // This range's earlier rows (a retried or re-run range).
        sqlx::query(
            "DELETE FROM vdr_pages WHERE document_id = $1
             AND (page_num BETWEEN $2 AND $3 OR page_num > $4)",
        )
        .bind(&doc.document_id)
        .bind(lo)
        .bind(hi)
        .bind(past)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        // Chunk ids of the range: postings and vectors go with their chunks.
        let stale_chunks = "document_id = $1 AND (page_num BETWEEN $2 AND $3 OR page_num > $4
             OR ($4 < 2147483647 AND page_num IS NULL))";
        for table in ["hybrid_bm25_index", "hybrid_dense_embeddings"] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE chunk_id IN (SELECT chunk_id FROM hybrid_chunks
                 WHERE {stale_chunks})"
            )))
            .bind(&doc.document_id)
            .bind(lo)
            .bind(hi)
            .bind(past)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM hybrid_chunks WHERE {stale_chunks}"
        )))
        .bind(&doc.document_id)
        .bind(lo)
        .bind(hi)
        .bind(past)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;

        insert_chunks(&mut tx, doc, dims, chunks).await?;
        // Corpus statistics for BM25, over all of the document's chunks
        // (other ranges may have written theirs already).
        sqlx::query(
            "INSERT INTO document_bm25_metadata (document_id, owner, chunk_count, total_terms)
             SELECT $1, $2, COUNT(*), COALESCE(SUM(term_count), 0) FROM hybrid_chunks WHERE document_id = $1
             ON CONFLICT (document_id) DO UPDATE SET chunk_count = EXCLUDED.chunk_count,
                total_terms = EXCLUDED.total_terms, updated_at = now()",
        )
        .bind(&doc.document_id)
        .bind(&doc.owner)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;

        if !pages.is_empty() {
            let nums: Vec<i32> = pages.iter().map(|p| p.page_num as i32).collect();
            let images: Vec<Option<&str>> = pages.iter().map(|p| p.image_key.as_deref()).collect();
            let contents: Vec<&str> = pages.iter().map(|p| p.content.as_str()).collect();
            let sources: Vec<&str> = pages.iter().map(|p| p.text_source.as_str()).collect();
            let counts: Vec<i32> = pages.iter().map(|p| p.vectors.len() as i32).collect();
            let metadata: Vec<Json<&Value>> = pages.iter().map(|p| Json(&p.metadata)).collect();
            let ids: Vec<(i64, i32)> = sqlx::query_as(
                "INSERT INTO vdr_pages (document_id, owner, page_num, image_key, content, text_source, model, vector_count, metadata)
                 SELECT $1, $2, n, i, c, s, $3, k, m
                 FROM unnest($4::int[], $5::text[], $6::text[], $7::text[], $8::int[], $9::jsonb[]) AS t(n, i, c, s, k, m)
                 RETURNING page_id, page_num",
            )
            .bind(&doc.document_id)
            .bind(&doc.owner)
            .bind(&doc.embedding_model)
            .bind(&nums)
            .bind(&images)
            .bind(&contents)
            .bind(&sources)
            .bind(&counts)
            .bind(&metadata)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
            let id_of: std::collections::HashMap<i32, i64> =
                ids.into_iter().map(|(id, n)| (n, id)).collect();
            let mut page_ids = Vec::new();
            let mut vectors = Vec::new();
            for page in pages {
                let Some(id) = id_of.get(&(page.page_num as i32)) else {
                    return Err(IndexError::Backend(format!(
                        "page {} given twice",
                        page.page_num
                    )));
                };
                for v in &page.vectors {
                    page_ids.push(*id);
                    vectors.push(Vector::from(v.clone()));
                }
            }
            sqlx::query(
                "INSERT INTO vdr_page_vectors (page_id, document_id, owner, model, dims, embedding)
                 SELECT id, $1, $2, $3, $4, v FROM unnest($5::bigint[], $6::vector[]) AS t(id, v)",
            )
            .bind(&doc.document_id)
            .bind(&doc.owner)
            .bind(&doc.embedding_model)
            .bind(page_dims as i32)
            .bind(&page_ids)
            .bind(&vectors)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn search_pages(&self, query: &PageQuery) -> Result<Vec<PageHit>, IndexError> {
        let (_, page_dims) = self.dimensions();
        if query.vectors.is_empty() {
            return Ok(Vec::new());
        }
        let narrowed;
        let query = match self.narrowed(&query.scope).await? {
            Narrowed::Unfiltered => query,
            Narrowed::To(scope) => {
                narrowed = PageQuery {
                    scope,
                    ..query.clone()
                };
                &narrowed
            }
            Narrowed::Nothing => return Ok(Vec::new()),
        };
        if let Some(bad) = query.vectors.iter().find(|v| v.len() != page_dims) {
            return Err(IndexError::Backend(format!(
                "a query vector has {} dimensions; the page index holds {page_dims}",
                bad.len()
            )));
        }
        let vectors: Vec<Vector> = query
            .vectors
            .iter()
            .map(|v| Vector::from(v.clone()))
            .collect();
        // Built from constants and the configured dimension only.
        let rows = sqlx::query(AssertSqlSafe(self.page_sql.as_str()))
            .bind(&query.scope.caller.user)
            .bind(&query.scope.document_ids)
            .bind(&vectors)
            .bind(&query.model)
            .bind(query.candidates_per_vector.max(1) as i64)
            .bind(query.limit as i64)
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(PageHit {
                    page_id: r.try_get::<i64, _>("page_id")?.to_string(),
                    document_id: r.try_get("document_id")?,
                    bucket: r.try_get("bucket")?,
                    file_name: r.try_get("file_name")?,
                    page_num: r.try_get::<i32, _>("page_num")?.max(1) as u32,
                    content: r.try_get("content")?,
                    image_key: r.try_get("image_key")?,
                    text_source: parse_source(r.try_get::<&str, _>("text_source")?),
                    score: r.try_get("score")?,
                    metadata: r.try_get::<Json<Value>, _>("metadata")?.0,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(backend)
    }
}
