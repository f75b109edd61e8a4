//! `async-v2-vdr-processor`: consumes the VDR queue: documents indexed page by page.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::consumer(rag_lambda::wiring::Processor::Vdr).await?;
    rag_lambda::serve(|event| rag_lambda::sqs::handle(&handler, event)).await
}
