//! `async-v2-vdr-processor`: consumes the VDR queue: documents indexed page by page.

fn main() -> Result<(), lambda_runtime::Error> {
    // Pages are rendered by workers that are this binary again: one of
    // them serves its parent and exits here.
    rag_lambda::serve_if_worker();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<(), lambda_runtime::Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::consumer(rag_lambda::wiring::Processor::Vdr).await?;
    rag_lambda::serve_until(|event, deadline_ms| {
        let deadline = rag_lambda::sqs::Deadline::at_epoch_ms(deadline_ms);
        rag_lambda::sqs::handle_until(&handler, event, deadline)
    })
    .await
}
