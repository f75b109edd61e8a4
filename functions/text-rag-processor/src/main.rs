//! `async-v2-text-rag-processor`: consumes the text-RAG queue: extract, chunk, embed, index.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::consumer(rag_lambda::wiring::Processor::TextRag).await?;
    rag_lambda::serve(|event| rag_lambda::sqs::handle(&handler, event)).await
}
