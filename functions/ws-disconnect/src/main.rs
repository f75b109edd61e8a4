//! `async-v2-websocket-disconnect`: $disconnect: forgets the connection and its subscriptions.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    rag_lambda::logging::init();
    let service = rag_lambda::wiring::websocket(rag_lambda::wiring::WsRoute::Disconnect).await?;
    let service = &service;
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            Ok::<_, Error>(rag_lambda::websocket::disconnect(service, event.payload).await)
        },
    ))
    .await
}
