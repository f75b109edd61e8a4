//! `ragctl db migrate` and `ragctl db drop`.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::wiring;

/// Applies the migrations and the HNSW index for the configured model.
pub async fn migrate() -> Result<ExitCode> {
    let embedder = wiring::embedder()?.embedder;
    let index = wiring::index(embedder.dimensions()).await?;
    index
        .migrate()
        .await
        .context("migrating the index schema")?;
    println!(
        "database is up to date (vector dimension {})",
        embedder.dimensions()
    );
    Ok(ExitCode::SUCCESS)
}

/// Removes the service's tables and migration records, with `yes`; without
/// it, names what would go and exits 2.
pub async fn drop(yes: bool) -> Result<ExitCode> {
    let config = rag_index_pg::PgConfig::from_env();
    if !yes {
        eprintln!(
            "this removes the search index from {}: every table, index and migration record \
             `db migrate` created, with all documents in them; the vector extension and other \
             tables stay. Rerun with --yes to drop.",
            config.redacted_url()
        );
        return Ok(ExitCode::from(2));
    }
    let embedder = wiring::embedder()?.embedder;
    let index = wiring::index(embedder.dimensions()).await?;
    let dropped = index
        .drop_schema()
        .await
        .context("dropping the index schema")?;
    for (table, rows) in &dropped.tables {
        println!("dropped {table} ({rows} rows)");
    }
    println!(
        "removed {} migration records{}",
        dropped.migrations,
        if dropped.migration_table {
            " and _sqlx_migrations (it held no others)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
