//! `vdr` query latency over 10,000 stored pages, against the exact MaxSim
//! scan the HNSW candidates replace (measured in the same run), with the
//! candidates' recall of the exact top 10. Not a pass/fail test: run it with
//!
//! ```sh
//! cargo test -p integration-tests --test vdr_bench -- --ignored --nocapture
//! ```
//!
//! Pages get 12 vectors each (spans of a page's text with the local page
//! model; ColPali gives about 1,000 smaller ones), 384 dimensions, drawn
//! around 200 topics so that pages have real nearest neighbours.

use std::time::Instant;

use integration_tests::{index, new_user};
use rag_core::domain::classify::Pipeline;
use rag_core::ports::{
    DocumentRecord, Index, PageIndex, PageQuery, PageRecord, PageTextSource, SearchScope,
};
use rag_index_pg::PgIndex;
use serde_json::json;

const PAGES: u32 = 10_000;
const VECTORS_PER_PAGE: usize = 12;
const TOPICS: usize = 200;
const PAGES_PER_DOCUMENT: u32 = 100;
const MODEL: &str = "bench-page-model";

/// A small deterministic generator (xorshift), so runs compare.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    }
    fn unit(&mut self, dims: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dims).map(|_| self.next()).collect();
        normalize(v)
    }
}

fn normalize(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.into_iter().map(|x| x / n).collect()
}

/// A vector near `topic`.
fn near(rng: &mut Rng, topic: &[f32], spread: f32) -> Vec<f32> {
    normalize(topic.iter().map(|t| t + spread * rng.next()).collect())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn exact_top(index: &PgIndex, user: &str, query: &[Vec<f32>], dims: usize) -> Vec<i64> {
    let vectors: Vec<pgvector::Vector> = query
        .iter()
        .map(|v| pgvector::Vector::from(v.clone()))
        .collect();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH q AS (SELECT ord, v::vector({dims}) AS v FROM unnest($2::vector[]) WITH ORDINALITY AS t(v, ord)),
         best AS (SELECT pv.page_id, q.ord, MAX(1 - (pv.embedding::vector({dims}) <=> q.v)) AS sim
                  FROM vdr_page_vectors pv CROSS JOIN q WHERE pv.owner = $1 GROUP BY pv.page_id, q.ord)
         SELECT page_id FROM best GROUP BY page_id ORDER BY SUM(sim) DESC, page_id LIMIT 10"
    )))
    .bind(user)
    .bind(&vectors)
    .fetch_all(index.pool())
    .await
    .expect("exact MaxSim")
}

#[tokio::test]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn vdr_query_latency_over_ten_thousand_pages() {
    let index = index().await;
    let (_, dims) = index.dimensions();
    let user = new_user("vdr-bench");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let topics: Vec<Vec<f32>> = (0..TOPICS).map(|_| rng.unit(dims)).collect();

    let started = Instant::now();
    for d in 0..PAGES / PAGES_PER_DOCUMENT {
        let doc = DocumentRecord {
            document_id: format!("bench#{}/doc-{d}.pdf", user.user),
            owner: user.user.clone(),
            bucket: "bench".into(),
            key: format!("{}/doc-{d}.pdf", user.user),
            file_name: format!("doc-{d}.pdf"),
            content_type: Some("application/pdf".into()),
            pipeline: Pipeline::Vdr,
            embedding_model: MODEL.into(),
            page_count: None,
            metadata: json!({}),
        };
        let pages: Vec<PageRecord> = (1..=PAGES_PER_DOCUMENT)
            .map(|n| {
                let topic = &topics[rng.0 as usize % TOPICS];
                PageRecord {
                    page_num: n,
                    image_key: None,
                    content: format!("page {n}"),
                    text_source: PageTextSource::TextLayer,
                    vectors: (0..VECTORS_PER_PAGE)
                        .map(|_| near(&mut rng, topic, 0.15))
                        .collect(),
                    metadata: json!({}),
                }
            })
            .collect();
        index
            .replace_pages(&doc, 1, PAGES_PER_DOCUMENT, &pages, &[])
            .await
            .expect("store pages");
    }
    index.analyze().await.expect("analyze");
    let store_s = started.elapsed().as_secs_f64();

    let mut hnsw_ms = Vec::new();
    let mut exact_ms = Vec::new();
    let mut overlap = 0usize;
    let queries = 40;
    for i in 0..queries {
        let topic = &topics[(i * 7) % TOPICS];
        // One vector (the local page model) for half the queries, eight
        // (a short ColPali-style query) for the others.
        let n = if i % 2 == 0 { 1 } else { 8 };
        let vectors: Vec<Vec<f32>> = (0..n).map(|_| near(&mut rng, topic, 0.2)).collect();
        let query = PageQuery {
            scope: SearchScope {
                caller: user.clone(),
                document_ids: None,
                pipeline: None,
                filter: None,
            },
            vectors: vectors.clone(),
            model: MODEL.into(),
            candidates_per_vector: 40,
            limit: 10,
        };
        let t = Instant::now();
        let hits = index.search_pages(&query).await.expect("search");
        hnsw_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let exact = exact_top(&index, &user.user, &vectors, dims).await;
        exact_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let found: std::collections::HashSet<String> =
            hits.iter().map(|h| h.page_id.clone()).collect();
        overlap += exact
            .iter()
            .filter(|id| found.contains(&id.to_string()))
            .count();
    }
    hnsw_ms.sort_by(f64::total_cmp);
    exact_ms.sort_by(f64::total_cmp);
    let (h50, h95) = (percentile(&hnsw_ms, 0.5), percentile(&hnsw_ms, 0.95));
    let (e50, e95) = (percentile(&exact_ms, 0.5), percentile(&exact_ms, 0.95));
    println!(
        "{PAGES} pages x {VECTORS_PER_PAGE} vectors ({dims} dims) stored in {store_s:.1} s ({:.0} pages/s)",
        f64::from(PAGES) / store_s
    );
    println!("vdr (HNSW candidates + exact MaxSim): p50 {h50:.1} ms, p95 {h95:.1} ms");
    println!("peer, exact MaxSim scan:             p50 {e50:.1} ms, p95 {e95:.1} ms");
    println!(
        "ratio p50 exact/vdr {:.1}x; recall of the exact top 10: {:.3}",
        e50 / h50,
        overlap as f64 / (queries * 10) as f64
    );
    assert!(index.purge(&user).await.is_ok());
}

