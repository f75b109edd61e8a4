//! `async-v2-websocket-default`: $default, subscribe, unsubscribe and ping.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::websocket(rag_lambda::wiring::WsRoute::Default).await?;
    rag_lambda::serve(|event| rag_lambda::websocket::default(&handler, event)).await
}
