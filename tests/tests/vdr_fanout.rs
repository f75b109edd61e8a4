//! No size limit: long documents split into page-range jobs that several
//! workers run in parallel over a queue with SQS's delivery rules, the
//! status aggregating their progress and completing exactly once; a failed
//! range retried on its own; a job near its deadline handing the rest back.
//!
//! Real PDFium rendering, the local model, PostgreSQL; the PDFs are written
//! here, each page saying which page it is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use integration_tests::{
    embedder, index, new_user, numbered_pdf, pdf_of_pages, recording_status, started_job,
    RecordingStatusStore,
};
use rag_core::domain::classify::Pipeline;
use rag_core::domain::job::{PageRange, PipelineJob};
use rag_core::domain::status::{Stage, StatusRecord};
use rag_core::ingest::chunking::{Chunker, ChunkingConfig};
use rag_core::ingest::page_spans::TextSpanPageEmbedder;
use rag_core::ingest::pipeline::{
    FollowUp, JobConsumer, TextPipeline, TextPipelineConfig, VdrConfig, VdrPipeline, VisualPages,
};
use rag_core::ports::{
    BlobRef, BlobStore, ChunkRecord, DocumentRecord, Extractor, IndexError, JobQueue, PageHit,
    PageIndex, PageQuery, PageRecord, QueueError,
};
use rag_core::ports::{ExtractError, ExtractInput, ExtractedDocument};
use rag_core::ports::{PageRenderer, PageSource, RenderError};
use rag_core::search::analyzer::Analyzer;
use rag_extract::sandbox::SandboxedRenderer;
use rag_extract::{FileExtractor, Limits, PdfPageRenderer};
use rag_index_pg::PgIndex;
use rag_local::{
    consume_with, ConsumeOptions, FileJobQueue, FsBlobStore, LocalJobQueues, QueueConfig,
};
use tokio::sync::watch;

/// The VDR queue, recording every job sent (page ranges and hand-backs).
struct RecordingQueue {
    inner: LocalJobQueues,
    sent: Mutex<Vec<PipelineJob>>,
    /// Fails the send after this many, once: a worker lost in the middle of
    /// splitting a document (what it sent stays sent, its job comes back).
    fail_after: Mutex<Option<usize>>,
}

#[async_trait]
impl JobQueue for RecordingQueue {
    async fn send(&self, job: &PipelineJob) -> Result<(), QueueError> {
        let sent_so_far = self.sent.lock().map(|s| s.len()).unwrap_or(0);
        if let Ok(mut fail) = self.fail_after.lock() {
            if fail.is_some_and(|n| sent_so_far >= n) {
                *fail = None;
                return Err(QueueError("connection reset (injected)".into()));
            }
        }
        self.inner.send(job).await?;
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(job.clone());
        }
        Ok(())
    }
}

/// The real extractor, recording which pages each extraction asked for.
struct RecordingExtractor {
    inner: FileExtractor,
    asked: Mutex<Vec<Option<PageRange>>>,
}

impl Extractor for RecordingExtractor {
    fn extract(&self, input: ExtractInput<'_>) -> Result<ExtractedDocument, ExtractError> {
        if let Ok(mut asked) = self.asked.lock() {
            asked.push(input.pages);
        }
        self.inner.extract(input)
    }
}

/// Fails one write of pages `page` once (after the earlier batches of its
/// range are stored): a worker dying mid-range.
struct FailOnce {
    inner: PgIndex,
    page: u32,
    failed: Arc<AtomicBool>,
}

#[async_trait]
impl PageIndex for FailOnce {
    async fn replace_pages(
        &self,
        doc: &DocumentRecord,
        first: u32,
        last: u32,
        pages: &[PageRecord],
        chunks: &[ChunkRecord],
    ) -> Result<(), IndexError> {
        if (first..=last).contains(&self.page) && !self.failed.swap(true, Ordering::SeqCst) {
            return Err(IndexError::Unavailable(
                "connection reset (injected)".into(),
            ));
        }
        self.inner
            .replace_pages(doc, first, last, pages, chunks)
            .await
    }
    async fn search_pages(&self, query: &PageQuery) -> Result<Vec<PageHit>, IndexError> {
        self.inner.search_pages(query).await
    }
}

