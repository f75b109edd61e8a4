//! The [`Index`](rag_core::ports::Index) port on PostgreSQL + pgvector.
//!
//! Dense search uses an HNSW (cosine) index; BM25 is Okapi BM25 computed in
//! SQL over the postings table, with N, average length and document
//! frequencies computed for exactly the documents the caller may search, in
//! the same statement. A hybrid search is one round trip. VDR pages keep
//! multi-vector embeddings searched by MaxSim, also in one round trip.

mod config;
mod credentials;
mod index;
mod page_index;
mod search_sql;

pub use config::PgConfig;
pub use credentials::PasswordSource;
pub use index::PgIndex;
/// The pool [`PgIndex::new`] takes, so callers need not depend on sqlx.
pub use sqlx::PgPool;

/// Errors of setting up the database.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect { target: String, source: sqlx::Error },
    #[error("invalid DATABASE_URL: {0}")]
    InvalidUrl(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
