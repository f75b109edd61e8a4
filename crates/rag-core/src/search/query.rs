//! `POST /v2/query`: request validation, hybrid search, response shape.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::api::body::{self, invalid, present};
use crate::api::error::ApiError;
use crate::domain::attributes::Filter;
use crate::domain::classify::Pipeline;
use crate::domain::identity::Caller;
use crate::ingest::chunking::Citation;
use crate::ports::{
    BlobLinker, BlobRef, Bm25Params, ChunkHit, DenseQuery, Embedder, Index, IndexError, IndexQuery,
    IndexResults, Neighbours, OtherModelDocument, PageEmbedder, PageHit, PageIndex, PageQuery,
    QueryVector, Reranker, SearchScope, SparseQuery,
};
use crate::search::analyzer::Analyzer;
use crate::search::fusion::{fuse, Fusion, FusionMethod};
use crate::search::language::ScriptCoverage;

/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 2000;
/// Largest `top_k`.
pub const MAX_TOP_K: usize = 100;
/// Most `document_ids` one query may narrow to.
pub const MAX_DOCUMENT_IDS: usize = 1000;
/// Most chunks of context on each side of a result.
pub const MAX_CONTEXT: usize = 5;
/// Longest document id: `bucket#key` at S3's limits.
pub const MAX_DOCUMENT_ID_BYTES: usize =
    crate::api::MAX_BUCKET_BYTES + 1 + crate::api::MAX_KEY_BYTES;
/// `top_k` when the request has none.
pub const DEFAULT_TOP_K: usize = 10;
/// `dense_weight` when the request has none.
pub const DEFAULT_DENSE_WEIGHT: f64 = 0.7;
/// `sparse_weight` when the request has none.
pub const DEFAULT_SPARSE_WEIGHT: f64 = 0.3;

/// The search modes of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// Dense + BM25, fused.
    Hybrid,
    /// Vector similarity only.
    Dense,
    /// BM25 only.
    Sparse,
    /// VDR pages by MaxSim over their multi-vector embeddings. Without a
    /// page model configured, the hybrid text search of VDR documents' pages.
    Vdr,
    /// VDR page scores fused (reciprocal rank) with the text hybrid search of
    /// every document, a page and the chunks on it counting as one result.
    HybridVdrText,
}

impl SearchMode {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hybrid" => Self::Hybrid,
            "dense" => Self::Dense,
            "sparse" => Self::Sparse,
            "vdr" => Self::Vdr,
            "hybrid_vdr_text" => Self::HybridVdrText,
            _ => return None,
        })
    }
}

/// A validated query request.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    /// The text searched for (`query`): not blank, at most
    /// [`MAX_QUERY_CHARS`] characters.
    pub query: String,
    /// Results to return, 1..=[`MAX_TOP_K`] (`top_k`, default
    /// [`DEFAULT_TOP_K`]).
    pub top_k: usize,
    /// Which retrievers run and how their lists combine (`search_mode`,
    /// default `hybrid`).
    pub search_mode: SearchMode,
    /// Weight of the dense list in fused modes, 0..=1 (`dense_weight`,
    /// default 0.7); 0 leaves the dense list out. The two weights are never
    /// both 0.
    pub dense_weight: f64,
    /// Weight of the BM25 list in fused modes, 0..=1 (`sparse_weight`,
    /// default 0.3); 0 leaves the BM25 list out.
    pub sparse_weight: f64,
    /// How a hybrid search fuses its lists (`fusion`; `use_rrf: true` asks
    /// for `rrf`, `use_rrf: false` for the default).
    pub fusion: FusionMethod,
    /// Only these of the caller's visible documents (`document_ids`, at most
    /// [`MAX_DOCUMENT_IDS`]): narrows, never widens; an empty list matches
    /// nothing, `None` searches everything visible.
    pub document_ids: Option<Vec<String>>,
    /// Only documents whose attributes match ([`Filter`]).
    pub filter: Option<Filter>,
    /// Chunks before and after each text result to return with it
    /// (0..=[`MAX_CONTEXT`]).
    pub context: usize,
    /// Reorder the best candidates with the reranker ([`Reranker`]).
    pub rerank: bool,
}

