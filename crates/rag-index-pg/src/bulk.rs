//! Bulk loading: what building a large index at once needs beyond the
//! [`Index`](rag_core::ports::Index) port (`ragctl bench` builds a million
//! chunks this way). Vector indexes are dropped before the load and built
//! once after it: pgvector builds an HNSW graph over existing rows many
//! times faster than it inserts the same rows one by one.

use rag_core::ports::IndexError;
use sqlx::AssertSqlSafe;

use crate::index::{backend, INDEX_DDL_LOCK};
use crate::PgIndex;

impl PgIndex {
    /// The HNSW indexes of this index's dimensions, as `migrate` creates
    /// them (`IF NOT EXISTS`).
    pub(crate) fn vector_index_ddl(&self) -> [String; 2] {
        let (d, p) = self.dimensions();
        [
            format!(
                "CREATE INDEX IF NOT EXISTS hybrid_dense_embeddings_hnsw_{d} ON hybrid_dense_embeddings \
                 USING hnsw ((embedding::vector({d})) vector_cosine_ops) WITH (m = 16, ef_construction = 64) WHERE dims = {d}"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS vdr_page_vectors_hnsw_{p} ON vdr_page_vectors \
                 USING hnsw ((embedding::vector({p})) vector_cosine_ops) WITH (m = 16, ef_construction = 64) WHERE dims = {p}"
            ),
        ]
    }

    /// Drops the HNSW indexes of this index's dimensions, before a bulk
    /// load; searches still work meanwhile, by exact scans.
    pub async fn drop_vector_indexes(&self) -> Result<(), IndexError> {
        let (d, p) = self.dimensions();
        for name in [
            format!("hybrid_dense_embeddings_hnsw_{d}"),
            format!("vdr_page_vectors_hnsw_{p}"),
        ] {
            sqlx::query(AssertSqlSafe(format!("DROP INDEX IF EXISTS {name}")))
                .execute(&mut *self.connection().await?)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Builds the HNSW indexes after a bulk load, with the memory and
    /// workers a build of a million vectors needs to finish in minutes (the
    /// graph must fit in `maintenance_work_mem`, or the build slows down
    /// many times over).
    pub async fn build_vector_indexes(&self, memory: &str) -> Result<(), IndexError> {
        let mut conn = self.connection().await?;
        self.create_vector_indexes(&mut conn, Some(memory))
            .await
            .map_err(backend)
    }

    /// Creates the HNSW indexes that do not exist yet, in one transaction
    /// under [`INDEX_DDL_LOCK`] (concurrent callers wait, then find them
    /// built), with no statement timeout and, when given, `memory` for the
    /// build. The settings are transaction-local: the connection goes back
    /// to its pool as it came, whatever happens.
    pub(crate) async fn create_vector_indexes(
        &self,
        conn: &mut sqlx::PgConnection,
        memory: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = sqlx::Connection::begin(conn).await?;
        let mut settings = vec!["SET LOCAL statement_timeout = 0".to_owned()];
        if let Some(memory) = memory {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            settings.push(format!(
                "SET LOCAL maintenance_work_mem = '{}'",
                memory.replace('\'', "")
            ));
            settings.push(format!(
                "SET LOCAL max_parallel_maintenance_workers = {}",
                cores.saturating_sub(1)
            ));
        }
        for setting in settings {
            sqlx::query(AssertSqlSafe(setting))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(INDEX_DDL_LOCK)
            .execute(&mut *tx)
            .await?;
        // `vector_index_ddl` holds numbers from configuration, not input.
        for ddl in self.vector_index_ddl() {
            sqlx::query(AssertSqlSafe(ddl)).execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// Grants documents pairwise (`grantees[i]` may search `documents[i]`);
    /// pairs naming no document are skipped. For loads: owners grant one
    /// document at a time through [`Index::grant`](rag_core::ports::Index::grant).
    pub async fn grant_many(
        &self,
        grantees: &[&str],
        documents: &[&str],
    ) -> Result<u64, IndexError> {
        let done = sqlx::query(
            "INSERT INTO hybrid_document_grants (grantee, document_id)
             SELECT g, d FROM unnest($1::text[], $2::text[]) AS t(g, d)
             WHERE EXISTS (SELECT 1 FROM hybrid_documents WHERE document_id = d)
             ON CONFLICT DO NOTHING",
        )
        .bind(grantees)
        .bind(documents)
        .execute(&mut *self.connection().await?)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    /// The schema's version: the description of the last migration applied.
    pub async fn schema_version(&self) -> Result<String, IndexError> {
        let (version, description): (i64, String) = sqlx::query_as(
            "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version DESC LIMIT 1",
        )
        .fetch_one(&mut *self.connection().await?)
        .await
        .map_err(backend)?;
        Ok(format!("{version} {description}"))
    }

    /// Chunks of owners whose names match the SQL `LIKE` pattern.
    pub async fn chunks_of_owners_like(&self, pattern: &str) -> Result<u64, IndexError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM hybrid_chunks WHERE owner LIKE $1")
            .bind(pattern)
            .fetch_one(&mut *self.connection().await?)
            .await
            .map_err(backend)?;
        Ok(n.max(0) as u64)
    }

    /// Removes every document of owners whose names match the SQL `LIKE`
    /// pattern (and everything indexed from them); returns how many.
    pub async fn purge_owners_like(&self, pattern: &str) -> Result<u64, IndexError> {
        let mut tx = self.transaction().await?;
        // A million chunks' rows take longer than any search's timeout.
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let done = sqlx::query("DELETE FROM hybrid_documents WHERE owner LIKE $1")
            .bind(pattern)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected())
    }
}
