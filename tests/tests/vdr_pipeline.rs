//! The visual VDR pipeline end to end: real PDFs rendered with PDFium, scans
//! OCR'd with Tesseract, pages embedded as span vectors with the local
//! model, stored in PostgreSQL and found by MaxSim.

use std::path::Path;
use std::sync::Arc;

use integration_tests::{
    embedder, index, new_user, recording_status, shared_pdf, started_job, workspace,
    RecordingStatusStore,
};
use rag_core::domain::classify::Pipeline;
use rag_core::domain::job::PipelineJob;
use rag_core::domain::status::Stage;
use rag_core::ingest::page_spans::TextSpanPageEmbedder;
use rag_core::ingest::pipeline::JobRunner as _;
use rag_core::ingest::pipeline::{
    page_image_key, FollowUp, RunOutcome, RunReporter, TextPipeline, VdrConfig, VdrPipeline,
    VisualPages,
};
use rag_core::ports::{BlobRef, BlobStore, JobQueue, PageEmbedder, QueueError};
use rag_core::search::analyzer::Analyzer;
use rag_core::search::query::{
    PageSearch, QueryConfig, QueryRequest, QueryResult, QueryService, SearchMode,
};
use rag_core::Caller;
use rag_extract::PdfPageRenderer;
use rag_local::FsBlobStore;

struct Vdr {
    _dir: tempfile::TempDir,
    bucket: String,
    blobs: Arc<FsBlobStore>,
    status: Arc<RecordingStatusStore>,
    pipeline: VdrPipeline,
    /// The text pipeline, handing scanned PDFs to `handed`.
    text: TextPipeline,
    handed: Arc<Handed>,
    query: QueryService,
}

/// A queue that keeps what it is sent.
#[derive(Default)]
struct Handed(std::sync::Mutex<Vec<PipelineJob>>);

#[async_trait::async_trait]
impl JobQueue for Handed {
    async fn send(&self, job: &PipelineJob) -> Result<(), QueueError> {
        self.0
            .lock()
            .map_err(|e| QueueError(e.to_string()))?
            .push(job.clone());
        Ok(())
    }
}

async fn vdr() -> Vdr {
    let dir = tempfile::tempdir().expect("temp dir");
    let bucket = format!("bucket-{}", uuid::Uuid::new_v4());
    let text = embedder().await;
    let index = index().await;
    let status = recording_status();
    let blobs = Arc::new(FsBlobStore::new().with_bucket(bucket.clone(), dir.path()));
    let analyzer = Arc::new(Analyzer::new());
    let chunker = |max, overlap| integration_tests::chunker(&text, max, overlap);
    let pages: Arc<dyn PageEmbedder> =
        Arc::new(TextSpanPageEmbedder::new(text.clone(), chunker(48, 8)));
    let handed = Arc::new(Handed::default());
    let text_pipeline = TextPipeline {
        follow_up: Some(FollowUp {
            jobs: handed.clone(),
            ranges: Arc::new(index.clone()),
        }),
        ..integration_tests::text_pipeline(blobs.clone(), &index, status.clone(), &text)
    };
    let pipeline = VdrPipeline {
        text: integration_tests::text_pipeline(blobs.clone(), &index, status.clone(), &text),
        visual: Some(VisualPages {
            renderer: Arc::new(PdfPageRenderer::default()),
            embedder: pages.clone(),
            index: Arc::new(index.clone()),
            config: VdrConfig {
                batch_pages: 3,
                ..VdrConfig::default()
            },
            jobs: None,
        }),
    };
    let query = QueryService {
        embedder: text,
        index: Arc::new(index.clone()),
        analyzer,
        config: QueryConfig::default(),
        pages: Some(PageSearch {
            embedder: pages,
            index: Arc::new(index),
            candidates_per_vector: 100,
        }),
        links: None,
        reranker: None,
    };
    Vdr {
        _dir: dir,
        bucket,
        blobs,
        status,
        pipeline,
        text: text_pipeline,
        handed,
        query,
    }
}

