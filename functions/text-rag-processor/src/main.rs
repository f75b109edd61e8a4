//! `async-v2-text-rag-processor`: consumes the text-RAG queue: extract, chunk, embed, index.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::consumer(rag_lambda::wiring::Processor::TextRag).await?;
    rag_lambda::serve_until(|event, deadline_ms| {
        let deadline = rag_lambda::sqs::Deadline::at_epoch_ms(deadline_ms);
        rag_lambda::sqs::handle_until(&handler, event, deadline)
    })
    .await
}
