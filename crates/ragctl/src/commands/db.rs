//! `ragctl db migrate`.

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
