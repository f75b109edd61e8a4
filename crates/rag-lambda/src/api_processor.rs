//! `async-v2-api-processor`: `POST /v2/process-document`, `GET /v2/status`
//! and `GET /v2/status/{statusId}`, and every few minutes (an EventBridge
//! schedule) the sweep of runs whose worker was lost.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::http::Method;
use rag_core::api::{
    DocumentService, ListQuery, ProcessDocumentRequest, ProcessService, StatusService,
};
use rag_core::ingest::pipeline::Sweeper;
use rag_core::ApiError;
use serde_json::{json, Value};

use crate::http::{body, caller, error_response, json_response, path_param};

/// The services behind the function's routes.
pub struct ApiProcessor {
    /// `POST /v2/process-document`.
    pub process: ProcessService,
    /// `GET /v2/status/{statusId}`.
    pub status: StatusService,
    /// `/v2/documents`: list, inspect, cancel, delete, share.
    pub documents: DocumentService,
    /// Settles runs whose lease ran out, on the schedule's events.
    pub sweeper: Sweeper,
}

impl ApiProcessor {
    /// Handles whatever invoked the function: an EventBridge scheduled
    /// event sweeps lapsed runs; anything else is a REST request.
    pub async fn handle_event(&self, event: Value) -> Value {
        if event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
            let now = chrono::Utc::now().timestamp();
            return match self.sweeper.sweep(now).await {
                Ok(report) => json!({ "swept": report }),
                Err(e) => {
                    tracing::error!(error = %e, "sweep failed");
                    json!({ "swept": null, "error": "the status store is unavailable" })
                }
            };
        }
        let response = match serde_json::from_value::<ApiGatewayProxyRequest>(event) {
            Ok(request) => self.handle(request).await,
            Err(e) => {
                tracing::error!(error = %e, "event is neither a REST request nor a schedule");
                error_response(&ApiError::bad_request(
                    "invalid_event",
                    "the function was invoked with an event it does not handle",
                ))
            }
        };
        serde_json::to_value(response).unwrap_or_else(|e| {
            tracing::error!(error = %e, "response serialization failed");
            Value::Null
        })
    }

    /// Routes one REST request.
    pub async fn handle(&self, req: ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        self.route(&req)
            .await
            .unwrap_or_else(|e| error_response(&e))
    }

    async fn route(
        &self,
        req: &ApiGatewayProxyRequest,
    ) -> Result<ApiGatewayProxyResponse, ApiError> {
        let resource = req
            .resource
            .as_deref()
            .or(req.path.as_deref())
            .unwrap_or("");
        let caller = caller(req)?;
        match (&req.http_method, resource) {
            (&Method::POST, r) if r.ends_with("/process-document") => {
                let request = ProcessDocumentRequest::from_json(&body(req)?)?;
                let accepted = self.process.submit(&caller, &request).await?;
                Ok(json_response(accepted.http_status, &accepted))
            }
            (&Method::GET, r)
                if r.ends_with("/status/{statusId}") || path_param(req, "statusId").is_some() =>
            {
                let status_id = path_param(req, "statusId")
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        ApiError::bad_request("missing_field", "'statusId' is required in the path")
                    })?;
                let record = self.status.get(&caller, &status_id).await?;
                Ok(json_response(200, &record))
            }
            (&Method::GET, r) if r.ends_with("/status") || r.ends_with("/documents") => {
                let query = ListQuery::from_params(|name| req.query_string_parameters.first(name))?;
                let page = self.status.list(&caller, &query).await?;
                Ok(json_response(200, &page))
            }
            (method, r) if r.contains("/documents/{documentId}") => {
                let id = path_param(req, "documentId")
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "missing_field",
                            "'documentId' is required in the path",
                        )
                    })?;
                let docs = &self.documents;
                match (
                    method,
                    r.rsplit_once("{documentId}").map_or("", |(_, tail)| tail),
                ) {
                    (&Method::GET, "") => Ok(json_response(200, &docs.get(&caller, &id).await?)),
                    (&Method::DELETE, "") => {
                        Ok(json_response(200, &docs.delete(&caller, &id).await?))
                    }
                    (&Method::POST, "/cancel") => {
                        Ok(json_response(200, &docs.cancel(&caller, &id).await?))
                    }
                    (&Method::POST, "/share") => Ok(json_response(
                        200,
                        &docs.share(&caller, &id, &body(req)?).await?,
                    )),
                    (&Method::DELETE, "/share/{user}") => {
                        let user = path_param(req, "user")
                            .filter(|u| !u.is_empty())
                            .ok_or_else(|| {
                                ApiError::bad_request(
                                    "missing_field",
                                    "'user' is required in the path",
                                )
                            })?;
                        Ok(json_response(
                            200,
                            &docs.unshare(&caller, &id, &user).await?,
                        ))
                    }
                    _ => Err(ApiError::not_found(format!("no route {method} {r}"))),
                }
            }
            (method, r) => Err(ApiError::not_found(format!("no route {method} {r}"))),
        }
    }
}