/// A real renderer, counting what it is asked to open: the uploaded files
/// themselves, or a run's shared conversion.
struct CountingRenderer {
    inner: Box<dyn PageRenderer>,
    /// File names opened, in order.
    opened: Mutex<Vec<String>>,
}

impl PageRenderer for CountingRenderer {
    fn open(&self, input: ExtractInput<'_>) -> Result<Arc<dyn PageSource>, RenderError> {
        if let Ok(mut opened) = self.opened.lock() {
            opened.push(input.file_name.to_owned());
        }
        self.inner.open(input)
    }
}

struct Fleet {
    _dir: tempfile::TempDir,
    renderer: Arc<CountingRenderer>,
    blobs: Arc<FsBlobStore>,
    bucket: String,
    status: Arc<RecordingStatusStore>,
    queue: Arc<RecordingQueue>,
    index: PgIndex,
    shutdown: watch::Sender<bool>,
    workers: tokio::task::JoinHandle<()>,
    /// Whether the injected failure happened.
    failed: Arc<AtomicBool>,
}

struct Setup {
    config: VdrConfig,
    /// Page whose first write fails once, if any.
    fail_page: Option<u32>,
    job_time_limit: Duration,
    /// Sends (the first job's included) after which one send fails.
    fail_send_after: Option<usize>,
    /// Renders in worker processes, as the Lambda processors do.
    sandboxed: bool,
}

async fn fleet(setup: Setup) -> Fleet {
    let dir = tempfile::tempdir().expect("temp dir");
    let bucket = format!("bucket-{}", uuid::Uuid::new_v4());
    let text = embedder().await;
    let index = index().await;
    let status = recording_status();
    let blobs = Arc::new(FsBlobStore::new().with_bucket(bucket.clone(), dir.path().join("files")));
    let chunker = |max, overlap| integration_tests::chunker(&text, max, overlap);
    let queue_config = QueueConfig {
        visibility_timeout: Duration::from_secs(2),
        max_receives: 5,
    };
    let open = |name: &str| {
        Arc::new(FileJobQueue::open(dir.path().join(name), queue_config.clone()).expect("queue"))
    };
    let vdr = open("vdr");
    let queue = Arc::new(RecordingQueue {
        inner: LocalJobQueues {
            text_rag: open("text"),
            vdr: vdr.clone(),
        },
        sent: Mutex::new(Vec::new()),
        fail_after: Mutex::new(setup.fail_send_after),
    });
    let failed = Arc::new(AtomicBool::new(false));
    let pages: Arc<dyn PageIndex> = match setup.fail_page {
        Some(page) => Arc::new(FailOnce {
            inner: index.clone(),
            page,
            failed: failed.clone(),
        }),
        None => Arc::new(index.clone()),
    };
    let inner: Box<dyn PageRenderer> = if setup.sandboxed {
        Box::new(SandboxedRenderer::new(
            integration_tests::extract_worker(),
            Limits::default(),
        ))
    } else {
        Box::new(PdfPageRenderer::default())
    };
    let renderer = Arc::new(CountingRenderer {
        inner,
        opened: Mutex::default(),
    });
    let pipeline = VdrPipeline {
        text: integration_tests::text_pipeline(blobs.clone(), &index, status.clone(), &text),
        visual: Some(VisualPages {
            renderer: renderer.clone(),
            embedder: Arc::new(TextSpanPageEmbedder::new(text.clone(), chunker(48, 8))),
            index: pages,
            config: setup.config,
            jobs: Some(queue.clone()),
        }),
    };
    let consumer = Arc::new(JobConsumer {
        runner: Arc::new(pipeline),
        status: status.clone(),
        max_receives: queue_config.max_receives,
    });
    let (shutdown, stop) = watch::channel(false);
    let workers = tokio::spawn(consume_with(
        vdr,
        consumer,
        ConsumeOptions {
            poll: Duration::from_millis(50),
            concurrency: 4,
            job_time_limit: setup.job_time_limit,
        },
        stop,
    ));
    Fleet {
        _dir: dir,
        renderer,
        blobs,
        bucket,
        status,
        queue,
        index,
        shutdown,
        workers,
        failed,
    }
}

