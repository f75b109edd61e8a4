//! `ragctl query TEXT`.

use std::process::ExitCode;

use anyhow::Result;
use rag_core::query::QueryRequest;
use rag_core::Caller;
use serde_json::json;

use crate::wiring::Services;
use crate::QueryArgs;

/// Validates the request exactly as `POST /v2/query` does, then searches.
pub async fn run(a: QueryArgs) -> Result<ExitCode> {
    let mut body = json!({
        "query": a.text, "top_k": a.top_k, "search_mode": a.mode.api_name(),
        "dense_weight": a.dense_weight, "sparse_weight": a.sparse_weight, "use_rrf": a.rrf,
    });
    if !a.document_ids.is_empty() {
        body["document_ids"] = json!(a.document_ids);
    }
    let request = match QueryRequest::from_json(body.to_string().as_bytes()) {
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
        a.mode.api_name(),
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
    }
    Ok(ExitCode::SUCCESS)
}
