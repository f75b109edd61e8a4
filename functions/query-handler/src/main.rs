//! `async-v2-query-handler`: hybrid search (`POST /v2/query`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::query_handler().await?;
    rag_lambda::serve(|event| handler.handle(event)).await
}
