//! The gateway's routes. REST and WebSocket requests become API Gateway
//! events for the production handlers; `/@connections/{id}` is the
//! Management API; `/files/...` stands in for the frontend's S3 upload.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::http::Method;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{SinkExt, StreamExt};
use rag_core::domain::ownership;
use rag_core::ports::{BlobError, BlobRef, TokenVerifier};
use rag_core::realtime::WebSocketService;
use rag_core::Caller;
use rag_lambda::api_processor::ApiProcessor;
use rag_lambda::query_handler::QueryHandler;
use rag_local::{FsBlobStore, LocalTokens};
use serde_json::json;

use crate::events::{error, http_response, rest_event, ws_event};
use crate::hub::Hub;

/// Everything the routes share.
pub(crate) struct AppState {
    pub api: ApiProcessor,
    pub query: QueryHandler,
    pub websocket: WebSocketService,
    pub hub: Hub,
    pub tokens: Arc<LocalTokens>,
    pub blobs: Arc<FsBlobStore>,
    /// Status records, to check who owns a rendered page's document.
    pub status: Arc<dyn rag_core::ports::StatusStore>,
    /// Buckets uploads may go to.
    pub buckets: Vec<String>,
    /// Largest upload accepted (the document size limit).
    pub max_upload_bytes: u64,
    /// The address the gateway listens on: requests must name it or a
    /// loopback name ([`crate::guard`]).
    pub bound: SocketAddr,
    /// The user `/dev/token` issues tokens for.
    pub dev_user: String,
    pub token_ttl: Duration,
    /// Whether `/ws?user=` stands in for a token ([`GatewayConfig`]).
    ///
    /// [`GatewayConfig`]: crate::GatewayConfig
    #[cfg(feature = "trust-user-param")]
    pub trust_user_param: bool,
}

pub(crate) type Shared = State<Arc<AppState>>;

/// The caller behind `Authorization: Bearer <token>`, verified like a
/// Cognito token; a `401` otherwise (as API Gateway's authorizer answers).
pub(crate) struct Authed(pub Caller);

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim())
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing Authorization: Bearer <token>",
            ));
        };
        state.tokens.verify(token).await.map(Authed).map_err(|e| {
            error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                &format!("invalid token: {e}"),
            )
        })
    }
}

/// A body the route's size limit (or the connection) refused, in the API's
/// error shape rather than axum's plain text.
fn body_refused(rejection: BytesRejection) -> Response {
    let status = rejection.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "payload_too_large"
    } else {
        "invalid_body"
    };
    error(status, code, &rejection.body_text())
}

/// A `POST` to `resource` handed to `handle` as its API Gateway event, or
/// the refusal of its body.
async fn post_to<F, Fut>(
    resource: &str,
    caller: &Caller,
    body: Result<Bytes, BytesRejection>,
    handle: F,
) -> Response
where
    F: FnOnce(ApiGatewayProxyRequest) -> Fut,
    Fut: Future<Output = ApiGatewayProxyResponse>,
{
    match body {
        Ok(body) => {
            let none = HashMap::new;
            let event = rest_event(
                Method::POST,
                resource,
                resource,
                none(),
                none(),
                caller,
                Some(&body),
            );
            http_response(handle(event).await)
        }
        Err(refused) => body_refused(refused),
    }
}

pub(crate) async fn process_document(
    State(state): Shared,
    Authed(caller): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    post_to("/v2/process-document", &caller, body, |e| {
        state.api.handle(e)
    })
    .await
}

pub(crate) async fn query(
    State(state): Shared,
    Authed(caller): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    post_to("/v2/query", &caller, body, |e| state.query.handle(e)).await
}

/// `GET /v2/status` and `GET /v2/documents`: the caller's documents, a
/// page at a time.
pub(crate) async fn listing(
    State(state): Shared,
    Authed(caller): Authed,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let event = rest_event(
        Method::GET,
        uri.path(),
        uri.path(),
        HashMap::new(),
        query,
        &caller,
        None,
    );
    http_response(state.api.handle(event).await)
}

/// `/v2/documents/{documentId}[/cancel | /share[/{user}]]`: the document
/// id (and user) arrive URL-encoded, one path segment each, and are passed
/// on still encoded, as API Gateway passes them.
pub(crate) async fn document(
    State(state): Shared,
    Authed(caller): Authed,
    method: axum::http::Method,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(refused) => return body_refused(refused),
    };
    let rest = uri
        .path()
        .strip_prefix("/v2/documents/")
        .unwrap_or_default();
    let segments: Vec<&str> = rest.split('/').collect();
    let (tail, user) = match segments.as_slice() {
        [_] => ("", None),
        [_, "cancel"] => ("/cancel", None),
        [_, "share"] => ("/share", None),
        [_, "share", user] => ("/share/{user}", Some(*user)),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no route {method} {}", uri.path()),
            )
        }
    };
    let mut params = HashMap::from([("documentId".to_owned(), segments[0].to_owned())]);
    if let Some(user) = user {
        params.insert("user".to_owned(), user.to_owned());
    }
    let Ok(method) = Method::from_bytes(method.as_str().as_bytes()) else {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed",
        );
    };
    let event = rest_event(
        method,
        &format!("/v2/documents/{{documentId}}{tail}"),
        uri.path(),
        params,
        HashMap::new(),
        &caller,
        (!body.is_empty()).then_some(&body[..]),
    );
    http_response(state.api.handle(event).await)
}

