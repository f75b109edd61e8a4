//! `async-v2-query-handler`: `POST /v2/query`.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use rag_core::query::{QueryRequest, QueryService, SearchMode};
use rag_core::ApiError;

use crate::http::{body, caller, error_response, json_response};

/// The search service behind the route.
pub struct QueryHandler {
    pub service: QueryService,
    /// `ENABLE_HYBRID_SEARCH`: when off, every text search is dense only.
    pub enable_hybrid: bool,
}

impl QueryHandler {
    /// Answers one `POST /v2/query`.
    pub async fn handle(&self, req: ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        match self.search(&req).await {
            Ok(response) => response,
            Err(e) => error_response(&e),
        }
    }

    async fn search(
        &self,
        req: &ApiGatewayProxyRequest,
    ) -> Result<ApiGatewayProxyResponse, ApiError> {
        let caller = caller(req)?;
        let mut request = QueryRequest::from_json(&body(req)?)?;
        if !self.enable_hybrid && request.search_mode == SearchMode::Hybrid {
            request.search_mode = SearchMode::Dense;
        }
        let response = self.service.search(&caller, &request).await?;
        tracing::info!(user = %caller.user, mode = ?response.search_mode, results = response.total_results, ms = response.processing_time_ms, "query answered");
        Ok(json_response(200, &response))
    }
}
