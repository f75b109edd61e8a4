//! `async-v2-query-handler`: `POST /v2/query`.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use rag_core::search::query::{QueryRequest, QueryService};
use rag_core::ApiError;

use crate::http::{body, caller, error_response, json_response};

/// The search service behind the route.
pub struct QueryHandler {
    /// `POST /v2/query`.
    pub service: QueryService,
}

impl QueryHandler {
    /// Answers one `POST /v2/query`.
    pub async fn handle(&self, req: ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        self.search(&req)
            .await
            .unwrap_or_else(|e| error_response(&e))
    }

    async fn search(
        &self,
        req: &ApiGatewayProxyRequest,
    ) -> Result<ApiGatewayProxyResponse, ApiError> {
        let caller = caller(req)?;
        let request = QueryRequest::from_json(&body(req)?)?;
        let response = self.service.search(&caller, &request).await?;
        tracing::info!(user = %caller.user, mode = ?response.search_mode, results = response.total_results, ms = response.processing_time_ms, "query answered");
        Ok(json_response(200, &response))
    }
}
