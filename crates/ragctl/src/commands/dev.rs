//! `ragctl dev`: the whole service on localhost (the local gateway), and
//! `ragctl dev token` for scripts and other clients.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use rag_gateway::{Gateway, GatewayConfig};
use rag_lambda::wiring::SearchParts;
use rag_local::LocalTokens;

use crate::wiring;

/// Serves until Ctrl-C: the index is migrated first, so a fresh database
/// works at once.
pub async fn serve(
    addr: SocketAddr,
    data_dir: PathBuf,
    user: String,
    trust_user_param: bool,
    workers: usize,
) -> Result<ExitCode> {
    let setup = wiring::embedder()?;
    let index = wiring::index(setup.embedder.dimensions()).await?;
    index.migrate().await.context("migrating the index")?;
    let models = rag_lambda::wiring::SearchModels::from_env(&setup)?;
    let parts = SearchParts::over(index.pool().clone(), setup, models)?;
    let config = GatewayConfig {
        addr,
        data_dir,
        dev_user: user,
        trust_user_param,
        workers,
        // Documents are read by workers that are ragctl again (main.rs).
        extraction_worker: Some(
            rag_extract::sandbox::WorkerProgram::this_binary()
                .context("locating ragctl for its document workers")?,
        ),
        ..GatewayConfig::default()
    };
    let running = Gateway::start(config, parts).await?;
    println!("amplify-rag-async local gateway: {}/", running.url);
    println!(
        "  REST      {}/v2/process-document, /v2/query, /v2/status, /v2/documents",
        running.url
    );
    println!(
        "  WebSocket {}/ws?token=<token>",
        running.url.replacen("http", "ws", 1)
    );
    println!("  uploads   PUT {}/files/local/<key>", running.url);
    println!("  token     ragctl dev token --user <name>");
    running.until_interrupted().await;
    Ok(ExitCode::SUCCESS)
}

/// Prints a token for `user`, signed with this install's secret.
pub fn token(data_dir: PathBuf, user: &str, ttl_secs: u64) -> Result<ExitCode> {
    let tokens = LocalTokens::load_or_create(data_dir.join("secret"))?;
    println!("{}", tokens.issue(user, Duration::from_secs(ttl_secs))?);
    Ok(ExitCode::SUCCESS)
}
