//! HTTP requests as the API Gateway events the Lambda handlers take, and
//! the handlers' responses back as HTTP: the gateway adds no logic of its
//! own between a request and the production handler.

use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, Method};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rag_core::Caller;
use serde_json::json;

/// A REST event as API Gateway builds it after its Cognito authorizer
/// accepted the caller: the claims carry the verified user.
pub(crate) fn rest_event(
    method: Method,
    resource: &str,
    path: &str,
    path_parameters: HashMap<String, String>,
    query: HashMap<String, String>,
    caller: &Caller,
    body: Option<&[u8]>,
) -> ApiGatewayProxyRequest {
    let mut event = ApiGatewayProxyRequest::default();
    event.http_method = method.clone();
    event.resource = Some(resource.to_owned());
    event.path = Some(path.to_owned());
    event.path_parameters = path_parameters;
    event.query_string_parameters = query.into();
    // Text as text; anything else base64-encoded, flagged, as API Gateway
    // passes binary bodies (the handlers decode it, then refuse it as JSON).
    match body.map(std::str::from_utf8) {
        None => {}
        Some(Ok(text)) => event.body = Some(text.to_owned()),
        Some(Err(_)) => {
            event.body = body.map(|b| base64::engine::general_purpose::STANDARD.encode(b));
            event.is_base64_encoded = true;
        }
    }
    event.request_context.http_method = method;
    event.request_context.resource_path = Some(resource.to_owned());
    event.request_context.stage = Some("local".into());
    event.request_context.authorizer.fields.insert(
        "claims".into(),
        json!({"cognito:username": caller.user, "token_use": "id"}),
    );
    event
}

/// A WebSocket event for a route (`$connect`, `$disconnect`, `$default`).
pub(crate) fn ws_event(
    route: &str,
    event_type: &str,
    connection_id: &str,
    query: HashMap<String, String>,
    body: Option<String>,
) -> ApiGatewayWebsocketProxyRequest {
    let mut event = ApiGatewayWebsocketProxyRequest::default();
    event.query_string_parameters = query.into();
    event.body = body;
    event.request_context.route_key = Some(route.to_owned());
    event.request_context.event_type = Some(event_type.to_owned());
    event.request_context.connection_id = Some(connection_id.to_owned());
    event.request_context.stage = Some("local".into());
    event
}

/// A handler's response as HTTP.
pub(crate) fn http_response(response: ApiGatewayProxyResponse) -> Response {
    let status = u16::try_from(response.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body: Vec<u8> = match response.body {
        Some(Body::Text(t)) => t.into_bytes(),
        Some(Body::Binary(b)) => b,
        _ => Vec::new(),
    };
    let headers: HeaderMap = response.headers;
    (status, headers, body).into_response()
}

/// The API's error shape, for refusals made before a handler runs.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": message, "code": code}))).into_response()
}
