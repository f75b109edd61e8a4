//! `async-v2-vdr-processor`: consumes the VDR queue: documents indexed page by page.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::consumer(rag_lambda::wiring::Processor::Vdr).await?;
    rag_lambda::serve_until(|event, deadline_ms| {
        let deadline = rag_lambda::sqs::Deadline::at_epoch_ms(deadline_ms);
        rag_lambda::sqs::handle_until(&handler, event, deadline)
    })
    .await
}
