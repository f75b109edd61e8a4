//! What the project creates in a database, and taking it out again
//! (`ragctl db drop`).

use sqlx::AssertSqlSafe;

use crate::index::{PgIndex, INDEX_DDL_LOCK};
use crate::SetupError;

/// Every table the migrations create, dependents first (the order they can
/// be dropped in). Their indexes, the HNSW ones included, go with them.
pub(crate) const TABLES: [&str; 8] = [
    "vdr_page_vectors",
    "vdr_pages",
    "hybrid_bm25_index",
    "hybrid_dense_embeddings",
    "hybrid_chunks",
    "document_bm25_metadata",
    "hybrid_document_grants",
    "hybrid_documents",
];

/// What [`PgIndex::drop_schema`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped {
    /// `(table, rows it held)`.
    pub tables: Vec<(String, i64)>,
    /// Migration records removed from `_sqlx_migrations`.
    pub migrations: u64,
    /// Whether `_sqlx_migrations` itself went (it held only ours).
    pub migration_table: bool,
}

impl PgIndex {
    /// Removes every table, index and migration record the project
    /// created, in one transaction, and nothing else: the `vector`
    /// extension stays (the old system's `embeddings` table needs it) and a
    /// table something else depends on stops the drop with PostgreSQL's
    /// error instead of cascading into it. `migrate` creates it all again.
    pub async fn drop_schema(&self) -> Result<Dropped, SetupError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(INDEX_DDL_LOCK)
            .execute(&mut *tx)
            .await?;
        let mut dropped = Dropped::default();
        for table in TABLES {
            let present: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
                .bind(table)
                .fetch_one(&mut *tx)
                .await?;
            if present.is_none() {
                continue;
            }
            let rows: i64 =
                sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(&mut *tx)
                    .await?;
            sqlx::query(AssertSqlSafe(format!("DROP TABLE {table} RESTRICT")))
                .execute(&mut *tx)
                .await?;
            dropped.tables.push((table.to_owned(), rows));
        }
        let ledger: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
                .fetch_one(&mut *tx)
                .await?;
        if ledger.is_some() {
            let ours: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
            dropped.migrations =
                sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ANY($1)")
                    .bind(&ours)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
                .fetch_one(&mut *tx)
                .await?;
            if left == 0 {
                sqlx::query("DROP TABLE _sqlx_migrations")
                    .execute(&mut *tx)
                    .await?;
                dropped.migration_table = true;
            }
        }
        tx.commit().await?;
        Ok(dropped)
    }
}

/// The project's migrations, embedded in the binary.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");
