//! The query service over the in-memory index ([`crate::testing`]): who
//! sees what, and what page results carry. The same behaviour on
//! PostgreSQL is tested in `integration-tests`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::analyzer::Analyzer;
use super::query::{PageSearch, QueryConfig, QueryRequest, QueryService, SearchMode};
use crate::domain::classify::Pipeline;
use crate::domain::identity::Caller;
use crate::ingest::chunking::{ApproxTokenCounter, Chunker, ChunkingConfig};
use crate::ingest::page_spans::TextSpanPageEmbedder;
use crate::ingest::pipeline::indexing::chunk_records;
use crate::ports::{
    BlobError, BlobLinker, BlobRef, DocumentRecord, Embedder, Index, PageEmbedder, PageIndex,
    PageRecord, PageTextSource, RenderedPage,
};
use crate::testing::{BagOfWordsEmbedder, MemoryIndex};

/// Links `blob` as `linked:<bucket>/<key>`.
struct Links;
#[async_trait]
impl BlobLinker for Links {
    async fn link(&self, blob: &BlobRef) -> Result<String, BlobError> {
        Ok(format!("linked:{}/{}", blob.bucket, blob.key))
    }
}

fn record(owner: &str, name: &str, pipeline: Pipeline, model: &str) -> DocumentRecord {
    DocumentRecord {
        document_id: format!("uploads#{owner}/{name}"),
        owner: owner.into(),
        bucket: "uploads".into(),
        key: format!("{owner}/{name}"),
        file_name: name.into(),
        content_type: None,
        pipeline,
        embedding_model: model.into(),
        page_count: None,
        metadata: json!({}),
    }
}

struct World {
    index: Arc<MemoryIndex>,
    service: QueryService,
}

async fn world() -> World {
    let embedder = Arc::new(BagOfWordsEmbedder::default());
    let pages = Arc::new(TextSpanPageEmbedder::new(
        embedder.clone(),
        Chunker::new(
            Arc::new(ApproxTokenCounter),
            ChunkingConfig {
                max_tokens: 48,
                overlap_tokens: 0,
            },
        )
        .expect("span chunker"),
    ));
    let index = Arc::new(MemoryIndex::default());
    let analyzer = Arc::new(Analyzer::new());
    let text = |owner: &str, name: &str, chunks: &[&str]| {
        let chunks: Vec<(Option<u32>, String)> =
            chunks.iter().map(|c| (Some(1), (*c).to_owned())).collect();
        let texts: Vec<String> = chunks.iter().map(|(_, c)| c.clone()).collect();
        (
            record(owner, name, Pipeline::TextRag, "bag-of-words"),
            chunks,
            texts,
        )
    };
    for (doc, chunks, texts) in [
        text(
            "alice",
            "notes.md",
            &[
                "the lighthouse keeper logs storms",
                "quarterly revenue grew",
            ],
        ),
        text("bob", "diary.md", &["a lighthouse keeper diary"]),
    ] {
        let vectors = embedder.embed_documents(&texts).await.expect("vectors");
        let records = chunk_records(&analyzer, chunks, vectors, &json!({}));
        index
            .replace_document(&doc, &records)
            .await
            .expect("stored");
    }
    let page_text = "lighthouse maintenance schedule";
    let rendered = RenderedPage {
        page_num: 1,
        png: Vec::new(),
        width: 0,
        height: 0,
        text: page_text.into(),
        text_source: PageTextSource::TextLayer,
    };
    let vectors = pages.embed_pages(&[rendered]).await.expect("page vectors");
    let page = PageRecord {
        page_num: 1,
        image_key: Some("rendered-pages/alice/slides.pdf/page-1.png".into()),
        content: page_text.into(),
        text_source: PageTextSource::TextLayer,
        vectors: vectors.into_iter().next().unwrap_or_default(),
        metadata: json!({}),
    };
    let slides = record("alice", "slides.pdf", Pipeline::Vdr, pages.model_id());
    index
        .replace_pages(&slides, 1, 1, &[page], &[])
        .await
        .expect("page stored");
    let service = QueryService {
        embedder,
        index: index.clone(),
        analyzer,
        config: QueryConfig::default(),
        pages: Some(PageSearch {
            embedder: pages,
            index: index.clone(),
            candidates_per_vector: 10,
        }),
        links: Some(Arc::new(Links)),
        reranker: None,
    };
    World { index, service }
}

fn files(results: &[super::query::QueryResult]) -> Vec<&str> {
    results
        .iter()
        .filter_map(|r| r.metadata.get("file_name").and_then(Value::as_str))
        .collect()
}

#[tokio::test]
async fn a_caller_finds_only_what_they_own_or_were_granted() {
    let w = world().await;
    let alice = Caller::new("alice");
    let search = |mode| QueryRequest {
        search_mode: mode,
        ..QueryRequest::new("lighthouse keeper")
    };
    for mode in [SearchMode::Hybrid, SearchMode::Dense, SearchMode::Sparse] {
        let found = w
            .service
            .search(&alice, &search(mode))
            .await
            .expect("search");
        assert_eq!(files(&found.results)[0], "notes.md", "{mode:?}");
        assert!(!files(&found.results).contains(&"diary.md"), "{mode:?}");
    }
    let bob = Caller::new("bob");
    let diary = "uploads#bob/diary.md";
    assert!(w.index.grant(&bob, diary, "alice").await.expect("grant"));
    let found = w
        .service
        .search(&alice, &search(SearchMode::Hybrid))
        .await
        .expect("search");
    assert!(files(&found.results).contains(&"diary.md"));
    // Alice cannot share or delete what she was only granted.
    assert!(!w.index.grant(&alice, diary, "carol").await.expect("grant"));
    assert!(!w
        .index
        .delete_document(&alice, diary)
        .await
        .expect("delete"));
}

#[tokio::test]
async fn a_page_result_links_its_rendered_image() {
    let w = world().await;
    let req = QueryRequest {
        search_mode: SearchMode::Vdr,
        ..QueryRequest::new("lighthouse maintenance")
    };
    let found = w
        .service
        .search(&Caller::new("alice"), &req)
        .await
        .expect("search");
    let page = found.results.first().expect("the page is found");
    let key = "rendered-pages/alice/slides.pdf/page-1.png";
    assert_eq!(
        page.page_image,
        Some(BlobRef {
            bucket: "uploads".into(),
            key: key.into(),
        })
    );
    assert_eq!(
        page.metadata["image_url"],
        json!(format!("linked:uploads/{key}"))
    );
    assert_eq!(page.metadata["image_key"], json!(key));
    // The typed reference is what the link is made from, and it stays off
    // the wire.
    let wire = serde_json::to_value(page).expect("serialises");
    assert!(wire.get("page_image").is_none());
    // Bob sees no page of Alice's.
    let theirs = w
        .service
        .search(&Caller::new("bob"), &req)
        .await
        .expect("search");
    assert!(theirs.results.is_empty());
}
