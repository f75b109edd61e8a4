//! `ragctl query TEXT`.

use std::process::ExitCode;

use anyhow::Result;
use rag_core::Caller;

use crate::wiring::Services;
use crate::QueryArgs;

/// Validates the request exactly as `POST /v2/query` does, then searches.
pub async fn run(a: QueryArgs) -> Result<ExitCode> {
    let request = match a
        .search
        .request(&a.text, a.top_k, &a.document_ids, a.filter.as_deref())
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}", e.error);
            return Ok(ExitCode::from(2));
        }
    };
    let services = Services::connect().await?;
    let response = match services
        .query_service()
        .search(&Caller::new(a.user.clone()), &request)
        .await
    {
        Ok(r) => r,
        Err(e) => anyhow::bail!("{}", e.error),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&response)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} result(s) for {:?} ({}, {:.1} ms)",
        response.total_results,
        response.query,
        a.search.mode.api_name(),
        response.processing_time_ms
    );
    for (i, r) in response.results.iter().enumerate() {
        let name = r
            .metadata
            .get("file_name")
            .and_then(|v| v.as_str())
            .unwrap_or(&r.document_id);
        let page = r.page_num.map(|p| format!(" p.{p}")).unwrap_or_default();
        let snippet: String = r
            .content
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(160)
            .collect();
        println!("{:>2}. {:.4}  {name}{page}\n    {snippet}", i + 1, r.score);
        // A page result's rendered image, where ragctl stored it.
        if let Some(image) = r.metadata.get("image_url").and_then(|v| v.as_str()) {
            println!("    image: {image}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
