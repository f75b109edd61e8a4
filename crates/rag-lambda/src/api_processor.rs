//! `async-v2-api-processor`: `POST /v2/process-document`, `GET /v2/status`
//! and `GET /v2/status/{statusId}`.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::http::Method;
use rag_core::api::{ProcessDocumentRequest, ProcessService, StatusService};
use rag_core::ApiError;

use crate::http::{body, caller, error_response, json_response, path_param};

/// The services behind the function's routes.
pub struct ApiProcessor {
    pub process: ProcessService,
    pub status: StatusService,
}

impl ApiProcessor {
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
            (&Method::GET, r) if r.ends_with("/status") => {
                let limit = match req.query_string_parameters.first("limit") {
                    None => None,
                    Some(l) => Some(
                        l.parse::<std::num::NonZeroUsize>()
                            .map_err(|_| {
                                ApiError::bad_request(
                                    "invalid_field",
                                    "'limit' must be a positive integer",
                                )
                            })?
                            .get(),
                    ),
                };
                let listing = self.status.list(&caller, limit).await?;
                Ok(json_response(200, &listing))
            }
            (method, r) => Err(ApiError::not_found(format!("no route {method} {r}"))),
        }
    }
}