impl QueryRequest {
    /// A request with the API's defaults.
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            top_k: DEFAULT_TOP_K,
            search_mode: SearchMode::Hybrid,
            dense_weight: DEFAULT_DENSE_WEIGHT,
            sparse_weight: DEFAULT_SPARSE_WEIGHT,
            fusion: FusionMethod::default(),
            document_ids: None,
            filter: None,
            context: 0,
            rerank: false,
        }
    }

    /// What the caller may search with this request: their documents and
    /// those granted to them, narrowed by `document_ids`, the filter and
    /// `pipeline`.
    fn scope(&self, caller: &Caller, pipeline: Option<Pipeline>) -> SearchScope {
        SearchScope {
            caller: caller.clone(),
            document_ids: self.document_ids.clone(),
            pipeline,
            filter: self.filter.clone(),
        }
    }

    /// Parses and validates a request body, with a `400` naming the field
    /// for anything malformed, missing, of the wrong type or out of range.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let obj = body::object(body)?;
        let mut req = Self::new(String::new());
        req.query = body::required_str(&obj, "query")?;
        let chars = req.query.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(invalid(
                "query",
                &format!("is {chars} characters; the limit is {MAX_QUERY_CHARS}"),
            ));
        }
        if let Some(v) = present(&obj, "top_k") {
            req.top_k = match v.as_u64() {
                Some(k) if (1..=MAX_TOP_K as u64).contains(&k) => k as usize,
                _ if v.is_number() => {
                    return Err(invalid(
                        "top_k",
                        &format!("must be an integer from 1 to {MAX_TOP_K}"),
                    ))
                }
                _ => return Err(invalid("top_k", "must be an integer")),
            };
        }
        if let Some(v) = present(&obj, "search_mode") {
            let s = v
                .as_str()
                .ok_or_else(|| invalid("search_mode", "must be a string"))?;
            req.search_mode = SearchMode::parse(s).ok_or_else(|| {
                invalid(
                    "search_mode",
                    &format!("'{s}' is not one of hybrid, dense, sparse, vdr, hybrid_vdr_text"),
                )
            })?;
        }
        for (name, slot) in [
            ("dense_weight", &mut req.dense_weight),
            ("sparse_weight", &mut req.sparse_weight),
        ] {
            if let Some(v) = present(&obj, name) {
                match v.as_f64() {
                    Some(w) if (0.0..=1.0).contains(&w) => *slot = w,
                    Some(_) => return Err(invalid(name, "must be between 0 and 1")),
                    None => return Err(invalid(name, "must be a number")),
                }
            }
        }
        if req.dense_weight == 0.0 && req.sparse_weight == 0.0 {
            return Err(ApiError::bad_request(
                "invalid_field",
                "dense_weight and sparse_weight must not both be 0",
            ));
        }
        let use_rrf = body::optional_bool(&obj, "use_rrf")?;
        if let Some(name) = body::optional_str(&obj, "fusion")? {
            req.fusion = FusionMethod::parse(&name).ok_or_else(|| {
                invalid("fusion", &format!("'{name}' is not one of rrf, min_max"))
            })?;
        }
        if use_rrf == Some(true) && req.fusion != FusionMethod::Rrf {
            return Err(invalid(
                "use_rrf",
                "is true while 'fusion' asks for min_max",
            ));
        }
        if let Some(v) = present(&obj, "document_ids") {
            let ids = v
                .as_array()
                .ok_or_else(|| invalid("document_ids", "must be an array of strings"))?;
            if ids.len() > MAX_DOCUMENT_IDS {
                return Err(invalid(
                    "document_ids",
                    &format!("has {} ids; the limit is {MAX_DOCUMENT_IDS}", ids.len()),
                ));
            }
            let ids: Option<Vec<String>> =
                ids.iter().map(|i| i.as_str().map(str::to_owned)).collect();
            let ids = ids.ok_or_else(|| invalid("document_ids", "must be an array of strings"))?;
            if ids.iter().any(|i| i.len() > MAX_DOCUMENT_ID_BYTES) {
                return Err(invalid(
                    "document_ids",
                    &format!("holds an id longer than {MAX_DOCUMENT_ID_BYTES} bytes"),
                ));
            }
            req.document_ids = Some(ids);
        }
        if let Some(filter) = present(&obj, "filter") {
            req.filter = Some(Filter::from_json(filter)?);
        }
        if let Some(rerank) = body::optional_bool(&obj, "rerank")? {
            req.rerank = rerank;
        }
        if let Some(v) = present(&obj, "context") {
            req.context = match v.as_u64() {
                Some(n) if n <= MAX_CONTEXT as u64 => n as usize,
                _ => {
                    return Err(invalid(
                        "context",
                        &format!("must be an integer from 0 to {MAX_CONTEXT}"),
                    ))
                }
            };
        }
        Ok(req)
    }
}

