//! The visuals step of the text pipeline, between extraction and chunking:
//! score the document's images, transcribe the important ones, merge the
//! results into the pages, and report it all on the status record
//! (`processing_visuals` while images are scored and chosen,
//! `classifying_visuals` while the model reads them: the order of the
//! status model). A failure here never fails the document.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::{json, Map, Value};

use super::{RunReporter, TextPipeline};
use crate::domain::job::PipelineJob;
use crate::domain::status::Stage;
use crate::ingest::visuals::{assess, merge, select, transcribe_all};
use crate::ports::VisionModel;
use crate::ports::{ExtractedDocument, ExtractedImage};

/// What the visuals step did to one document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VisualsSummary {
    /// Images the extractor found.
    pub found: usize,
    /// Images chosen for transcription.
    pub selected: usize,
    /// Transcriptions merged into the text.
    pub transcribed: usize,
    /// Chosen images whose transcription failed or ran out of time; they
    /// keep their alt text.
    pub failed: usize,
}

impl VisualsSummary {
    fn metadata(&self) -> Map<String, Value> {
        let Value::Object(map) = json!({
            "images_found": self.found,
            "images_selected": self.selected,
            "images_transcribed": self.transcribed,
            "images_failed": self.failed,
        }) else {
            return Map::new();
        };
        map
    }
}

impl TextPipeline {
    /// The document with its important images transcribed in place, when a
    /// vision model is configured and the document has images; otherwise
    /// the document exactly as extracted.
    pub(super) async fn with_visuals(
        &self,
        mut doc: ExtractedDocument,
        job: &PipelineJob,
        report: &RunReporter,
    ) -> ExtractedDocument {
        let Some(model) = self.visuals.as_ref() else {
            return doc;
        };
        if doc.images.is_empty() {
            return doc;
        }
        let images = Arc::new(std::mem::take(&mut doc.images));
        let summary = self
            .visuals_into(&mut doc, &images, model.as_ref(), job, report)
            .await;
        tracing::info!(
            statusId = %job.status_id,
            found = summary.found,
            selected = summary.selected,
            transcribed = summary.transcribed,
            failed = summary.failed,
            "visuals processed"
        );
        doc.images = Arc::try_unwrap(images).unwrap_or_else(|shared| (*shared).clone());
        doc
    }