impl Vdr {
    async fn ingest(&self, user: &Caller, path: &Path) -> (PipelineJob, RunOutcome) {
        let bytes = std::fs::read(path).expect("sample PDF");
        let pdf = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a file name");
        let blob = BlobRef {
            bucket: self.bucket.clone(),
            key: format!("{}/{pdf}", user.user),
        };
        let content_type = FsBlobStore::guess_content_type(pdf).unwrap_or_default();
        BlobStore::put(self.blobs.as_ref(), &blob, bytes, &content_type)
            .await
            .expect("put");
        let job = started_job(
            self.blobs.as_ref(),
            &self.status,
            &blob,
            user,
            Some(Pipeline::Vdr),
        )
        .await
        .expect("job");
        let outcome = self
            .pipeline
            .run(&job)
            .await
            .expect("no infrastructure fault");
        (job, outcome)
    }

    /// The scanned letter uploaded as `user`'s, and the job of its first
    /// run (routed to text RAG: nothing tells the classifier it is a scan).
    async fn scanned_letter(&self, user: &Caller) -> (BlobRef, PipelineJob) {
        let scan = std::fs::read(workspace().join("tests/fixtures/scanned-letter.pdf")).unwrap();
        let blob = BlobRef {
            bucket: self.bucket.clone(),
            key: format!("{}/letter.pdf", user.user),
        };
        BlobStore::put(self.blobs.as_ref(), &blob, scan, "application/pdf")
            .await
            .expect("put");
        let meta = self.blobs.head(&blob).await.expect("head");
        let (job, _) =
            PipelineJob::for_object(&blob, &meta, None, &user.user, "run-1".into(), true)
                .expect("job");
        (blob, job)
    }

    async fn search(&self, user: &Caller, query: &str, mode: SearchMode) -> Vec<QueryResult> {
        let mut req = QueryRequest::new(query);
        req.search_mode = mode;
        self.query.search(user, &req).await.expect("search").results
    }
}

#[tokio::test]
async fn a_scanned_page_is_rendered_ocrd_and_found_by_its_text() {
    let vdr = vdr().await;
    let user = new_user("vdr-scan");
    let scan = workspace().join("tests/fixtures/scanned-letter.pdf");
    let (job, outcome) = vdr.ingest(&user, &scan).await;
    assert!(
        matches!(outcome, RunOutcome::Completed { pages: 1, .. }),
        "{outcome:?}"
    );
    let history = vdr.status.history_of(&job.status_id);
    let done = history.last().expect("a status");
    assert_eq!(done.status, Stage::Completed);
    assert_eq!(done.metadata["ocr_pages"], 1, "{:?}", done.metadata);
    assert_eq!(done.metadata["vdr_mode"], "visual");
    // A document done in one job reports its chunks and time like any.
    assert!(
        done.metadata["chunks"].as_u64().is_some_and(|n| n > 0),
        "{:?}",
        done.metadata
    );
    assert!(
        done.metadata["elapsed_ms"].as_u64().is_some(),
        "{:?}",
        done.metadata
    );
    assert!(history.iter().any(|r| r.status == Stage::EmbeddingPages));
    let progress: Vec<u8> = history.iter().map(|r| r.progress).collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");

    // The rendered page is stored next to the document.
    let image = vdr
        .blobs
        .get(
            &BlobRef {
                bucket: vdr.bucket.clone(),
                key: page_image_key(&job.key, 1),
            },
            u64::MAX,
        )
        .await
        .expect("rendered page stored");
    assert!(image.starts_with(b"\x89PNG"));

    let hits = vdr
        .search(
            &user,
            "when is the pump station closed for maintenance?",
            SearchMode::Vdr,
        )
        .await;
    let top = hits.first().expect("the scan is found");
    assert_eq!(
        (top.document_id.as_str(), top.page_num),
        (job.status_id.as_str(), Some(1))
    );
    assert_eq!(top.metadata["text_source"], "ocr");
    assert_eq!(top.metadata["match"], "page");
    assert!(top.content.contains("March 14"), "{}", top.content);
}

