//! The [`Index`](rag_core::ports::Index) port on PostgreSQL + pgvector.
//!
//! Dense search uses an HNSW (cosine) index or an exact scan of a small
//! scope; BM25 is Okapi BM25 over the postings of exactly the documents the
//! caller may search, with N, average length and document frequencies of
//! that scope. A hybrid search runs both lists at once, and reads the BM25
//! postings while the query is still being embedded. VDR pages keep multi-vector
//! embeddings searched by MaxSim in one round trip.
//!
//! # Layout: the cost of a search follows the caller's scope
//!
//! Every search first lists the caller's scope (own documents, then those
//! granted to them: `search_sql::scope_cte`) and reads through it:
//!
//! - postings are keyed `(owner, term, document_id, chunk_id)`, so the
//!   caller's own postings of a term are one index range and a granted
//!   document's one more; BM25 stays exact: one statement returns the
//!   scope's postings of the query terms with the scope's N and average
//!   length (summed from per-document statistics kept at write time), and
//!   `rag_core::search::bm25` scores them;
//! - a scope smaller than `sqrt(ef_search x table size)` chunks (14,000 in
//!   a million) gets an exact dense scan of its own vectors, read by
//!   document; a larger one reads HNSW with the scope as a filter, with
//!   pgvector's iterative scan, over-fetching 40 rows and re-sorting them;
//! - a hybrid search runs the dense statement (once the query vector is
//!   there) and the BM25 postings at once on two connections, then fetches
//!   the rows (and cosines) of the BM25 list's chunks the dense list did
//!   not bring. The postings are read while the query is embedded ([`rag_core::ports::QueryVector`]):
//!   with the database on a core of its own (as on RDS: `taskset`, the
//!   database on one core, the caller on the other), the 100,000-chunk
//!   hybrid took 34.8 ms p50 against 45.1 for the embedding and the search
//!   one after the other, same run; a tenant's (whose dense statement is
//!   the longer path) and anything on a shared 2-core machine, where the
//!   two compete for the cores, are unchanged;
//! - VDR: a scope of at most 500 pages is MaxSim-scored exactly, page by
//!   page; a larger one takes candidates from HNSW.
//!
//! Grants are rows of `hybrid_document_grants` only: a department's 100,000
//! chunks granted to 1,000 users are stored once.
//!
//! Measured with `ragctl bench` (release build, 2 cores, shared buffers a
//! quarter of memory), one million chunks: 900 tenants of 1,000 chunks, a
//! department of 100,000 granted to 1,000 users, callers whose scope holds
//! 100 to 100,000 chunks; p50 / p95 ms per query, query embedding included
//! (5.6-7.5 ms of it, the model's); "now" is the run of 4 December. The
//! previous layout, postings keyed
//! `(term, chunk_id)`, every filter applied after the read and BM25 summed
//! in SQL (migration `20261124000003`), was measured in the same database
//! before it was migrated (a debug build then; its 100,000-chunk scope did
//! not finish: its exact BM25 reference exceeded the 120 s statement
//! timeout). The owner-first layout with BM25 summed in SQL and the two
//! lists in one statement is the middle column.
//!
//! | scope | mode | term-first (old) | owner-first, SQL scoring | now | now, database of the scopes alone |
//! |---|---|---|---|---|---|
//! | 100 | sparse | 619 / 1062 | 1.3 / 1.5 | 1.0 / 1.1 | 1.1 / 1.7 |
//! | 100 | hybrid | 675 / 1398 | 11.7 / 16.4 | 9.0 / 11.3 | 11.5 / 18.8 |
//! | 1,000 | sparse | 602 / 1098 | 1.9 / 2.8 | 1.3 / 1.6 | 1.6 / 2.1 |
//! | 1,000 | dense | 9.5 / 12.9 | 10.1 / 14.1 | 8.2 / 9.8 | 8.2 / 10.6 |
//! | 1,000 | hybrid | 637 / 1052 | 14.3 / 17.9 | 10.8 / 13.0 | 12.3 / 15.9 |
//! | 1,000 | vdr | 9.3 / 13.5 | 10.5 / 13.5 | 7.3 / 9.2 | 8.0 / 11.8 |
//! | 10,000 | sparse | 680 / 1206 | 4.3 / 7.3 | 3.6 / 6.5 | 4.4 / 7.5 |
//! | 10,000 | hybrid | 697 / 1227 | 27.9 / 36.2 | 20.4 / 25.2 | 26.3 / 35.0 |
//! | 100,000 | sparse | - | 29.4 / 56.0 | 22.3 / 49.7 | 27.6 / 61.3 |
//! | 100,000 | dense | - | 19.5 / 29.2 | 16.3 / 22.8 | 11.8 / 17.1 |
//! | 100,000 | hybrid | - | 63.2 / 104.5 | 36.2 / 59.0 | 32.7 / 60.3 |
//!
//! Runs on this shared machine vary by 10-20% (the embedding alone moved
//! between 5.6 and 11.5 ms p50 across runs of the same binary); `ragctl
//! bench` prints each p50's 95% interval by a per-query bootstrap (the
//! tenant's hybrid: [10.5, 11.0] in the run above, 5.6 ms of it the query
//! embedding). Dense recall@10 against an exact scan of the scope: 1.0 up
//! to 10,000 chunks, 0.982 at 100,000 (0.90 before the over-fetch); 0.984
//! and 0.966 in the scopes-only database, where the 10,000 scope is past
//! the exact-scan threshold. BM25 top-10 agrees with
//! Okapi BM25 computed by its definition over the scope
//! (`PgIndex::exact_sparse`) at every scope (1.0; ties at the cut count
//! either way). Storing into the million-chunk database runs at 1.36-1.46x
//! the time of storing into an empty one, and ingesting (embedding
//! included) at 1.02-1.03x; with 256 MB of shared buffers it was 3.3x, the
//! HNSW graph read from the OS cache on every insert. Migrating the
//! million-chunk index to this layout took 62 s.

mod bulk;
mod config;
mod credentials;
mod filter;
mod index;
mod legacy;
mod page_index;
mod reference;
mod schema;
mod search_sql;

pub use config::PgConfig;
pub use credentials::PasswordSource;
pub use index::PgIndex;
pub use legacy::PgLegacyTable;
pub use schema::Dropped;
/// The pool [`PgIndex::new`] takes, so callers need not depend on sqlx.
pub use sqlx::PgPool;

/// Errors of setting up the database.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The server could not be reached or refused the login.
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect {
        /// The server, without the password.
        target: String,
        /// What the driver reported.
        source: sqlx::Error,
    },
    /// `DATABASE_URL` cannot be parsed.
    #[error("invalid DATABASE_URL: {0}")]
    InvalidUrl(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database error while setting up.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