/// Pages per second of each VDR stage at the pipeline's default 150 DPI, on
/// 40 generated pages: render (PDFium, with PNG encoding), embed (the local
/// text-span page model plus the text chunks), store (one transaction per
/// batch of 8). Run with `--ignored --nocapture`.
#[tokio::test]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn vdr_stage_throughput() {
    use rag_core::ingest::page_spans::TextSpanPageEmbedder;
    use rag_core::ingest::pipeline::VdrConfig;
    use rag_core::ports::ExtractInput;
    use rag_core::ports::{Embedder, PageEmbedder, PageRenderer};

    const N: u32 = 40;
    let pdf = integration_tests::numbered_pdf(N);
    let renderer = rag_extract::PdfPageRenderer::default();
    let dpi = VdrConfig::default().dpi;
    let started = Instant::now();
    let source = renderer
        .open(ExtractInput::new(
            &pdf,
            "bench.pdf",
            Some("application/pdf"),
        ))
        .expect("open");
    let pages: Vec<_> = (1..=N)
        .map(|n| source.render(n, dpi).expect("render"))
        .collect();
    let render_s = started.elapsed().as_secs_f64();

    let text = integration_tests::embedder().await;
    let spans = integration_tests::chunker(&text, 48, 8);
    let model = TextSpanPageEmbedder::new(text.clone(), spans);
    let started = Instant::now();
    let vectors = model.embed_pages(&pages).await.expect("embed pages");
    let texts: Vec<String> = pages.iter().map(|p| p.text.clone()).collect();
    let chunk_vectors = text.embed_documents(&texts).await.expect("embed chunks");
    let embed_s = started.elapsed().as_secs_f64();

    let index = index().await;
    let user = new_user("vdr-stages");
    let doc = DocumentRecord {
        document_id: format!("bench#{}/stages.pdf", user.user),
        owner: user.user.clone(),
        bucket: "bench".into(),
        key: format!("{}/stages.pdf", user.user),
        file_name: "stages.pdf".into(),
        content_type: Some("application/pdf".into()),
        pipeline: Pipeline::Vdr,
        embedding_model: model.model_id().into(),
        page_count: None,
        metadata: json!({}),
    };
    let analyzer = rag_core::search::analyzer::Analyzer::new();
    let started = Instant::now();
    for batch in 0..N / 8 {
        let range = batch * 8..(batch + 1) * 8;
        let records: Vec<PageRecord> = range
            .clone()
            .map(|i| PageRecord {
                page_num: i + 1,
                image_key: None,
                content: pages[i as usize].text.clone(),
                text_source: pages[i as usize].text_source,
                vectors: vectors[i as usize].clone(),
                metadata: json!({}),
            })
            .collect();
        let chunks = rag_core::ingest::pipeline::indexing::chunk_records(
            &analyzer,
            range
                .clone()
                .map(|i| (Some(i + 1), texts[i as usize].clone()))
                .collect(),
            range
                .clone()
                .map(|i| chunk_vectors[i as usize].clone())
                .collect(),
            &json!({}),
        );
        let chunks: Vec<_> = chunks
            .into_iter()
            .zip(range.clone())
            .map(|(mut c, i)| {
                c.chunk_index = (i + 1) * rag_core::ingest::pipeline::PAGE_CHUNK_STRIDE;
                c
            })
            .collect();
        index
            .replace_pages(&doc, range.start + 1, range.end, &records, &chunks)
            .await
            .expect("store");
    }
    let store_s = started.elapsed().as_secs_f64();
    let rate = |s: f64| f64::from(N) / s;
    println!(
        "{N} pages at {dpi} DPI: render {:.1} pages/s, embed {:.1} pages/s, store {:.1} pages/s; all three {:.1} pages/s",
        rate(render_s),
        rate(embed_s),
        rate(store_s),
        rate(render_s + embed_s + store_s)
    );
    assert!(index.purge(&user).await.is_ok());
}
