//! `async-v2-api-processor`: accepts documents for processing and reports
//! their status (`POST /v2/process-document`, `GET /v2/status[/{statusId}]`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::api_processor().await?;
    rag_lambda::serve(|event| handler.handle(event)).await
}