#[tokio::test]
async fn a_page_with_neither_text_nor_ocr_is_stored_and_reported() {
    let vdr = vdr().await;
    let user = new_user("vdr-picture");
    // A drawing: no text layer, nothing for OCR to read.
    let (job, outcome) = vdr.ingest(&user, &shared_pdf("grayscale-image.pdf")).await;
    assert!(
        matches!(
            outcome,
            RunOutcome::Completed {
                pages: 1,
                chunks: 0
            }
        ),
        "{outcome:?}"
    );
    let done = vdr
        .status
        .history_of(&job.status_id)
        .pop()
        .expect("a status");
    assert_eq!(done.metadata["pages_without_text"], serde_json::json!([1]));
    assert!(vdr
        .blobs
        .head(&BlobRef {
            bucket: vdr.bucket.clone(),
            key: page_image_key(&job.key, 1),
        })
        .await
        .is_ok());
}

#[tokio::test]
async fn questions_about_a_page_return_that_page_first() {
    let vdr = vdr().await;
    let user = new_user("vdr-pages");
    let (job, outcome) = vdr.ingest(&user, &shared_pdf("pdflatex-outline.pdf")).await;
    assert!(
        matches!(outcome, RunOutcome::Completed { pages: 4, .. }),
        "{outcome:?}"
    );
    // The table of contents is on page 1 only.
    let hits = vdr
        .search(&user, "table of contents", SearchMode::Vdr)
        .await;
    let top = hits.first().expect("a page");
    assert_eq!(
        (top.document_id.as_str(), top.page_num),
        (job.status_id.as_str(), Some(1)),
        "{hits:?}"
    );
    assert!(top.metadata["image_key"]
        .as_str()
        .is_some_and(|k| k.ends_with("page-00001.png")));
    // Fused with text search, every page is one result, shown as the page.
    let fused = vdr
        .search(&user, "table of contents", SearchMode::HybridVdrText)
        .await;
    let mut pages: Vec<Option<u32>> = fused.iter().map(|r| r.page_num).collect();
    pages.sort();
    assert_eq!(pages, [Some(1), Some(2), Some(3), Some(4)], "{fused:?}");
    assert!(fused.iter().all(|r| r.metadata["match"] == "page"));
    // A table of countries is on page 3 of the three-page multicolumn PDF.
    let (table, outcome) = vdr.ingest(&user, &shared_pdf("multicolumn.pdf")).await;
    assert!(
        matches!(outcome, RunOutcome::Completed { pages: 3, .. }),
        "{outcome:?}"
    );
    let hits = vdr
        .search(
            &user,
            "population and capital of the Czech Republic",
            SearchMode::Vdr,
        )
        .await;
    let top = hits.first().expect("a page");
    assert_eq!(
        (top.document_id.as_str(), top.page_num),
        (table.status_id.as_str(), Some(3)),
        "{hits:?}"
    );
    // Nobody else finds it.
    let other = new_user("vdr-other");
    assert!(vdr
        .search(&other, "table of contents", SearchMode::Vdr)
        .await
        .is_empty());
}