    async fn visuals_into(
        &self,
        doc: &mut ExtractedDocument,
        images: &Arc<Vec<ExtractedImage>>,
        model: &dyn VisionModel,
        job: &PipelineJob,
        report: &RunReporter,
    ) -> VisualsSummary {
        let config = self.config.visuals;
        let mut summary = VisualsSummary {
            found: images.len(),
            ..VisualsSummary::default()
        };
        report
            .stage(
                Stage::ProcessingVisuals,
                0.0,
                format!("Scoring {} image(s)", summary.found),
                summary.metadata(),
            )
            .await;

        // Scoring may decode images: CPU work, off the async threads. A
        // crash in a decoder costs the transcriptions, not the document.
        let scoring = {
            let images = images.clone();
            tokio::task::spawn_blocking(move || assess(&images, &config)).await
        };
        let selected = match scoring {
            Ok(assessments) => select(&assessments, &config),
            Err(e) => {
                tracing::error!(statusId = %job.status_id, error = %e, "image scoring crashed; images keep their alt text");
                Vec::new()
            }
        };
        summary.selected = selected.len();
        report
            .stage(
                Stage::ProcessingVisuals,
                1.0,
                format!(
                    "Selected {} of {} image(s) for transcription",
                    summary.selected, summary.found
                ),
                summary.metadata(),
            )
            .await;

        let mut transcriptions = BTreeMap::new();
        if !selected.is_empty() {
            let mut started = summary.metadata();
            started.insert("vision_model".into(), model.model_id().into());
            report
                .stage(
                    Stage::ClassifyingVisuals,
                    0.0,
                    format!("Transcribing {} image(s)", summary.selected),
                    started,
                )
                .await;
            let deadline = tokio::time::Instant::now() + config.total_timeout;
            let mut results = std::pin::pin!(transcribe_all(model, images, &selected, &config));
            loop {
                let (index, outcome) = match tokio::time::timeout_at(deadline, results.next()).await
                {
                    Ok(Some(result)) => result,
                    Ok(None) => break,
                    Err(_) => {
                        tracing::warn!(statusId = %job.status_id, "visuals time budget spent; the remaining images keep their alt text");
                        break;
                    }
                };
                match outcome {
                    Ok(text) => {
                        tracing::debug!(statusId = %job.status_id, image = index, chars = text.len(), "image transcribed");
                        transcriptions.insert(index, text);
                        summary.transcribed += 1;
                    }
                    Err(e) => {
                        tracing::warn!(statusId = %job.status_id, image = index, error = %e, "image transcription failed; keeping its alt text");
                        summary.failed += 1;
                    }
                }
                let done = summary.transcribed + summary.failed;
                report
                    .stage(
                        Stage::ClassifyingVisuals,
                        done as f64 / summary.selected as f64,
                        format!("Transcribed {done}/{} image(s)", summary.selected),
                        summary.metadata(),
                    )
                    .await;
            }
            let unfinished = summary.selected - summary.transcribed - summary.failed;
            if unfinished > 0 {
                summary.failed += unfinished;
                report
                    .stage(
                        Stage::ClassifyingVisuals,
                        1.0,
                        format!(
                            "Transcribed {} of {} image(s); {unfinished} ran out of time",
                            summary.transcribed, summary.selected
                        ),
                        summary.metadata(),
                    )
                    .await;
            }
        }
        merge(&mut doc.pages, images, &transcriptions);
        summary
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    use async_trait::async_trait;
    use image::{ImageFormat, Rgb, RgbImage};

    use super::*;
    use crate::domain::status::StatusRecord;
    use crate::ingest::chunking::{ApproxTokenCounter, Chunker, ChunkingConfig, TextKind};
    use crate::ingest::pipeline::{RunOutcome, TextPipelineConfig};
    use crate::ingest::visuals::VisualsConfig;
    use crate::ports::{BlobMeta, BlobRef, ExtractedPage};
    use crate::ports::{VisionError, VisionRequest};
    use crate::search::analyzer::Analyzer;
    use crate::testing::{
        BagOfWordsEmbedder, FixedExtractor, MemoryBlobStore, MemoryIndex, RecordingStatusStore,
    };

    // ------------------------------------------------------------ fakes

    /// Answers `TRANSCRIPT(<caption>)`; fails for images whose caption
    /// contains "broken", never answers for "stuck"; records the most calls
    /// in flight at once.
    #[derive(Default)]
    struct FakeVision {
        calls: AtomicUsize,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
        prompts: Mutex<Vec<String>>,
    }
    #[async_trait]
    impl VisionModel for FakeVision {
        fn model_id(&self) -> &str {
            "fake-vision"
        }
        async fn transcribe(&self, request: VisionRequest<'_>) -> Result<String, VisionError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            if let Ok(mut prompts) = self.prompts.lock() {
                prompts.push(request.prompt.to_owned());
            }
            // Let the other calls start before this one ends.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let caption = request
                .prompt
                .rsplit_once("caption for this image: ")
                .map_or("none", |(_, c)| c.trim_matches('"'));
            if caption.contains("stuck") {
                std::future::pending::<()>().await;
            }
            if caption.contains("broken") {
                return Err(VisionError::Unavailable("HTTP 503".into()));
            }
            assert_eq!(request.media_type, "image/png");
            assert!(!request.data.is_empty());
            Ok(format!("TRANSCRIPT({caption})"))
        }
    }

    // ------------------------------------------------------------ documents

