//! `async-v2-websocket-disconnect`: $disconnect: forgets the connection and its subscriptions.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::websocket(rag_lambda::wiring::WsRoute::Disconnect).await?;
    rag_lambda::serve(|event| rag_lambda::websocket::disconnect(&handler, event)).await
}