/// `GET /v2/status/{statusId}`: the parameter is passed on still
/// URL-encoded, as API Gateway passes it.
pub(crate) async fn status_get(State(state): Shared, Authed(caller): Authed, uri: Uri) -> Response {
    let raw = uri.path().trim_start_matches("/v2/status/").to_owned();
    let params = HashMap::from([("statusId".to_owned(), raw)]);
    let event = rest_event(
        Method::GET,
        "/v2/status/{statusId}",
        uri.path(),
        params,
        HashMap::new(),
        &caller,
        None,
    );
    http_response(state.api.handle(event).await)
}

/// `PUT /files/{bucket}/{key}`: an S3-style upload into the local bucket
/// directory, with `Content-Type` and `x-amz-meta-*` kept as the object's.
/// A token holder writes under their own prefix (`<user>/...`) only, and the
/// object records them as its `owner`, as a presigned upload URL would: see
/// [`rag_core::domain::ownership`].
/// The body is written to disk as it arrives, never held whole in memory,
/// and refused (`413`) as soon as it passes the document size limit.
pub(crate) async fn upload(
    State(state): Shared,
    Authed(caller): Authed,
    headers: HeaderMap,
    Path((bucket, key)): Path<(String, String)>,
    body: Body,
) -> Response {
    if !state.buckets.contains(&bucket) {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no bucket {bucket}; use {}", state.buckets.join(", ")),
        );
    }
    if !ownership::under_user_prefix(&caller.user, &key) {
        tracing::warn!(bucket = %bucket, key = %key, user = %caller.user, "upload outside the caller's prefix refused");
        let why = match ownership::user_prefix(&caller.user) {
            Some(prefix) => format!("uploads go under your own prefix, '{prefix}'"),
            None => "this user id cannot own an upload prefix".to_owned(),
        };
        return error(StatusCode::FORBIDDEN, "forbidden", &why);
    }
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty());
    let mut metadata: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix("x-amz-meta-")?;
            Some((name.to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    metadata.insert(ownership::OWNER_METADATA.into(), caller.user.clone());
    let blob = BlobRef {
        bucket: bucket.clone(),
        key: key.clone(),
    };
    let limit = state.max_upload_bytes;
    // The rest of the body is never read, so the connection cannot carry
    // another request: saying so keeps a client from reusing it (and
    // getting an aborted message for its next request).
    let too_large = || {
        let mut refused = error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("the upload is larger than the limit of {limit} bytes"),
        );
        refused.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        refused
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|size| size > limit) {
        return too_large();
    }
    let stored = async {
        let mut upload = state.blobs.begin_upload(&blob, limit).await?;
        let mut pieces = body.into_data_stream();
        while let Some(piece) = pieces.next().await {
            let piece = piece.map_err(|e| UploadError::Body(e.to_string()))?;
            upload.write(&piece).await?;
        }
        Ok::<u64, UploadError>(upload.finish(content_type, metadata).await?)
    };
    match stored.await {
        Ok(size) => {
            tracing::info!(bucket = %bucket, key = %key, size, "uploaded");
            Json(json!({"bucket": bucket, "key": key, "size": size})).into_response()
        }
        Err(UploadError::Store(BlobError::TooLarge { .. })) => too_large(),
        Err(UploadError::Store(BlobError::Backend(e))) => {
            tracing::error!(bucket = %bucket, key = %key, error = %e, "upload failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
            )
        }
        Err(UploadError::Body(e)) => {
            tracing::warn!(bucket = %bucket, key = %key, error = %e, "upload body broken");
            error(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the upload's body could not be read",
            )
        }
        Err(UploadError::Store(e)) => {
            tracing::warn!(bucket = %bucket, key = %key, error = %e, "upload refused");
            error(StatusCode::BAD_REQUEST, "invalid_key", &e.to_string())
        }
    }
}

/// Why an upload stopped: the store refused it, or its body broke off.
#[derive(Debug)]
enum UploadError {
    Store(BlobError),
    Body(String),
}

impl From<BlobError> for UploadError {
    fn from(e: BlobError) -> Self {
        Self::Store(e)
    }
}

/// Links to rendered pages served by [`rendered_page`], as S3 presigned
/// URLs are in production (the caller still sends its token).
pub(crate) struct GatewayLinks {
    pub base: String,
}

#[async_trait::async_trait]
impl rag_core::ports::BlobLinker for GatewayLinks {
    async fn link(&self, blob: &BlobRef) -> Result<String, rag_core::ports::BlobError> {
        Ok(format!("{}/files/{}/{}", self.base, blob.bucket, blob.key))
    }
}