/// One result of `POST /v2/query`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    /// The stored chunk's id (opaque); `page-<id>` for a VDR page result.
    pub chunk_id: String,
    /// The document it belongs to, `bucket#key` (its statusId).
    pub document_id: String,
    /// The chunk's text, or the first 2,000 characters of a page's text.
    pub content: String,
    /// Higher is better, comparable only within one response: cosine
    /// (`dense`), BM25 (`sparse`), the fused score, MaxSim (VDR pages), or
    /// the reranker's score (`rerank`).
    pub score: f64,
    /// 1-based page (or slide) it is on; `None` for formats without pages.
    pub page_num: Option<u32>,
    /// The pipeline that indexed it: `text_rag` or `vdr`.
    pub pipeline: Pipeline,
    /// What was stored with it (such as `file_name`) minus its citation;
    /// page results add their image and text source, reranked results
    /// `retrieval_score` and `reranker`.
    pub metadata: Value,
    /// Where the chunk came from: the headings above it and its place in
    /// its page's extracted text (absent for page results and for chunks
    /// indexed before citations were kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citation: Option<Citation>,
    /// The chunks around it in its document, when the request asked for
    /// `context`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Neighbours>,
    /// The rendered image of a page result, kept typed so that the link
    /// (`metadata.image_url`) is made from it rather than from the JSON
    /// metadata it is also reported in.
    #[serde(skip)]
    pub page_image: Option<BlobRef>,
}

/// The body of a `200` from `POST /v2/query`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResponse {
    /// Best first, at most the request's `top_k`.
    pub results: Vec<QueryResult>,
    /// The query as the request sent it.
    pub query: String,
    /// How many `results` there are (not how many chunks matched).
    pub total_results: usize,
    /// The mode the request asked for, even when it ran as another (`vdr`
    /// without a page model searches the text of VDR documents).
    pub search_mode: SearchMode,
    /// Time [`QueryService::search`] took, in milliseconds to two decimals.
    pub processing_time_ms: f64,
    /// Documents in the caller's scope that a dense (or fused) search could
    /// not compare, their vectors being of another model than the
    /// configured one until they are re-embedded (`ragctl reembed`); found
    /// by their text only meanwhile. Absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_searched_densely: Vec<OtherModelDocument>,
}

impl QueryResponse {
    /// No results: nothing the request may search matched.
    fn empty(req: &QueryRequest, started: Instant) -> Self {
        Self {
            results: Vec::new(),
            query: req.query.clone(),
            total_results: 0,
            search_mode: req.search_mode,
            processing_time_ms: (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
            not_searched_densely: Vec::new(),
        }
    }
}

/// Most documents a response lists in `not_searched_densely`.
pub const MAX_NOT_SEARCHED_LISTED: usize = 100;

/// Tuning of the query service.
#[derive(Debug, Clone, Copy)]
pub struct QueryConfig {
    /// Okapi BM25's `k1` and `b` for the sparse list.
    pub bm25: Bm25Params,
    /// Candidates taken from each list before fusion (at least `top_k`).
    pub fusion_candidates: usize,
    /// `ENABLE_HYBRID_SEARCH`: when off, the fused modes (`hybrid`, `vdr`,
    /// `hybrid_vdr_text`) search one list only, dense unless its weight is 0.
    pub hybrid: bool,
    /// Candidates a `rerank` request sends to the reranker (at least
    /// `top_k`): the reranker reorders them, the best `top_k` are returned.
    pub rerank_candidates: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            bm25: Bm25Params::default(),
            fusion_candidates: 100,
            hybrid: true,
            rerank_candidates: 50,
        }
    }
}

/// MaxSim search over VDR pages: the page model for queries and the index.
pub struct PageSearch {
    /// The page model: embeds the query into the vectors scored against
    /// the pages' (MaxSim).
    pub embedder: Arc<dyn PageEmbedder>,
    /// Where the pages are searched, within the caller's VDR documents.
    pub index: Arc<dyn PageIndex>,
    /// Nearest page vectors fetched per query vector before exact MaxSim.
    pub candidates_per_vector: usize,
}