    fn png(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb(f(x, y)));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png)
            .expect("encode test png");
        out.into_inner()
    }

    fn noise(x: u32, y: u32) -> [u8; 3] {
        let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(2_246_822_519)).rotate_left(13);
        let v = v.wrapping_mul(3_266_489_917);
        [v as u8, (v >> 8) as u8, (v >> 16) as u8]
    }

    fn image(page: usize, offset: usize, data: Vec<u8>, alt: Option<&str>) -> ExtractedImage {
        let (width, height) = crate::ingest::visuals::image_size(&data).unwrap_or((0, 0));
        ExtractedImage {
            page_index: page,
            offset,
            width,
            height,
            alt: alt.map(str::to_owned),
            media_type: "image/png".into(),
            data,
        }
    }

    const PAGE1: &str = "Quarterly report.\n\nThe chart shows revenue.";
    const PAGE2: &str = "Appendix text.";

    /// Two pages: a captioned photo-like figure and a 16 px icon on page 1,
    /// the same logo on both pages, and a second figure on page 2.
    fn document(second_caption: &str) -> ExtractedDocument {
        let logo = png(200, 80, |x, _| if x < 80 { [0, 0, 120] } else { [255; 3] });
        ExtractedDocument {
            pages: vec![
                ExtractedPage {
                    number: Some(1),
                    text: PAGE1.into(),
                },
                ExtractedPage {
                    number: Some(2),
                    text: PAGE2.into(),
                },
            ],
            kind: TextKind::Markdown,
            format: "pdf",
            images: vec![
                image(0, 0, logo.clone(), Some("logo")),
                image(
                    0,
                    "Quarterly report.".len(),
                    png(640, 480, noise),
                    Some("Revenue by region in 2023"),
                ),
                image(0, PAGE1.len(), png(16, 16, noise), Some("Warning sign")),
                image(1, 0, logo, Some("logo")),
                image(
                    1,
                    PAGE2.len(),
                    png(500, 400, |x, y| noise(y, x)),
                    Some(second_caption),
                ),
            ],
        }
    }

    struct Run {
        outcome: RunOutcome,
        text: String,
        history: Arc<RecordingStatusStore>,
        vision: Arc<FakeVision>,
    }

    async fn run(doc: ExtractedDocument, with_model: bool, config: VisualsConfig) -> Run {
        let history = Arc::new(RecordingStatusStore::default());
        let index = Arc::new(MemoryIndex::default());
        let vision = Arc::new(FakeVision::default());
        let upload = BlobRef {
            bucket: "b".into(),
            key: "report.pdf".into(),
        };
        let pipeline = TextPipeline {
            blobs: Arc::new(MemoryBlobStore::with(
                &upload,
                "document",
                "application/pdf",
            )),
            extractor: Arc::new(FixedExtractor(doc)),
            embedder: Arc::new(BagOfWordsEmbedder::default()),
            index: index.clone(),
            status: history.clone(),
            chunker: Arc::new(
                Chunker::new(
                    Arc::new(ApproxTokenCounter),
                    ChunkingConfig {
                        max_tokens: 2_000,
                        overlap_tokens: 0,
                    },
                )
                .expect("chunker"),
            ),
            analyzer: Arc::new(Analyzer::new()),
            config: TextPipelineConfig {
                visuals: config,
                ..TextPipelineConfig::default()
            },
            visuals: with_model.then(|| vision.clone() as Arc<dyn VisionModel>),
            follow_up: None,
        };
        let (job, _) = PipelineJob::for_object(
            &upload,
            &BlobMeta {
                size: 8,
                content_type: Some("application/pdf".into()),
                ..BlobMeta::default()
            },
            None,
            "alice",
            "run-1".into(),
            false,
        )
        .expect("a pdf is routable");
        assert!(
            RunReporter::new(history.clone(), &job)
                .start_run(false, "queued")
                .await
        );
        let outcome = crate::ingest::pipeline::JobRunner::run(&pipeline, &job)
            .await
            .expect("no transient error");
        Run {
            outcome,
            text: index.text(&upload.status_id()).unwrap_or_default(),
            history,
            vision,
        }
    }

    fn counts(record: &StatusRecord) -> [Option<u64>; 4] {
        [
            "images_found",
            "images_selected",
            "images_transcribed",
            "images_failed",
        ]
        .map(|k| record.metadata.get(k).and_then(Value::as_u64))
    }

    // ------------------------------------------------------------ tests

    #[tokio::test]
    async fn important_images_are_transcribed_in_place_and_reported() {
        let r = run(
            document("Headcount per office"),
            true,
            VisualsConfig::default(),
        )
        .await;
        assert!(
            matches!(r.outcome, RunOutcome::Completed { .. }),
            "{:?}",
            r.outcome
        );
        assert_eq!(r.vision.calls.load(Ordering::SeqCst), 2, "figures only");
        assert!(
            r.text.contains(
                "Quarterly report.\n\n[Image: Revenue by region in 2023]\nTRANSCRIPT(Revenue by region in 2023)\n\n"
            ),
            "{}",
            r.text
        );
        assert!(r.text.contains(
            "Appendix text.\n\n[Image: Headcount per office]\nTRANSCRIPT(Headcount per office)"
        ));
        // The icon keeps its alt text; the repeated logo leaves nothing.
        assert!(
            r.text.contains("revenue. [Image: Warning sign]"),
            "{}",
            r.text
        );
        assert!(!r.text.contains("logo"), "{}", r.text);

        let scoring = r.history.of(Stage::ProcessingVisuals);
        let last_scoring = scoring.last().expect("processing_visuals reported");
        assert_eq!(counts(last_scoring)[..2], [Some(5), Some(2)]);
        let transcribing = r.history.of(Stage::ClassifyingVisuals);
        // Start, then one update per image.
        assert_eq!(transcribing.len(), 3);
        let last = transcribing.last().expect("classifying_visuals reported");
        assert_eq!(counts(last), [Some(5), Some(2), Some(2), Some(0)]);
        assert_eq!(last.progress, Stage::ClassifyingVisuals.progress_band().1);
        assert_eq!(
            transcribing[0].metadata.get("vision_model"),
            Some(&Value::from("fake-vision"))
        );
        let stages: Vec<Stage> = r.history.records().iter().map(|s| s.status).collect();
        let pos = |s: Stage| stages.iter().position(|x| *x == s);
        assert!(pos(Stage::ExtractingText) < pos(Stage::ProcessingVisuals));
        assert!(pos(Stage::ProcessingVisuals) < pos(Stage::ClassifyingVisuals));
        assert!(pos(Stage::ClassifyingVisuals) < pos(Stage::Chunking));
        assert_eq!(stages.last(), Some(&Stage::Completed));
    }

    #[tokio::test]
    async fn a_failed_transcription_keeps_the_alt_text_and_the_document_completes() {
        let r = run(
            document("broken floor plan"),
            true,
            VisualsConfig::default(),
        )
        .await;
        assert!(matches!(r.outcome, RunOutcome::Completed { .. }));
        assert!(r.text.contains("TRANSCRIPT(Revenue by region in 2023)"));
        assert!(
            r.text.contains("Appendix text. [Image: broken floor plan]"),
            "{}",
            r.text
        );
        let last = r.history.of(Stage::ClassifyingVisuals);
        let last = last.last().expect("reported");
        assert_eq!(counts(last), [Some(5), Some(2), Some(1), Some(1)]);
    }

    #[tokio::test]
    async fn a_transcription_that_never_ends_times_out_and_counts_as_failed() {
        let config = VisualsConfig {
            image_timeout: Duration::from_millis(50),
            ..VisualsConfig::default()
        };
        let r = run(document("stuck diagram of the pipeline"), true, config).await;
        assert!(matches!(r.outcome, RunOutcome::Completed { .. }));
        assert!(r.text.contains("[Image: stuck diagram of the pipeline]"));
        let last = r.history.of(Stage::ClassifyingVisuals);
        assert_eq!(
            counts(last.last().expect("reported"))[2..],
            [Some(1), Some(1)]
        );
    }

    #[tokio::test]
    async fn the_budget_and_the_concurrency_bound_are_respected() {
        let config = VisualsConfig {
            max_images: 1,
            concurrency: 1,
            ..VisualsConfig::default()
        };
        let r = run(document("Headcount per office"), true, config).await;
        assert_eq!(r.vision.calls.load(Ordering::SeqCst), 1);
        // The bigger figure wins the one slot; the other keeps its caption.
        assert!(r.text.contains("TRANSCRIPT(Revenue by region in 2023)"));
        assert!(r
            .text
            .contains("Appendix text. [Image: Headcount per office]"));

        let mut doc = document("Headcount per office");
        for i in 0..6 {
            let data = png(300, 300, move |x, y| noise(x + i, y));
            doc.images
                .push(image(1, 0, data, Some("Sample micrograph of steel")));
        }
        let config = VisualsConfig {
            concurrency: 2,
            ..VisualsConfig::default()
        };
        let r = run(doc, true, config).await;
        assert_eq!(r.vision.calls.load(Ordering::SeqCst), 8);
        assert_eq!(r.vision.max_in_flight.load(Ordering::SeqCst), 2);
        let prompts = r
            .vision
            .prompts
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        assert!(prompts.iter().all(|p| p.contains("faithfully")));
    }

    #[tokio::test]
    async fn without_a_model_the_text_is_exactly_as_extracted() {
        let doc = document("Headcount per office");
        let expected = Chunker::new(
            Arc::new(ApproxTokenCounter),
            ChunkingConfig {
                max_tokens: 2_000,
                overlap_tokens: 0,
            },
        )
        .expect("chunker");
        let expected: Vec<String> = doc
            .pages
            .iter()
            .flat_map(|p| expected.chunk(&p.text, doc.kind))
            .collect();
        let r = run(doc, false, VisualsConfig::default()).await;
        assert!(matches!(r.outcome, RunOutcome::Completed { .. }));
        assert_eq!(r.text, expected.join("\n"));
        assert!(r.history.of(Stage::ProcessingVisuals).is_empty());
        assert!(r.history.of(Stage::ClassifyingVisuals).is_empty());
    }

    #[tokio::test]
    async fn a_document_without_images_skips_the_step() {
        let mut doc = document("x");
        doc.images.clear();
        let r = run(doc, true, VisualsConfig::default()).await;
        assert!(matches!(r.outcome, RunOutcome::Completed { .. }));
        assert_eq!(r.vision.calls.load(Ordering::SeqCst), 0);
        assert!(r.history.of(Stage::ProcessingVisuals).is_empty());
        assert_eq!(r.text, format!("{PAGE1}\n{PAGE2}"));
    }
}