/// `GET /files/{bucket}/rendered-pages/...`: a page the VDR pipeline
/// rendered, to the owner of its document only (anyone else gets the same
/// `404` as for a page that does not exist).
pub(crate) async fn rendered_page(
    State(state): Shared,
    Authed(caller): Authed,
    Path((bucket, key)): Path<(String, String)>,
) -> Response {
    let not_found = || error(StatusCode::NOT_FOUND, "not_found", "no such page image");
    let Some((document, _)) = rag_core::ingest::pipeline::document_of_page_image(&key) else {
        return not_found();
    };
    let owner = match state.status.get(&format!("{bucket}#{document}")).await {
        Ok(Some(record)) => record.user,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "status read failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
            );
        }
    };
    if owner != caller.user {
        return not_found();
    }
    let blob = BlobRef { bucket, key };
    match rag_core::ports::BlobStore::get(state.blobs.as_ref(), &blob, MAX_PAGE_IMAGE_BYTES).await {
        Ok(png) => ([(axum::http::header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(rag_core::ports::BlobError::Backend(e)) => {
            tracing::error!(error = %e, "page image read failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
            )
        }
        Err(_) => not_found(),
    }
}

/// API Gateway's WebSocket limits: messages of 128 KB in frames of 32 KB.
/// A larger one closes the connection (axum's default would buffer 64 MB).
const MAX_WS_MESSAGE_BYTES: usize = 128 * 1024;
const MAX_WS_FRAME_BYTES: usize = 32 * 1024;

/// Largest rendered page served: a page at 600 dpi compresses to well
/// under this.
const MAX_PAGE_IMAGE_BYTES: u64 = 64 * 1024 * 1024;

/// `GET /dev/token`: a token for the console, to loopback clients only.
pub(crate) async fn dev_token(
    State(state): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if !peer.ip().is_loopback() {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "tokens are issued to local clients only",
        );
    }
    match state.tokens.issue(&state.dev_user, state.token_ttl) {
        Ok(token) => Json(json!({"token": token, "user": state.dev_user, "expires_in": state.token_ttl.as_secs()})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "token issue failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
        }
    }
}

/// `POST /@connections/{id}`: the Management API's `PostToConnection`, for
/// the gateway's own notifier, so for peers on this machine only.
pub(crate) async fn post_to_connection(
    State(state): Shared,
    peer: ConnectInfo<SocketAddr>,
    Path(connection_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(refused) = crate::guard::refusal_of_peer(&peer) {
        return refused;
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    if state.hub.send(&connection_id, text) {
        StatusCode::OK.into_response()
    } else {
        // What API Gateway answers for a closed connection.
        (
            StatusCode::GONE,
            [("x-amzn-errortype", "GoneException")],
            "",
        )
            .into_response()
    }
}

/// `GET /ws?token=...`: `$connect` decides; then frames go to `$default`
/// and the close to `$disconnect`, as on API Gateway.
pub(crate) async fn websocket(
    State(state): Shared,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    #[cfg(feature = "trust-user-param")]
    let query = user_param_as_token(&state, query);
    let connection_id = uuid::Uuid::new_v4().simple().to_string();
    let event = ws_event("$connect", "CONNECT", &connection_id, query, None);
    let answer = rag_lambda::websocket::connect(&state.websocket, event).await;
    if answer.status_code != 200 {
        return http_response(answer);
    }
    upgrade
        .max_message_size(MAX_WS_MESSAGE_BYTES)
        .max_frame_size(MAX_WS_FRAME_BYTES)
        .on_upgrade(move |socket| session(state, connection_id, socket))
}

/// The original service's `?user=`, when the gateway trusts it: turned into
/// a token for that user, so that `$connect` still verifies a token exactly
/// as in production and the core never learns of the switch.
/// A token that cannot be issued leaves the query as it was: `$connect`
/// then refuses it for want of a token.
#[cfg(feature = "trust-user-param")]
fn user_param_as_token(
    state: &AppState,
    mut query: HashMap<String, String>,
) -> HashMap<String, String> {
    if !state.trust_user_param || query.get("token").is_some_and(|t| !t.is_empty()) {
        return query;
    }
    let Some(user) = query.get("user").filter(|u| !u.trim().is_empty()).cloned() else {
        return query;
    };
    match state.tokens.issue(&user, state.token_ttl) {
        Ok(token) => {
            tracing::warn!(user = %user, "connection named by ?user= trusted (trust_user_param)");
            query.insert("token".into(), token);
        }
        Err(e) => tracing::error!(error = %e, "token issue failed"),
    }
    query
}

async fn session(state: Arc<AppState>, connection_id: String, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let mut outgoing = state.hub.open(&connection_id);
    let writer = tokio::spawn(async move {
        while let Some(text) = outgoing.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(frame)) = stream.next().await {
        let body = match frame {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let event = ws_event(
            "$default",
            "MESSAGE",
            &connection_id,
            HashMap::new(),
            Some(body),
        );
        rag_lambda::websocket::default(&state.websocket, event).await;
    }
    state.hub.close(&connection_id);
    writer.abort();
    let event = ws_event(
        "$disconnect",
        "DISCONNECT",
        &connection_id,
        HashMap::new(),
        None,
    );
    rag_lambda::websocket::disconnect(&state.websocket, event).await;
}

pub(crate) async fn health() -> &'static str {
    "ok"
}
