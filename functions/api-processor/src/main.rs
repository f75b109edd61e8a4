//! `async-v2-api-processor`: accepts documents for processing and reports
//! their status (`POST /v2/process-document`, `GET /v2/status[/{statusId}]`);
//! on its schedule, settles runs whose worker was lost.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::api_processor().await?;
    rag_lambda::serve(|event: serde_json::Value| handler.handle_event(event)).await
}
