//! API Gateway REST (proxy integration) plumbing shared by the HTTP handlers.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{header, HeaderMap, HeaderValue};
use base64::Engine;
use rag_core::{ApiError, Caller};
use serde::Serialize;
use serde_json::{Map, Value};

/// A JSON response with `status`, and CORS open as the Amplify frontend needs.
pub fn json_response(status: u16, body: &impl Serialize) -> ApiGatewayProxyResponse {
    let text = serde_json::to_string(body).unwrap_or_else(|e| {
        tracing::error!(error = %e, "response serialization failed");
        r#"{"error":"internal error","code":"internal_error"}"#.to_owned()
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status.into();
    response.headers = headers;
    response.body = Some(Body::Text(text));
    response
}

/// The `{"error", "code"}` response of an [`ApiError`].
pub fn error_response(error: &ApiError) -> ApiGatewayProxyResponse {
    if error.status >= 500 {
        tracing::error!(status = error.status, code = error.code, "request failed");
    } else {
        tracing::info!(status = error.status, code = error.code, error = %error.error, "request refused");
    }
    json_response(error.status, error)
}

/// The caller named by the Cognito authorizer's claims. API Gateway only
/// invokes the function after the authorizer verified the token, so the
/// claims are trusted; without them (a misconfigured route) it is a `401`.
pub fn caller(req: &ApiGatewayProxyRequest) -> Result<Caller, ApiError> {
    let claims: Option<Map<String, Value>> =
        match req.request_context.authorizer.fields.get("claims") {
            Some(Value::Object(claims)) => Some(claims.clone()),
            // Some integrations pass the claims as a JSON string.
            Some(Value::String(s)) => serde_json::from_str(s).ok(),
            _ => None,
        };
    let jwt_claims = req.request_context.authorizer.jwt.as_ref().map(|jwt| {
        jwt.claims
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<String, Value>>()
    });
    claims
        .or(jwt_claims)
        .and_then(|c| Caller::from_claims(&c))
        .ok_or_else(|| ApiError::unauthorized("no verified identity on the request"))
}

/// The request body as bytes (API Gateway base64-encodes binary bodies).
pub fn body(req: &ApiGatewayProxyRequest) -> Result<Vec<u8>, ApiError> {
    let raw = req.body.as_deref().unwrap_or("");
    if req.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| ApiError::bad_request("invalid_body", "the body is not valid base64"))
    } else {
        Ok(raw.as_bytes().to_vec())
    }
}

/// A path parameter, URL-decoded (API Gateway passes them encoded).
pub fn path_param(req: &ApiGatewayProxyRequest, name: &str) -> Option<String> {
    let raw = req.path_parameters.get(name)?;
    Some(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}