impl Fleet {
    /// Uploads a PDF of `pages` pages, queues it, and waits until its run
    /// ends; returns the job and the run's status history.
    async fn process(&self, pages: u32) -> (PipelineJob, Vec<StatusRecord>) {
        let name = format!("long-{pages}.pdf");
        self.process_file(&name, numbered_pdf(pages), "application/pdf")
            .await
    }

    /// [`Fleet::process`] for any file.
    async fn process_file(
        &self,
        name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> (PipelineJob, Vec<StatusRecord>) {
        let user = new_user("fanout");
        let blob = BlobRef {
            bucket: self.bucket.clone(),
            key: format!("{}/{name}", user.user),
        };
        BlobStore::put(self.blobs.as_ref(), &blob, bytes, content_type)
            .await
            .expect("put");
        let job = started_job(
            self.blobs.as_ref(),
            &self.status,
            &blob,
            &user,
            Some(Pipeline::Vdr),
        )
        .await
        .expect("job");
        self.queue.send(&job).await.expect("send");
        // Generous: a bound on a hang, not a timing assertion.
        let give_up = Instant::now() + Duration::from_secs(900);
        loop {
            let ended = self
                .status
                .history_of(&job.status_id)
                .last()
                .is_some_and(|r| r.status.is_terminal());
            if ended {
                break;
            }
            assert!(Instant::now() < give_up, "the document never finished");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Let jobs still running (duplicates, late parts) drain.
        tokio::time::sleep(Duration::from_millis(500)).await;
        (job.clone(), self.status.history_of(&job.status_id))
    }

    /// (rows, distinct page numbers) stored for a document.
    async fn pages_stored(&self, document_id: &str) -> (i64, i64) {
        sqlx::query_as(
            "SELECT count(*), count(DISTINCT page_num) FROM vdr_pages WHERE document_id = $1",
        )
        .bind(document_id)
        .fetch_one(self.index.pool())
        .await
        .expect("count pages")
    }

    async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.workers.await;
    }
}

/// The run completed exactly once, with progress that never went back.
fn assert_completed_once(history: &[StatusRecord], pages: u32) {
    let completed: Vec<&StatusRecord> = history
        .iter()
        .filter(|r| r.status == Stage::Completed)
        .collect();
    assert_eq!(completed.len(), 1, "completed writes: {completed:?}");
    assert!(
        history.iter().all(|r| r.status != Stage::Failed),
        "{history:?}"
    );
    let done = completed[0];
    assert_eq!(done.metadata["pages"], pages, "{:?}", done.metadata);
    let progress: Vec<u8> = history.iter().map(|r| r.progress).collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress went backwards: {progress:?}"
    );
    let stages: Vec<Stage> = history.iter().map(|r| r.status).collect();
    assert!(stages.windows(2).all(|w| w[0] <= w[1]), "{stages:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_300_page_pdf_fans_out_to_parallel_workers_and_completes_once() {
    let fleet = fleet(Setup {
        config: VdrConfig {
            dpi: 36,
            batch_pages: 10,
            max_pages_per_job: 50,
            ..VdrConfig::default()
        },
        fail_page: None,
        job_time_limit: ConsumeOptions::DEFAULT_JOB_TIME_LIMIT,
        fail_send_after: None,
        sandboxed: false,
    })
    .await;
    let started = Instant::now();
    let (job, history) = fleet.process(300).await;
    let elapsed = started.elapsed();
    println!(
        "300 pages rendered at 36 DPI, embedded and stored by 4 workers in {:.1} s: {:.1} pages/s",
        elapsed.as_secs_f64(),
        300.0 / elapsed.as_secs_f64()
    );
    assert_completed_once(&history, 300);
    assert_eq!(fleet.pages_stored(&job.status_id).await, (300, 300));
    // The completing range reports the chunk total of all ranges.
    let (chunks,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM hybrid_chunks WHERE document_id = $1")
            .bind(&job.status_id)
            .fetch_one(fleet.index.pool())
            .await
            .expect("count chunks");
    assert_eq!(chunks, 300);
    let done = history.last().expect("a status");
    assert_eq!(done.metadata["chunks"], chunks, "{:?}", done.metadata);
    // The whole run's time, from its first job to its last range.
    let run_ms = done.metadata["elapsed_ms"].as_u64().expect("elapsed_ms");
    assert!(
        run_ms > 0 && u128::from(run_ms) <= elapsed.as_millis(),
        "{run_ms} ms reported, {elapsed:?} measured"
    );
    // Six page-range jobs of 50 pages, progress reported as pages stored.
    let parts: Vec<(u32, u32)> = fleet
        .queue
        .sent
        .lock()
        .expect("sent")
        .iter()
        .filter_map(|j| j.range.map(|r| (r.pages.first, r.pages.last)))
        .collect();
    assert_eq!(
        parts,
        vec![
            (1, 50),
            (51, 100),
            (101, 150),
            (151, 200),
            (201, 250),
            (251, 300)
        ]
    );
    assert!(history
        .iter()
        .any(|r| r.metadata.get("parts_total") == Some(&6.into())));
    let reported: Vec<u64> = history
        .iter()
        .filter(|r| r.status == Stage::EmbeddingPages)
        .filter_map(|r| r.metadata.get("pages_done")?.as_u64())
        .collect();
    assert!(reported.len() >= 10, "{reported:?}");
    assert_eq!(reported.last(), Some(&300));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_range_failing_mid_way_is_retried_alone_and_pages_count_once() {
    // Page 75 is in the second batch of part 2 (pages 61-90): its first
    // write fails after pages 61-70 are stored, and the message comes back
    // after its visibility timeout.
    let fleet = fleet(Setup {
        config: VdrConfig {
            dpi: 36,
            batch_pages: 10,
            max_pages_per_job: 30,
            ..VdrConfig::default()
        },
        fail_page: Some(75),
        job_time_limit: ConsumeOptions::DEFAULT_JOB_TIME_LIMIT,
        fail_send_after: None,
        sandboxed: false,
    })
    .await;
    let (job, history) = fleet.process(120).await;
    assert!(
        fleet.failed.load(Ordering::SeqCst),
        "the failure was injected"
    );
    assert_completed_once(&history, 120);
    assert_eq!(fleet.pages_stored(&job.status_id).await, (120, 120));
    let done = history.last().expect("a status");
    assert_eq!(done.metadata["pages"], 120);
    // Only the failed range ran again: four parts sent once each, no
    // other job sent.
    let sent = fleet.queue.sent.lock().expect("sent").len();
    assert_eq!(sent, 1 + 4, "the whole job and its four parts");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_near_its_deadline_hands_the_rest_back_and_the_document_completes() {
    // A margin longer than the time each job gets: every job stores one
    // batch, then hands the rest of its range back to the queue.
    let fleet = fleet(Setup {
        config: VdrConfig {
            dpi: 36,
            batch_pages: 10,
            max_pages_per_job: 30,
            deadline_margin: Duration::from_secs(3600),
            ..VdrConfig::default()
        },
        fail_page: None,
        job_time_limit: ConsumeOptions::DEFAULT_JOB_TIME_LIMIT,
        fail_send_after: None,
        sandboxed: false,
    })
    .await;
    let (job, history) = fleet.process(60).await;
    assert_completed_once(&history, 60);
    assert_eq!(fleet.pages_stored(&job.status_id).await, (60, 60));
    let mut ranges: Vec<(u32, u32, u32)> = fleet
        .queue
        .sent
        .lock()
        .expect("sent")
        .iter()
        .filter_map(|j| j.range.map(|r| (r.part.index, r.pages.first, r.pages.last)))
        .collect();
    ranges.sort_unstable();
    assert_eq!(
        ranges,
        vec![
            (0, 1, 30),
            (0, 11, 30),
            (0, 21, 30),
            (1, 31, 60),
            (1, 41, 60),
            (1, 51, 60)
        ],
        "two parts, each handed back twice"
    );
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_lost_while_splitting_leaves_a_document_that_completes_once() {
    // The first job is sent, then two of its four page ranges, then it is
    // lost: its job comes back and splits the document again.
    let fleet = fleet(Setup {
        config: VdrConfig {
            dpi: 36,
            batch_pages: 5,
            max_pages_per_job: 5,
            ..VdrConfig::default()
        },
        fail_page: None,
        job_time_limit: ConsumeOptions::DEFAULT_JOB_TIME_LIMIT,
        fail_send_after: Some(3),
        sandboxed: false,
    })
    .await;
    let (job, history) = fleet.process(20).await;
    assert_completed_once(&history, 20);
    assert_eq!(fleet.pages_stored(&job.status_id).await, (20, 20));
    let sent = fleet.queue.sent.lock().expect("sent").clone();
    let ranges: Vec<u32> = sent
        .iter()
        .filter_map(|j| j.range.map(|r| r.part.index))
        .collect();
    assert_eq!(
        ranges,
        [0, 1, 0, 1, 2, 3],
        "two ranges before the loss, all four after"
    );
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_document_over_the_page_limit_fails_before_any_job_is_sent() {
    let fleet = fleet(Setup {
        config: VdrConfig {
            dpi: 36,
            max_pages_per_job: 5,
            max_document_pages: 20,
            ..VdrConfig::default()
        },
        fail_page: None,
        job_time_limit: ConsumeOptions::DEFAULT_JOB_TIME_LIMIT,
        fail_send_after: None,
        sandboxed: false,
    })
    .await;
    let (job, history) = fleet.process(30).await;
    let last = history.last().expect("a status");
    assert_eq!(
        (last.status, last.error_code.as_deref()),
        (Stage::Failed, Some("limit_exceeded")),
        "{last:?}"
    );
    assert!(
        last.error
            .as_deref()
            .is_some_and(|e| e.contains("30 pages")),
        "{last:?}"
    );
    let sent = fleet.queue.sent.lock().expect("sent").clone();
    assert_eq!(
        sent,
        std::slice::from_ref(&job),
        "no page-range job was sent"
    );
    assert_eq!(fleet.pages_stored(&job.status_id).await, (0, 0));
    fleet.stop().await;
}

/// What a split text document left behind.
struct TextSplit {
    history: Vec<StatusRecord>,
    /// The page ranges sent to the queue.
    parts: Vec<(u32, u32)>,
    /// What each extraction asked for, sorted.
    asked: Vec<Option<(u32, u32)>>,
    /// Chunks and distinct pages in the index.
    stored: (i64, i64),
}

/// Runs `pdf` through the text pipeline with three workers, ranges of at
/// most 8 pages, and at most 20 pages read at once.
async fn split_on_the_text_pipeline(pdf: Vec<u8>) -> TextSplit {
    split_with(pdf, eight_pages_a_job()).await
}

/// The default settings with ranges of at most 8 pages.
fn eight_pages_a_job() -> TextPipelineConfig {
    TextPipelineConfig {
        max_pages_per_job: 8,
        ..TextPipelineConfig::default()
    }
}

/// [`split_on_the_text_pipeline`] with `config`.
async fn split_with(pdf: Vec<u8>, config: TextPipelineConfig) -> TextSplit {
    let dir = tempfile::tempdir().expect("temp dir");
    let bucket = format!("bucket-{}", uuid::Uuid::new_v4());
    let text = embedder().await;
    let index = index().await;
    let status = recording_status();
    let blobs = Arc::new(FsBlobStore::new().with_bucket(bucket.clone(), dir.path().join("files")));
    let queue_config = QueueConfig {
        visibility_timeout: Duration::from_secs(30),
        max_receives: 5,
    };
    let open = |name: &str| {
        Arc::new(FileJobQueue::open(dir.path().join(name), queue_config.clone()).expect("queue"))
    };
    let text_queue = open("text");
    let queue = Arc::new(RecordingQueue {
        inner: LocalJobQueues {
            text_rag: text_queue.clone(),
            vdr: open("vdr"),
        },
        sent: Mutex::new(Vec::new()),
        fail_after: Mutex::new(None),
    });
    let extractor = Arc::new(RecordingExtractor {
        inner: FileExtractor::new(Limits {
            max_pages: 20,
            ..Limits::default()
        }),
        asked: Mutex::default(),
    });
    let pipeline = TextPipeline {
        blobs: blobs.clone(),
        extractor: extractor.clone(),
        embedder: text.clone(),
        index: Arc::new(index.clone()),
        status: status.clone(),
        chunker: Arc::new(
            Chunker::new(text.token_counter(), ChunkingConfig::default()).expect("chunker"),
        ),
        analyzer: Arc::new(Analyzer::new()),
        config,
        visuals: None,
        follow_up: Some(FollowUp {
            jobs: queue.clone(),
            ranges: Arc::new(index.clone()),
        }),
    };
    let consumer = Arc::new(JobConsumer {
        runner: Arc::new(pipeline),
        status: status.clone(),
        max_receives: queue_config.max_receives,
    });
    let (shutdown, stop) = watch::channel(false);
    let workers = tokio::spawn(consume_with(
        text_queue,
        consumer,
        ConsumeOptions {
            poll: Duration::from_millis(50),
            concurrency: 3,
            job_time_limit: ConsumeOptions::DEFAULT_JOB_TIME_LIMIT,
        },
        stop,
    ));

    let user = new_user("text-fanout");
    let blob = BlobRef {
        bucket: bucket.clone(),
        key: format!("{}/long.pdf", user.user),
    };
    BlobStore::put(blobs.as_ref(), &blob, pdf, "application/pdf")
        .await
        .expect("put");
    let job = started_job(blobs.as_ref(), &status, &blob, &user, None)
        .await
        .expect("job");
    assert_eq!(job.pipeline, Pipeline::TextRag);
    queue.send(&job).await.expect("send");
    let give_up = Instant::now() + Duration::from_secs(600);
    while !status
        .history_of(&job.status_id)
        .last()
        .is_some_and(|r| r.status.is_terminal())
    {
        assert!(Instant::now() < give_up, "the document never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = shutdown.send(true);
    let _ = workers.await;

    let parts = queue
        .sent
        .lock()
        .expect("sent")
        .iter()
        .filter_map(|j| j.range.map(|r| (r.pages.first, r.pages.last)))
        .collect();
    let mut asked: Vec<Option<(u32, u32)>> = extractor
        .asked
        .lock()
        .expect("asked")
        .iter()
        .map(|r| r.map(|p| (p.first, p.last)))
        .collect();
    asked.sort_unstable();
    let stored = sqlx::query_as(
        "SELECT count(*), count(DISTINCT page_num) FROM hybrid_chunks WHERE document_id = $1",
    )
    .bind(&job.status_id)
    .fetch_one(index.pool())
    .await
    .expect("count chunks");
    TextSplit {
        history: status.history_of(&job.status_id),
        parts,
        asked,
        stored,
    }
}

/// The text pipeline splits a long document too: page ranges run by
/// parallel workers, chunks numbered by page, completed once. The document
/// is never read whole: it has more pages than one read may take.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_document_on_the_text_pipeline_is_split_and_completes_once() {
    let started = Instant::now();
    let split = split_on_the_text_pipeline(numbered_pdf(30)).await;
    let elapsed = started.elapsed();
    assert_completed_once(&split.history, 30);
    assert_eq!(split.parts, vec![(1, 8), (9, 16), (17, 24), (25, 30)]);
    // The first job reads the first range, which tells it the document is
    // long; each range job then reads only its own pages.
    assert_eq!(
        split.asked,
        [
            Some((1, 8)),
            Some((1, 8)),
            Some((9, 16)),
            Some((17, 24)),
            Some((25, 30))
        ]
    );
    assert_eq!(split.stored, (30, 30));
    let done = split.history.last().expect("a status");
    assert_eq!(done.metadata["chunks"], 30, "{:?}", done.metadata);
    assert_eq!(done.message, "Indexed 30 chunks from 30 pages in 4 parts");
    let run_ms = done.metadata["elapsed_ms"].as_u64().expect("elapsed_ms");
    assert!(
        run_ms > 0 && u128::from(run_ms) <= elapsed.as_millis(),
        "{run_ms} ms reported, {elapsed:?} measured"
    );
}

/// A long PDF whose first range has no text is read whole before it is
/// split: a scan would go to VDR, and this one has text further on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_document_starting_with_blank_pages_is_read_whole_then_split() {
    let texts: Vec<String> = (1..=12)
        .map(|n| {
            if n <= 8 {
                String::new()
            } else {
                format!("Appendix page {n}")
            }
        })
        .collect();
    let split = split_on_the_text_pipeline(pdf_of_pages(&texts)).await;
    assert_completed_once(&split.history, 12);
    // Two jobs, as 8 pages a job needs; of even size.
    assert_eq!(split.parts, vec![(1, 6), (7, 12)]);
    assert_eq!(
        split.asked,
        [None, Some((1, 6)), Some((1, 8)), Some((7, 12))]
    );
    assert_eq!(split.stored, (4, 4));
}

/// Text jobs near their invocation's deadline: a page-range job stores a
/// batch of pages and hands the rest of its range back; a document short
/// enough not to be split, but out of time while embedding, is split then.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn text_jobs_near_their_deadline_hand_their_rest_back() {
    // A margin longer than any job's time: every check finds time short.
    let near_deadline = TextPipelineConfig {
        pages_per_batch: 3,
        deadline_margin: Duration::from_secs(3600),
        ..eight_pages_a_job()
    };
    let split = split_with(numbered_pdf(20), near_deadline).await;
    assert_completed_once(&split.history, 20);
    assert_eq!(split.stored, (20, 20));
    let mut parts = split.parts.clone();
    parts.sort_unstable();
    assert_eq!(
        parts,
        [
            (1, 7),
            (4, 7),
            (7, 7),
            (8, 14),
            (11, 14),
            (14, 14),
            (15, 20),
            (18, 20),
        ],
        "three even ranges (at most 8 pages a job), each storing 3 pages per invocation and handing the rest back"
    );

    // Six pages fit one job, but the embedding runs out of time: the
    // document is split into ranges of 2, each finished by one job.
    let split = split_with(numbered_pdf(6), near_deadline).await;
    assert_completed_once(&split.history, 6);
    assert_eq!(split.stored, (6, 6));
    let mut parts = split.parts.clone();
    parts.sort_unstable();
    assert_eq!(parts, [(1, 2), (3, 4), (5, 6)]);
}

/// A document well under the page limit is split by its work: with an
/// embedding budget smaller than its chunks cost, its pages are spread over
/// as many jobs as there are workers (three here), never more; with a budget
/// its chunks fit, it runs whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_document_is_split_by_its_estimated_work_over_the_workers() {
    let heavy = TextPipelineConfig {
        seconds_per_job: Duration::from_millis(1),
        workers: 3,
        ..TextPipelineConfig::default()
    };
    let split = split_with(numbered_pdf(18), heavy).await;
    assert_completed_once(&split.history, 18);
    assert_eq!(split.parts, vec![(1, 6), (7, 12), (13, 18)]);
    assert_eq!(split.stored, (18, 18));
    let done = split.history.last().expect("a status");
    assert_eq!(done.message, "Indexed 18 chunks from 18 pages in 3 parts");

    let light = TextPipelineConfig {
        seconds_per_job: Duration::from_secs(3600),
        workers: 3,
        ..TextPipelineConfig::default()
    };
    let whole = split_with(numbered_pdf(18), light).await;
    assert_completed_once(&whole.history, 18);
    assert!(whole.parts.is_empty(), "{:?}", whole.parts);
    assert_eq!(whole.stored, (18, 18));
}

/// A split deck is converted by LibreOffice once: the splitting job shares
/// its PDF (sent back by the document worker, as in the Lambda processors)
/// with the page-range jobs, which render from it, and the last one removes
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_split_deck_is_converted_once_for_all_its_page_ranges() {
    let fleet = fleet(Setup {
        config: VdrConfig {
            dpi: 36,
            batch_pages: 1,
            max_pages_per_job: 2,
            ..VdrConfig::default()
        },
        fail_page: None,
        job_time_limit: ConsumeOptions::DEFAULT_JOB_TIME_LIMIT,
        fail_send_after: None,
        sandboxed: true,
    })
    .await;
    let deck = std::fs::read(
        integration_tests::workspace().join("crates/rag-extract/tests/fixtures/office/deck.pptx"),
    )
    .expect("deck.pptx");
    let (job, history) = fleet
        .process_file(
            "deck.pptx",
            deck,
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        )
        .await;
    assert_completed_once(&history, 4);
    assert_eq!(fleet.pages_stored(&job.status_id).await, (4, 4));
    let opened = fleet.renderer.opened.lock().expect("opened").clone();
    // The deck once (to count and split it), then each range from the PDF.
    assert_eq!(
        opened,
        ["deck.pptx", "converted.pdf", "converted.pdf"],
        "{opened:?}"
    );
    // The shared conversion is gone with the run; the page images stay.
    let dir =
        fleet
            ._dir
            .path()
            .join("files")
            .join(rag_core::ingest::pipeline::converted_pdf_prefix(
                &job.key,
                &job.run_id,
            ));
    assert!(!dir.exists(), "{} left behind", dir.display());
    fleet.stop().await;
}
