//! The old system's `embeddings` table, read for `ragctl migrate-legacy`.

use async_trait::async_trait;
use rag_core::ingest::legacy::{LegacyChunk, LegacyError, LegacySource, LegacyTable};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgPool, Row};

/// The old `amplify-rag` table `embeddings`, in this database or another.
#[derive(Clone)]
pub struct PgLegacyTable {
    pool: PgPool,
}

impl PgLegacyTable {
    /// Reads through `pool` (only reads: nothing of the old table changes).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn failed(e: sqlx::Error) -> LegacyError {
    LegacyError(format!("the embeddings table: {e}"))
}

#[async_trait]
impl LegacyTable for PgLegacyTable {
    async fn sources(&self) -> Result<Vec<LegacySource>, LegacyError> {
        let rows = sqlx::query(
            "SELECT src, count(*) AS n FROM embeddings WHERE src IS NOT NULL GROUP BY src ORDER BY src",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(failed)?;
        rows.iter()
            .map(|r| {
                Ok(LegacySource {
                    src: r.try_get("src")?,
                    chunks: u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or_default(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(failed)
    }

    async fn chunks(&self, src: &str, vectors: bool) -> Result<Vec<LegacyChunk>, LegacyError> {
        // pgvector casts a vector to real[]: no vector type needed here.
        let vector = if vectors {
            "vector_embedding::real[]"
        } else {
            "NULL::real[]"
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, content, locations, char_index, embedding_index, {vector} AS vector
             FROM embeddings WHERE src = $1 ORDER BY embedding_index NULLS LAST, id"
        )))
        .bind(src)
        .fetch_all(&self.pool)
        .await
        .map_err(failed)?;
        rows.iter()
            .map(|r| {
                Ok(LegacyChunk {
                    id: r.try_get("id")?,
                    content: r
                        .try_get::<Option<String>, _>("content")?
                        .unwrap_or_default(),
                    locations: r
                        .try_get::<Option<Json<Value>>, _>("locations")?
                        .map(|j| j.0),
                    char_index: r.try_get("char_index")?,
                    embedding_index: r.try_get("embedding_index")?,
                    vector: r.try_get("vector")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(failed)
    }

    async fn dimensions(&self) -> Result<Option<usize>, LegacyError> {
        // A vector(n) column's type modifier is n; an unsized column says
        // it in its rows.
        let dims: Option<i32> = sqlx::query_scalar(
            "SELECT COALESCE(
                (SELECT NULLIF(atttypmod, -1) FROM pg_attribute
                 WHERE attrelid = 'embeddings'::regclass AND attname = 'vector_embedding'),
                (SELECT vector_dims(vector_embedding) FROM embeddings
                 WHERE vector_embedding IS NOT NULL LIMIT 1))",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(failed)?;
        Ok(dims.and_then(|d| usize::try_from(d).ok()))
    }
}
