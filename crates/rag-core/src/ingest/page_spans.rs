//! The local, offline [`PageEmbedder`]: not a vision model, and it says so.
//!
//! A ColPali-style model embeds a page *image* into one vector per image
//! patch. Without a GPU service, the honest stand-in is the page's text
//! (its text layer, or Tesseract's OCR of the rendered page) split into
//! short spans, each embedded with the local text model: still several
//! vectors per page, searched with the same MaxSim, so a question matches
//! the one span of a page that answers it. Its model id names it
//! `text-spans/<text model>`, so its vectors are never compared with a
//! real page model's. A page without any text gets no vectors: the pipeline
//! stores it (image and all) and reports it.

use std::sync::Arc;

use async_trait::async_trait;

use crate::ingest::chunking::{Chunker, TextKind};
use crate::ports::{EmbedError, Embedder, PageEmbedder, RenderedPage};

/// Most spans embedded per page: a dense page of small print has some
/// 1,000 words, about 25 spans of 48 tokens.
const MAX_SPANS_PER_PAGE: usize = 64;

/// Pages as spans of their text, embedded with a text model.
pub struct TextSpanPageEmbedder {
    embedder: Arc<dyn Embedder>,
    spans: Chunker,
    model_id: String,
}

impl TextSpanPageEmbedder {
    /// Spans cut by `spans` (sized in the text model's tokens), embedded by
    /// `embedder`.
    pub fn new(embedder: Arc<dyn Embedder>, spans: Chunker) -> Self {
        let model_id = format!("text-spans/{}", embedder.model_id());
        Self {
            embedder,
            spans,
            model_id,
        }
    }
}

#[async_trait]
impl PageEmbedder for TextSpanPageEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.embedder.dimensions()
    }

    /// The text model's: the spans are its input.
    fn script_coverage(&self) -> &crate::search::language::ScriptCoverage {
        self.embedder.script_coverage()
    }

    async fn embed_pages(&self, pages: &[RenderedPage]) -> Result<Vec<Vec<Vec<f32>>>, EmbedError> {
        let spans: Vec<Vec<String>> = pages
            .iter()
            .map(|p| {
                let mut s = self.spans.chunk(&p.text, TextKind::Plain);
                s.truncate(MAX_SPANS_PER_PAGE);
                s
            })
            .collect();
        let all: Vec<String> = spans.iter().flatten().cloned().collect();
        let mut vectors = if all.is_empty() {
            Vec::new()
        } else {
            self.embedder.embed_each(&all).await?
        }
        .into_iter();
        Ok(spans
            .iter()
            .map(|s| vectors.by_ref().take(s.len()).collect())
            .collect())
    }

    async fn embed_query(&self, text: &str) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(vec![self.embedder.embed_query(text).await?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PageTextSource;
    use crate::testing::word_chunker;

    /// One-dimensional "embedding": the number of words.
    struct Counting;
    #[async_trait]
    impl Embedder for Counting {
        fn model_id(&self) -> &str {
            "words"
        }
        fn dimensions(&self) -> usize {
            1
        }
        async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
            Ok(texts
                .iter()
                .map(|t| vec![t.split_whitespace().count() as f32])
                .collect())
        }
        async fn embed_query(&self, _: &str) -> Result<Vec<f32>, EmbedError> {
            Ok(vec![1.0])
        }
    }

    fn page(n: u32, text: &str) -> RenderedPage {
        RenderedPage {
            page_num: n,
            png: Vec::new(),
            width: 0,
            height: 0,
            text: text.into(),
            text_source: PageTextSource::TextLayer,
        }
    }

    #[tokio::test]
    async fn each_page_gets_one_vector_per_span_and_a_blank_page_none() {
        let spans = word_chunker(3, 0).unwrap();
        let embedder = TextSpanPageEmbedder::new(Arc::new(Counting), spans);
        assert_eq!(embedder.model_id(), "text-spans/words");
        let out = embedder
            .embed_pages(&[
                page(1, "one two three. four five."),
                page(2, "   "),
                page(3, "six"),
            ])
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![vec![vec![3.0], vec![2.0]], vec![], vec![vec![1.0]]]
        );
        assert_eq!(embedder.embed_query("q").await.unwrap(), vec![vec![1.0]]);
    }
}
