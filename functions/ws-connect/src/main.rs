//! `async-v2-websocket-connect`: $connect: verifies the token and records the connection.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::websocket(rag_lambda::wiring::WsRoute::Connect).await?;
    rag_lambda::serve(|event| rag_lambda::websocket::connect(&handler, event)).await
}