#[tokio::test]
async fn a_query_the_page_model_cannot_read_is_answered_from_page_text() {
    // The local page model embeds spans with all-MiniLM-L6-v2, whose card
    // says `language: en`: an Arabic query's page vectors are noise, and
    // MaxSim would rank every page of the user's documents by it.
    let vdr = vdr().await;
    let user = new_user("vdr-arabic");
    let (english, _) = vdr.ingest(&user, &shared_pdf("pdflatex-outline.pdf")).await;
    // An Arabic letter, converted to PDF by LibreOffice like any office file.
    let dir = tempfile::tempdir().expect("temp dir");
    let letter = dir.path().join("nile.rtf");
    let arabic_text = "نهر النيل أطول نهر في العالم، يجري في مصر والسودان ويصب في البحر المتوسط.";
    let escaped: String = arabic_text
        .chars()
        .map(|c| match c {
            c if c.is_ascii() => c.to_string(),
            c => format!("\\u{}?", c as u32),
        })
        .collect();
    std::fs::write(
        &letter,
        format!(
            "{{\\rtf1\\ansi\\deff0{{\\fonttbl{{\\f0 DejaVu Sans;}}}}\\f0\\rtlpar {escaped}\\par}}"
        ),
    )
    .expect("write the letter");
    let (arabic, outcome) = vdr.ingest(&user, &letter).await;
    assert!(
        matches!(outcome, RunOutcome::Completed { pages: 1, .. }),
        "{outcome:?}"
    );
    for mode in [SearchMode::Vdr, SearchMode::HybridVdrText] {
        let hits = vdr.search(&user, "أين يصب نهر النيل؟", mode).await;
        let found: Vec<(&str, Option<u32>)> = hits
            .iter()
            .map(|h| (h.document_id.as_str(), h.page_num))
            .collect();
        assert_eq!(found, [(arabic.status_id.as_str(), Some(1))], "{mode:?}");
    }
    // An English query still goes through the page model.
    let hits = vdr
        .search(&user, "table of contents", SearchMode::Vdr)
        .await;
    let top = hits.first().expect("a page");
    assert_eq!(
        (top.document_id.as_str(), top.metadata["match"].as_str()),
        (english.status_id.as_str(), Some("page"))
    );
}

#[tokio::test]
async fn a_presentation_is_converted_by_libreoffice_and_each_slide_rendered() {
    let vdr = vdr().await;
    let user = new_user("vdr-deck");
    let deck = workspace().join("crates/rag-extract/tests/fixtures/office/deck.pptx");
    let (job, outcome) = vdr.ingest(&user, &deck).await;
    let done = vdr
        .status
        .history_of(&job.status_id)
        .pop()
        .expect("a status");
    // LibreOffice is installed by scripts/sysdeps.sh; without it the deck is
    // indexed per slide of text and the status says so instead.
    assert_eq!(done.metadata["vdr_mode"], "visual", "{:?}", done.metadata);
    assert!(
        matches!(outcome, RunOutcome::Completed { pages: 4, .. }),
        "{outcome:?}"
    );
    let hits = vdr
        .search(&user, "how much did the water rise?", SearchMode::Vdr)
        .await;
    let top = hits.first().expect("a slide");
    assert_eq!(
        (top.document_id.as_str(), top.page_num),
        (job.status_id.as_str(), Some(2)),
        "{hits:?}"
    );
}

#[tokio::test]
async fn a_scanned_pdf_sent_to_the_text_pipeline_goes_on_to_vdr_as_a_new_run() {
    let vdr = vdr().await;
    let user = new_user("vdr-reroute");
    let (_, job) = vdr.scanned_letter(&user).await;
    // Nothing tells the classifier it is a scan: it goes to text RAG.
    assert_eq!(job.pipeline, Pipeline::TextRag);
    RunReporter::new(vdr.status.clone(), &job)
        .start_run(true, "queued")
        .await;
    let outcome = vdr.text.run(&job).await.expect("no infrastructure fault");
    assert!(
        matches!(
            outcome,
            RunOutcome::HandedOver {
                to: Pipeline::Vdr,
                ..
            }
        ),
        "{outcome:?}"
    );
    let next = vdr.handed.0.lock().unwrap().pop().expect("a VDR job");
    assert_eq!(
        (next.pipeline, next.status_id.as_str()),
        (Pipeline::Vdr, job.status_id.as_str())
    );
    assert_ne!(next.run_id, job.run_id);
    let queued = vdr
        .status
        .history_of(&job.status_id)
        .pop()
        .expect("a status");
    assert_eq!(
        (queued.status, queued.pipeline, queued.run_id.as_str()),
        (Stage::Queued, Some(Pipeline::Vdr), next.run_id.as_str())
    );
    assert_eq!(queued.metadata["route_reason"], "pdf_without_text");

    // The VDR run reads it by OCR.
    let outcome = vdr
        .pipeline
        .run(&next)
        .await
        .expect("no infrastructure fault");
    assert!(
        matches!(outcome, RunOutcome::Completed { pages: 1, .. }),
        "{outcome:?}"
    );
    let hits = vdr
        .search(&user, "Harbor Street water pressure", SearchMode::Vdr)
        .await;
    assert_eq!(
        hits.first().map(|h| h.document_id.as_str()),
        Some(job.status_id.as_str())
    );
}