/// Runs searches for callers.
pub struct QueryService {
    /// The text model: embeds the query for the dense list, which only
    /// compares vectors of this model.
    pub embedder: Arc<dyn Embedder>,
    /// Where chunks are searched, within what the caller may see.
    pub index: Arc<dyn Index>,
    /// Turns the query into BM25 terms, as it turned the chunks at indexing.
    pub analyzer: Arc<Analyzer>,
    /// BM25 parameters, candidate depths and the hybrid switch.
    pub config: QueryConfig,
    /// Page search for the `vdr` modes; `None` searches VDR page text, as
    /// does a query the page model cannot read.
    pub pages: Option<PageSearch>,
    /// Links to rendered page images in results (`image_url`); `None`
    /// leaves only their bucket and key.
    pub links: Option<Arc<dyn BlobLinker>>,
    /// What `rerank: true` reorders the best candidates with; `None`
    /// refuses such requests.
    pub reranker: Option<Arc<dyn Reranker>>,
}

/// Longest page text returned as a result's content.
const PAGE_SNIPPET_CHARS: usize = 2_000;

impl PageHit {
    /// The page as a result: its text as the snippet, and where its image is.
    fn into_result(self) -> QueryResult {
        let mut metadata = match self.metadata {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        metadata.insert("file_name".into(), Value::String(self.file_name));
        metadata.insert("match".into(), Value::String("page".into()));
        metadata.insert(
            "text_source".into(),
            Value::String(self.text_source.as_str().into()),
        );
        let page_image = self.image_key.map(|key| BlobRef {
            bucket: self.bucket,
            key,
        });
        if let Some(image) = &page_image {
            metadata.insert("image_bucket".into(), Value::String(image.bucket.clone()));
            metadata.insert("image_key".into(), Value::String(image.key.clone()));
        }
        QueryResult {
            chunk_id: format!("page-{}", self.page_id),
            document_id: self.document_id,
            content: self.content.chars().take(PAGE_SNIPPET_CHARS).collect(),
            score: self.score,
            page_num: Some(self.page_num),
            pipeline: Pipeline::Vdr,
            metadata: Value::Object(metadata),
            citation: None,
            context: None,
            page_image,
        }
    }
}

/// What a result stands for when text and page results are fused: a page of
/// a document (however many of its chunks matched), or a chunk without one.
fn page_key(document_id: &str, page_num: Option<u32>, chunk_id: &str) -> String {
    match page_num {
        Some(p) => format!("{document_id}\u{1f}{p}"),
        None => format!("chunk\u{1f}{chunk_id}"),
    }
}

impl QueryService {
    /// Searches what `caller` may see.
    pub async fn search(
        &self,
        caller: &Caller,
        req: &QueryRequest,
    ) -> Result<QueryResponse, ApiError> {
        let started = Instant::now();
        let top_k = req.top_k;
        let reranker = match (req.rerank, &self.reranker) {
            (false, _) => None,
            (true, Some(reranker)) => Some(reranker),
            (true, None) => {
                return Err(invalid(
                    "rerank",
                    "is not available: this deployment has no reranker (RERANK_URL)",
                ))
            }
        };
        // Reranking reorders more candidates than it returns.
        let widened;
        let req = match reranker {
            Some(_) if self.config.rerank_candidates > req.top_k => {
                widened = QueryRequest {
                    top_k: self.config.rerank_candidates.min(MAX_TOP_K),
                    ..req.clone()
                };
                &widened
            }
            _ => req,
        };
        // The attribute filter, resolved once for every search below.
        let resolved;
        let req = match &req.filter {
            None => req,
            Some(_) => match self.resolved(caller, req).await? {
                Some(narrowed) => {
                    resolved = narrowed;
                    &resolved
                }
                None => return Ok(QueryResponse::empty(req, started)),
            },
        };
        // A query the page model cannot read gets pages by noise: search
        // the pages' text instead (as without a page model).
        let pages = self.pages.as_ref().filter(|pages| {
            model_reads(
                pages.embedder.script_coverage(),
                pages.embedder.model_id(),
                &req.query,
                "searching page text",
            )
        });
        let other_models = async {
            if req.search_mode == SearchMode::Sparse {
                return Vec::new();
            }
            let scope = req.scope(caller, None);
            self.index
                .documents_not_of_model(
                    self.embedder.model_id(),
                    Some(&scope),
                    MAX_NOT_SEARCHED_LISTED,
                )
                .await
                .unwrap_or_else(|e| {
                    // Advisory: the search itself goes on.
                    tracing::warn!(error = %e, "listing documents of other models failed");
                    Vec::new()
                })
        };
        let results = async {
            let results: Vec<QueryResult> = match (pages, req.search_mode) {
                (Some(pages), SearchMode::Vdr) => self
                    .page_results(pages, caller, req, req.top_k)
                    .await?
                    .into_iter()
                    .map(PageHit::into_result)
                    .collect(),
                (Some(pages), SearchMode::HybridVdrText) => {
                    let depth = req.top_k.max(self.config.fusion_candidates);
                    let (text, pages) = tokio::join!(
                        self.text_results(caller, req),
                        self.page_results(pages, caller, req, depth)
                    );
                    fuse_pages(text?, pages?, req.top_k)
                }
                _ => self.text_results(caller, req).await?,
            };
            Ok::<_, ApiError>(results)
        };
        let (results, not_searched_densely) = tokio::join!(results, other_models);
        let results = match reranker {
            Some(reranker) => reranked(reranker.as_ref(), &req.query, results?, top_k).await?,
            None => results?,
        };
        let results = self.with_image_links(results).await;
        let results = self.with_context(caller, results, req.context).await;
        Ok(QueryResponse {
            total_results: results.len(),
            results,
            query: req.query.clone(),
            search_mode: req.search_mode,
            processing_time_ms: (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
            not_searched_densely,
        })
    }

    /// `req` over the documents its filter matches (`document_ids`, no
    /// filter); `None` when none of the caller's match.
    async fn resolved(
        &self,
        caller: &Caller,
        req: &QueryRequest,
    ) -> Result<Option<QueryRequest>, ApiError> {
        let scope = self
            .index
            .resolve_filter(&req.scope(caller, None))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "filter resolution failed");
                ApiError::internal()
            })?;
        Ok(scope.map(|scope| QueryRequest {
            document_ids: scope.document_ids,
            filter: None,
            ..req.clone()
        }))
    }

    /// Adds the `n` chunks around each text result. Advisory: if they
    /// cannot be read, the results go without them (logged).
    async fn with_context(
        &self,
        caller: &Caller,
        mut results: Vec<QueryResult>,
        n: usize,
    ) -> Vec<QueryResult> {
        if n == 0 {
            return results;
        }
        let ids: Vec<String> = results
            .iter()
            .filter(|r| r.pipeline == Pipeline::TextRag || r.citation.is_some())
            .map(|r| r.chunk_id.clone())
            .collect();
        match self.index.neighbours(caller, &ids, n).await {
            Ok(mut around) => {
                for r in &mut results {
                    if ids.contains(&r.chunk_id) {
                        r.context = Some(around.remove(&r.chunk_id).unwrap_or_default());
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "no context for the results"),
        }
        results
    }

    /// Adds `image_url`, a link to the rendered page, to every page result
    /// (links are made concurrently; one that fails is left out and logged).
    async fn with_image_links(&self, mut results: Vec<QueryResult>) -> Vec<QueryResult> {
        let Some(links) = &self.links else {
            return results;
        };
        let made = futures::future::join_all(results.iter().map(|r| async {
            let blob = r.page_image.as_ref()?;
            links
                .link(blob)
                .await
                .map_err(|e| {
                    tracing::warn!(key = %blob.key, error = %e, "no link to a rendered page");
                })
                .ok()
        }))
        .await;
        for (result, url) in results.iter_mut().zip(made) {
            if let (Some(url), Value::Object(m)) = (url, &mut result.metadata) {
                m.insert("image_url".into(), Value::String(url));
            }
        }
        results
    }

    /// Best pages by MaxSim.
    async fn page_results(
        &self,
        pages: &PageSearch,
        caller: &Caller,
        req: &QueryRequest,
        limit: usize,
    ) -> Result<Vec<PageHit>, ApiError> {
        let vectors = pages.embedder.embed_query(&req.query).await.map_err(|e| {
            tracing::error!(error = %e, "page query embedding failed");
            ApiError::unavailable(
                "the page embedding model is unavailable; try again or use search_mode 'hybrid'",
            )
        })?;
        let query = PageQuery {
            scope: req.scope(caller, Some(Pipeline::Vdr)),
            vectors,
            model: pages.embedder.model_id().to_owned(),
            candidates_per_vector: pages.candidates_per_vector,
            limit,
        };
        pages.index.search_pages(&query).await.map_err(|e| {
            tracing::error!(error = %e, "page search failed");
            ApiError::internal()
        })
    }

    /// The text search of the request's mode (dense, sparse or hybrid),
    /// ranked and cut to `top_k`.
    async fn text_results(
        &self,
        caller: &Caller,
        req: &QueryRequest,
    ) -> Result<Vec<QueryResult>, ApiError> {
        let (mut lists, fused) = self.candidates(caller, req).await?;
        let ranked: Vec<(ChunkHit, f64)> = if fused {
            let fusion = req.fusion.with_weights(req.dense_weight, req.sparse_weight);
            if let Fusion::Rrf { .. } = fusion {
                // The candidates the dense list brought carry a BM25 of 0
                // when they hold no query term: no rank in BM25's list.
                lists.sparse.retain(|(_, score)| *score > 0.0);
            }
            let key = |l: &[(ChunkHit, f64)]| {
                l.iter()
                    .map(|(h, s)| (h.chunk_id.clone(), *s))
                    .collect::<Vec<_>>()
            };
            let order = fuse(&key(&lists.dense), &key(&lists.sparse), fusion);
            let mut hits: std::collections::HashMap<String, ChunkHit> = lists
                .dense
                .into_iter()
                .chain(lists.sparse)
                .map(|(h, _)| (h.chunk_id.clone(), h))
                .collect();
            order
                .into_iter()
                .filter_map(|(id, s)| hits.remove(&id).map(|h| (h, s)))
                .collect()
        } else {
            lists.dense.into_iter().chain(lists.sparse).collect()
        };
        let results: Vec<QueryResult> = ranked
            .into_iter()
            .take(req.top_k)
            .map(|(h, score)| {
                let (metadata, citation) = take_citation(h.metadata);
                QueryResult {
                    chunk_id: h.chunk_id,
                    document_id: h.document_id,
                    content: h.content,
                    score,
                    page_num: h.page_num,
                    pipeline: h.pipeline,
                    metadata,
                    citation,
                    context: None,
                    page_image: None,
                }
            })
            .collect();
        Ok(results)
    }

    /// The index's candidate lists for the request's text search, before
    /// any fusion, and whether they are to be fused. A fused mode ranks a
    /// query in a script the embedding model cannot read by BM25 alone (see
    /// [`crate::search::language`]). Public so that evaluations can study fusion
    /// rules on exactly the lists the service fuses.
    pub async fn candidates(
        &self,
        caller: &Caller,
        req: &QueryRequest,
    ) -> Result<(IndexResults, bool), ApiError> {
        let (use_dense, use_sparse) = match req.search_mode {
            SearchMode::Dense => (true, false),
            SearchMode::Sparse => (false, true),
            SearchMode::Hybrid | SearchMode::Vdr | SearchMode::HybridVdrText => {
                // A query in a script the model cannot read has a meaningless
                // vector: rank it by BM25 alone, unless BM25 is weighted out.
                let vector_helps = req.sparse_weight <= 0.0
                    || model_reads(
                        self.embedder.script_coverage(),
                        self.embedder.model_id(),
                        &req.query,
                        "ranking by BM25 alone",
                    );
                let dense = req.dense_weight > 0.0 && vector_helps;
                let sparse = req.sparse_weight > 0.0 && (self.config.hybrid || !dense);
                (dense, sparse)
            }
        };
        let fused = use_dense && use_sparse;
        let limit = if fused {
            req.top_k.max(self.config.fusion_candidates)
        } else {
            req.top_k
        };
        // Embedded while the index reads what needs no vector.
        let dense = use_dense.then(|| {
            let (embedder, text) = (Arc::clone(&self.embedder), req.query.clone());
            DenseQuery {
                vector: QueryVector::pending(async move { embedder.embed_query(&text).await }),
                model: self.embedder.model_id().to_owned(),
                limit,
            }
        });
        let sparse = use_sparse.then(|| SparseQuery {
            terms: self.analyzer.query_terms(&req.query),
            params: self.config.bm25,
            limit,
        });
        let query = IndexQuery {
            scope: req.scope(
                caller,
                (req.search_mode == SearchMode::Vdr).then_some(Pipeline::Vdr),
            ),
            dense,
            sparse,
        };
        let lists = self.index.search(&query).await.map_err(|e| match e {
            IndexError::Embedding(e) => {
                tracing::error!(error = %e, "query embedding failed");
                ApiError::unavailable(
                    "the embedding model is unavailable; try again or use search_mode 'sparse'",
                )
            }
            e => {
                tracing::error!(error = %e, "index search failed");
                ApiError::internal()
            }
        })?;

        Ok((lists, fused))
    }
}

/// The `top_k` best of `results` by the reranker's scores, which replace
/// theirs (kept as `metadata.retrieval_score`); ties keep retrieval order.
async fn reranked(
    reranker: &dyn Reranker,
    query: &str,
    results: Vec<QueryResult>,
    top_k: usize,
) -> Result<Vec<QueryResult>, ApiError> {
    if results.is_empty() {
        return Ok(results);
    }
    let texts: Vec<String> = results.iter().map(|r| r.content.clone()).collect();
    let scores = reranker.rerank(query, &texts).await.map_err(|e| {
        tracing::error!(model = reranker.model_id(), error = %e, "reranking failed");
        ApiError::unavailable("the reranker is unavailable; try again or search without 'rerank'")
    })?;
    if scores.len() != results.len() {
        tracing::error!(
            model = reranker.model_id(),
            scores = scores.len(),
            results = results.len(),
            "reranker scored another number of documents"
        );
        return Err(ApiError::unavailable(
            "the reranker gave an invalid answer; try again or search without 'rerank'",
        ));
    }
    // A score that is not a number ranks last.
    let scores = scores
        .into_iter()
        .map(|s| if s.is_nan() { f64::NEG_INFINITY } else { s });
    let mut scored: Vec<(f64, QueryResult)> = scores.zip(results).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(scored
        .into_iter()
        .take(top_k)
        .map(|(score, mut r)| {
            if let Value::Object(m) = &mut r.metadata {
                m.insert("retrieval_score".into(), r.score.into());
                m.insert("reranker".into(), reranker.model_id().into());
            }
            QueryResult { score, ..r }
        })
        .collect())
}

/// A stored chunk's metadata without its citation, and the citation.
fn take_citation(mut metadata: Value) -> (Value, Option<Citation>) {
    let citation = metadata
        .as_object_mut()
        .and_then(|m| m.remove("citation"))
        .and_then(|c| serde_json::from_value(c).ok());
    (metadata, citation)
}

/// Whether the model reads the query's script; when it does not, logs that
/// the search goes `instead` without the model's vectors.
fn model_reads(coverage: &ScriptCoverage, model: &str, query: &str, instead: &str) -> bool {
    let readable = coverage.reads(query);
    if !readable {
        tracing::info!(
            script = ?crate::search::language::dominant_script(query),
            model,
            "the model does not read the query's script; {instead}"
        );
    }
    readable
}

/// Text results and page results in one ranking by reciprocal rank: a page
/// and the text chunks on it are one result (shown as the page, with its
/// image), so a page found both ways rises above one found either way.
fn fuse_pages(text: Vec<QueryResult>, pages: Vec<PageHit>, top_k: usize) -> Vec<QueryResult> {
    let mut by_key: std::collections::HashMap<String, QueryResult> = Default::default();
    let mut text_list = Vec::new();
    for r in text {
        let key = page_key(&r.document_id, r.page_num, &r.chunk_id);
        if let std::collections::hash_map::Entry::Vacant(slot) = by_key.entry(key.clone()) {
            text_list.push((key, r.score));
            slot.insert(r);
        }
    }
    let mut page_list = Vec::new();
    for p in pages {
        let key = page_key(&p.document_id, Some(p.page_num), "");
        page_list.push((key.clone(), p.score));
        // The page's own result (snippet, image) wins over a chunk of it.
        by_key.insert(key, p.into_result());
    }
    fuse(
        &text_list,
        &page_list,
        Fusion::Rrf {
            dense: 1.0,
            sparse: 1.0,
        },
    )
    .into_iter()
    .filter_map(|(key, score)| by_key.remove(&key).map(|r| QueryResult { score, ..r }))
    .take(top_k)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> ApiError {
        QueryRequest::from_json(body.as_bytes()).expect_err(body)
    }

    #[test]
    fn defaults_apply() {
        let r = QueryRequest::from_json(br#"{"query": "findings"}"#).unwrap();
        assert_eq!(r, QueryRequest::new("findings"));
        let r = QueryRequest::from_json(br#"{"query":"q","top_k":100,"search_mode":"sparse","dense_weight":0,"sparse_weight":1,"use_rrf":true,"document_ids":["a#b"],"extra":1}"#).unwrap();
        assert_eq!(
            (r.top_k, r.search_mode, r.fusion, r.document_ids),
            (
                100,
                SearchMode::Sparse,
                FusionMethod::Rrf,
                Some(vec!["a#b".to_string()])
            )
        );
        // The design's example body (use_rrf: false) gets the default fusion;
        // min-max only when asked for by name.
        let fusion = |body: &str| QueryRequest::from_json(body.as_bytes()).unwrap().fusion;
        assert_eq!(
            fusion(r#"{"query":"q","use_rrf":false}"#),
            FusionMethod::Rrf
        );
        assert_eq!(
            fusion(r#"{"query":"q","use_rrf":false,"fusion":"min_max"}"#),
            FusionMethod::MinMax
        );
        assert_eq!(
            fusion(r#"{"query":"q","use_rrf":true,"fusion":"rrf"}"#),
            FusionMethod::Rrf
        );
    }

    #[test]
    fn every_bad_request_is_a_400_naming_the_problem() {
        let cases = [
            ("{not json", "invalid_json", "not valid JSON"),
            ("[1,2]", "invalid_json", "JSON object"),
            ("{}", "missing_field", "'query'"),
            (
                r#"{"query": 5}"#,
                "invalid_field",
                "'query' must be a string",
            ),
            (r#"{"query": "   "}"#, "invalid_field", "must not be empty"),
            (r#"{"query": "q", "top_k": 0}"#, "invalid_field", "'top_k'"),
            (
                r#"{"query": "q", "top_k": 101}"#,
                "invalid_field",
                "from 1 to 100",
            ),
            (
                r#"{"query": "q", "top_k": 2.5}"#,
                "invalid_field",
                "'top_k'",
            ),
            (
                r#"{"query": "q", "top_k": "10"}"#,
                "invalid_field",
                "must be an integer",
            ),
            (
                r#"{"query": "q", "search_mode": "fuzzy"}"#,
                "invalid_field",
                "'fuzzy'",
            ),
            (
                r#"{"query": "q", "dense_weight": 1.5}"#,
                "invalid_field",
                "'dense_weight' must be between 0 and 1",
            ),
            (
                r#"{"query": "q", "sparse_weight": -0.1}"#,
                "invalid_field",
                "'sparse_weight'",
            ),
            (
                r#"{"query": "q", "dense_weight": 0, "sparse_weight": 0}"#,
                "invalid_field",
                "both be 0",
            ),
            (
                r#"{"query": "q", "use_rrf": "yes"}"#,
                "invalid_field",
                "'use_rrf'",
            ),
            (
                r#"{"query": "q", "fusion": "weighted"}"#,
                "invalid_field",
                "'weighted' is not one of rrf, min_max",
            ),
            (
                r#"{"query": "q", "fusion": 1}"#,
                "invalid_field",
                "'fusion'",
            ),
            (
                r#"{"query": "q", "use_rrf": true, "fusion": "min_max"}"#,
                "invalid_field",
                "'use_rrf' is true while 'fusion' asks for min_max",
            ),
            (
                r#"{"query": "q", "document_ids": "a"}"#,
                "invalid_field",
                "'document_ids'",
            ),
            (
                r#"{"query": "q", "document_ids": [1]}"#,
                "invalid_field",
                "'document_ids'",
            ),
        ];
        let many_ids = serde_json::json!({"query": "q", "document_ids": vec!["b#k"; 1001]});
        let long_id = serde_json::json!({"query": "q", "document_ids": ["b#".repeat(600)]});
        let (many_ids, long_id) = (many_ids.to_string(), long_id.to_string());
        let cases = cases.into_iter().chain([
            (many_ids.as_str(), "invalid_field", "the limit is 1000"),
            (long_id.as_str(), "invalid_field", "longer than 1088 bytes"),
        ]);
        for (body, code, text) in cases {
            let e = err(body);
            assert_eq!((e.status, e.code), (400, code), "{body}: {e}");
            assert!(e.error.contains(text), "{body}: {}", e.error);
        }
        let long = format!(r#"{{"query": "{}"}}"#, "é".repeat(MAX_QUERY_CHARS + 1));
        assert!(err(&long).error.contains("2001 characters"));
        let ok = format!(r#"{{"query": "{}"}}"#, "é".repeat(MAX_QUERY_CHARS));
        assert!(
            QueryRequest::from_json(ok.as_bytes()).is_ok(),
            "the limit counts characters, not bytes"
        );
    }
}
