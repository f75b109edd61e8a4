//! `ragctl migrate-legacy`: the old `amplify-rag` index into this one.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use rag_aws::{DynamoLegacyCatalog, LegacyTableNames};
use rag_core::ingest::legacy::{self, LegacyCatalog, LegacyMigration, LegacyTable, Plan};
use rag_core::ports::Embedder;
use rag_index_pg::{PgConfig, PgLegacyTable};
use serde_json::json;

use crate::wiring::Services;

/// Options of `ragctl migrate-legacy`.
#[derive(Args, Debug)]
pub struct MigrateLegacyArgs {
    /// The database holding the old `embeddings` table (default: this
    /// service's own, `DATABASE_URL`).
    #[arg(long, env = "RAG_LEGACY_DATABASE_URL")]
    legacy_url: Option<String>,
    /// The bucket of the users' files: document ids are `bucket#key`.
    #[arg(long, env = "FILES_BUCKET")]
    bucket: String,
    /// The old hash-files table (file key -> content hash).
    #[arg(long, env = "HASH_FILES_DYNAMO_TABLE")]
    hash_files_table: String,
    /// The old files table (name, type, tags, knowledge base).
    #[arg(long, env = "FILES_DYNAMO_TABLE")]
    files_table: String,
    /// The old object-access table (grants on embeddings).
    #[arg(long, env = "OBJECT_ACCESS_DYNAMODB_TABLE")]
    object_access_table: String,
    /// The model the old vectors come from. When it and its dimension match
    /// the configured embedder the vectors are copied; otherwise (or when
    /// not given: the old table does not record it) chunks are embedded
    /// again.
    #[arg(long, env = "RAG_LEGACY_EMBEDDING_MODEL")]
    legacy_model: Option<String>,
    /// Show what would move, per user, and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Documents per batch; a rerun skips the documents already migrated.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Afterwards, check every document against its old rows (count, text,
    /// pages) and search for it by one of its own sentences; fails on any
    /// difference. With --dry-run, checks without migrating.
    #[arg(long)]
    verify: bool,
    /// JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

/// Plans, migrates and verifies.
pub async fn run(a: MigrateLegacyArgs) -> Result<ExitCode> {
    let services = Services::connect().await?;
    let legacy_config = match &a.legacy_url {
        Some(url) => PgConfig::new(url),
        None => PgConfig::from_env(),
    };
    let legacy_pool = legacy_config
        .connect()
        .await
        .with_context(|| format!("connecting to {}", legacy_config.redacted_url()))?;
    let table: Arc<dyn LegacyTable> = Arc::new(PgLegacyTable::new(legacy_pool));
    let catalog = DynamoLegacyCatalog::new(
        aws_sdk_dynamodb::Client::new(&rag_aws::sdk_config().await),
        LegacyTableNames {
            hash_files: a.hash_files_table.clone(),
            files: a.files_table.clone(),
            object_access: a.object_access_table.clone(),
        },
    );

    let sources = table.sources().await?;
    let plan = legacy::plan(&sources, &catalog.files().await?, &catalog.grants().await?);
    let old_dims = table.dimensions().await?;
    let embedder = &services.embedder;
    let copy_vectors = a.legacy_model.as_deref() == Some(embedder.model_id())
        && old_dims == Some(embedder.dimensions());
    report_plan(&a, &plan, old_dims, copy_vectors, embedder.as_ref());

    let migration = LegacyMigration {
        table,
        index: services.index.clone(),
        embedder: services.embedder.clone(),
        analyzer: services.analyzer.clone(),
        bucket: a.bucket.clone(),
        copy_vectors,
    };
    if !a.dry_run {
        let started = std::time::Instant::now();
        let bar = super::progress(plan.documents.len(), "migrating", a.json);
        let tally = migration
            .run(&plan, a.batch_size as usize, |_, _| bar.inc(1))
            .await;
        bar.finish_and_clear();
        let tally = tally.context("migration stopped (a rerun continues where it stopped)")?;
        let summary = json!({"migrated": tally, "seconds": started.elapsed().as_secs_f64()});
        if a.json {
            println!("{summary}");
        } else {
            println!(
                "migrated: {} with the old vectors, {} embedded again, {} already here; {} chunks written in {:.1} s",
                tally.copied,
                tally.embedded,
                tally.present,
                tally.chunks_written,
                started.elapsed().as_secs_f64()
            );
        }
    }
    if !a.verify {
        return Ok(ExitCode::SUCCESS);
    }
    let search = services.query_service();
    let bar = super::progress(plan.documents.len(), "verifying", a.json);
    let mut failed = 0usize;
    for doc in &plan.documents {
        let problems = migration.verify(doc, &search).await?;
        bar.inc(1);
        if problems.is_empty() {
            continue;
        }
        failed += 1;
        let id = migration.document_id(doc);
        if a.json {
            println!(
                "{}",
                json!({"document_id": id, "src": doc.src, "problems": problems})
            );
        } else {
            bar.suspend(|| {
                for p in &problems {
                    println!("MISMATCH {id} ({}): {p}", doc.src);
                }
            });
        }
    }
    bar.finish_and_clear();
    let verdict = json!({"verified": plan.documents.len(), "mismatched": failed});
    if a.json {
        println!("{verdict}");
    } else {
        println!(
            "verified {} documents: {failed} differ from the old table",
            plan.documents.len()
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What would move: per user, what is left behind and why, and how the
/// vectors come over.
fn report_plan(
    a: &MigrateLegacyArgs,
    plan: &Plan,
    old_dims: Option<usize>,
    copy_vectors: bool,
    embedder: &dyn Embedder,
) {
    let vectors = if copy_vectors {
        format!(
            "copied: the old vectors are {} ({}-d), the configured model",
            embedder.model_id(),
            embedder.dimensions()
        )
    } else {
        format!(
            "embedded again with {} ({}-d): the old vectors are {}-d from {}",
            embedder.model_id(),
            embedder.dimensions(),
            old_dims.map_or("?".to_owned(), |d| d.to_string()),
            a.legacy_model
                .as_deref()
                .unwrap_or("a model not given (--legacy-model)")
        )
    };
    let per_user = plan.per_user();
    if a.json {
        let users: Vec<_> = per_user
            .iter()
            .map(|(u, d, c)| json!({"user": u, "documents": d, "chunks": c}))
            .collect();
        println!(
            "{}",
            json!({
                "dry_run": a.dry_run,
                "documents": plan.documents.len(),
                "users": users,
                "orphan_sources": plan.orphans.iter().map(|o| &o.src).collect::<Vec<_>>(),
                "files_without_chunks": plan.empty_files,
                "files_without_owner": plan.unowned_files,
                "vectors": if copy_vectors { "copied" } else { "embedded" },
            })
        );
        return;
    }
    println!(
        "{} {} documents of {} users; vectors {vectors}",
        if a.dry_run {
            "would migrate"
        } else {
            "migrating"
        },
        plan.documents.len(),
        per_user.len()
    );
    for (user, docs, chunks) in &per_user {
        println!("  {user}: {docs} documents, {chunks} chunks");
    }
    for o in &plan.orphans {
        println!(
            "  left: {} ({} chunks): no file points at it (no hash-files entry)",
            o.src, o.chunks
        );
    }
    for k in &plan.empty_files {
        println!("  left: {k}: its hash has no rows in the old table");
    }
    for k in &plan.unowned_files {
        println!("  left: {k}: no user owns it (no <user>/ prefix, no createdBy)");
    }
}