/// A queue that never answers: the process sending to it is killed first.
struct NeverAnswers;

#[async_trait::async_trait]
impl JobQueue for NeverAnswers {
    async fn send(&self, _: &PipelineJob) -> Result<(), QueueError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_scan_lost_between_its_vdr_run_and_the_vdr_queue_is_sent_again() {
    let vdr = vdr().await;
    let user = new_user("vdr-lost");
    let (blob, job) = vdr.scanned_letter(&user).await;
    RunReporter::new(vdr.status.clone(), &job)
        .start_run(true, "queued")
        .await;
    // A text worker killed after recording the VDR run, before sending it.
    let dying = TextPipeline {
        blobs: vdr.text.blobs.clone(),
        extractor: vdr.text.extractor.clone(),
        embedder: vdr.text.embedder.clone(),
        index: vdr.text.index.clone(),
        status: vdr.status.clone(),
        chunker: vdr.text.chunker.clone(),
        analyzer: vdr.text.analyzer.clone(),
        config: vdr.text.config,
        visuals: None,
        follow_up: Some(FollowUp {
            jobs: Arc::new(NeverAnswers),
            ranges: Arc::new(index().await),
        }),
    };
    let worker = {
        let job = job.clone();
        tokio::spawn(async move { dying.run(&job).await })
    };
    // Killed once the VDR run is recorded (its send never returns).
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let queued = loop {
        let last = vdr.status.history_of(&job.status_id).pop();
        if let Some(r) = last.filter(|r| r.pipeline == Some(Pipeline::Vdr)) {
            break r;
        }
        assert!(std::time::Instant::now() < give_up, "no VDR run recorded");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!worker.is_finished(), "the worker hung in the send");
    worker.abort();
    assert_eq!(
        (queued.status, queued.pipeline),
        (Stage::Queued, Some(Pipeline::Vdr))
    );
    // The text job's redelivery is of a superseded run and does nothing:
    // only the sweeper can send the VDR job now.
    let sweeper = rag_core::ingest::pipeline::Sweeper {
        status: vdr.status.clone(),
        queue: vdr.handed.clone(),
        batch: 10,
    };
    let later = chrono::Utc::now().timestamp() + rag_core::domain::status::QUEUE_LEASE_SECS + 60;
    let swept = sweeper.sweep(later).await.expect("sweep");
    assert_eq!(swept.requeued, 1, "{swept:?}");
    let resent = vdr
        .handed
        .0
        .lock()
        .unwrap()
        .pop()
        .expect("the VDR job again");
    assert_eq!(
        (
            resent.pipeline,
            resent.run_id.as_str(),
            resent.key.as_str(),
            resent.file_name.as_str(),
            resent.content_type.as_deref()
        ),
        (
            Pipeline::Vdr,
            queued.run_id.as_str(),
            blob.key.as_str(),
            "letter.pdf",
            Some("application/pdf")
        )
    );
    let outcome = vdr.pipeline.run(&resent).await.expect("no fault");
    assert!(
        matches!(outcome, RunOutcome::Completed { pages: 1, .. }),
        "{outcome:?}"
    );
    let done = vdr
        .status
        .history_of(&job.status_id)
        .pop()
        .expect("a status");
    assert_eq!(done.status, Stage::Completed);
}
