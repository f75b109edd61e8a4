//! Splitting extracted text into chunks sized in the embedding model's tokens.
//!
//! Sizes are counted by a [`TokenCounter`] that the embedder provides (its
//! real tokenizer), so a chunk never silently overflows the model's window and
//! gets truncated. Splitting itself is `text-splitter`'s semantic splitting:
//! Markdown on headings, blocks and sentences; other text on paragraphs,
//! lines and sentences.

use std::sync::Arc;

use text_splitter::{ChunkConfig, ChunkSizer, MarkdownSplitter, TextSplitter};

/// Counts tokens the way the embedding model will.
pub trait TokenCounter: Send + Sync {
    /// Tokens of `text`, not counting special tokens such as `[CLS]`/`[SEP]`.
    fn count(&self, text: &str) -> usize;
}

/// A counter for models whose tokenizer is not available locally (hosted
/// embedding APIs): about four characters per token, the usual rule for
/// English BPE vocabularies; it errs towards smaller chunks for other text.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApproxTokenCounter;

impl TokenCounter for ApproxTokenCounter {
    fn count(&self, text: &str) -> usize {
        text.chars().count().div_ceil(4)
    }
}

/// Chunk size and overlap, in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkingConfig {
    /// Largest chunk, in tokens (must fit the model's window minus specials).
    pub max_tokens: usize,
    /// Tokens shared by consecutive chunks, so a sentence cut at a boundary
    /// is still found whole in one of them.
    pub overlap_tokens: usize,
}

impl Default for ChunkingConfig {
    /// 200 tokens with 30 overlapping. The bound is the model's window:
    /// all-MiniLM-L6-v2 reads 256 tokens including `[CLS]`/`[SEP]` and
    /// silently drops the rest, so larger chunks lose text from the dense
    /// index. Within that bound the value is not yet tuned: the BEIR sets at
    /// hand are single passages (one chunk each), so they cannot tell sizes
    /// apart; a long-document set is needed for that measurement.
    fn default() -> Self {
        Self {
            max_tokens: 200,
            overlap_tokens: 30,
        }
    }
}

/// How the text is structured, which decides where it may be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Markdown (also what HTML and office formats are converted to).
    Markdown,
    /// Anything else: plain text, code, CSV rows.
    Plain,
}

/// The chunk configuration is impossible (overlap not below the size).
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid chunking configuration: overlap {overlap} must be below max {max}, and max above 0"
)]
pub struct InvalidChunking {
    /// The rejected [`ChunkingConfig::max_tokens`].
    pub max: usize,
    /// The rejected [`ChunkingConfig::overlap_tokens`].
    pub overlap: usize,
}

struct Sizer(Arc<dyn TokenCounter>);

impl ChunkSizer for Sizer {
    fn size(&self, chunk: &str) -> usize {
        self.0.count(chunk)
    }
}

/// Splits text into token-bounded chunks.
pub struct Chunker {
    markdown: MarkdownSplitter<Sizer>,
    plain: TextSplitter<Sizer>,
    config: ChunkingConfig,
}

impl std::fmt::Debug for Chunker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunker")
            .field("config", &self.config)
            .finish()
    }
}

impl Chunker {
    /// A chunker counting with `counter`.
    pub fn new(
        counter: Arc<dyn TokenCounter>,
        config: ChunkingConfig,
    ) -> Result<Self, InvalidChunking> {
        let invalid = InvalidChunking {
            max: config.max_tokens,
            overlap: config.overlap_tokens,
        };
        if config.max_tokens == 0 {
            return Err(invalid);
        }
        let make = |counter: Arc<dyn TokenCounter>| {
            ChunkConfig::new(config.max_tokens)
                .with_sizer(Sizer(counter))
                .with_overlap(config.overlap_tokens)
        };
        let (Ok(md), Ok(plain)) = (make(counter.clone()), make(counter)) else {
            return Err(invalid);
        };
        Ok(Self {
            markdown: MarkdownSplitter::new(md),
            plain: TextSplitter::new(plain),
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> ChunkingConfig {
        self.config
    }

    /// Non-empty chunks of `text`, in order.
    pub fn chunk(&self, text: &str, kind: TextKind) -> Vec<String> {
        self.chunk_cited(text, kind, &mut Headings::default())
            .into_iter()
            .map(|(chunk, _)| chunk)
            .collect()
    }

    /// Non-empty chunks of `text`, in order, each with where it sits in
    /// `text` and the Markdown headings above it; `headings` carries the
    /// headings of the text before this one (the previous pages).
    pub fn chunk_cited(
        &self,
        text: &str,
        kind: TextKind,
        headings: &mut Headings,
    ) -> Vec<(String, Citation)> {
        let chunks: Vec<(usize, &str)> = match kind {
            TextKind::Markdown => self
                .markdown
                .chunk_char_indices(text)
                .map(|c| (c.char_offset, c.chunk))
                .collect(),
            TextKind::Plain => self
                .plain
                .chunk_char_indices(text)
                .map(|c| (c.char_offset, c.chunk))
                .collect(),
        };
        let marks = match kind {
            TextKind::Markdown => heading_marks(text),
            TextKind::Plain => Vec::new(),
        };
        let mut marks = marks.into_iter().peekable();
        let mut out = Vec::with_capacity(chunks.len());
        for (start, chunk) in chunks {
            while let Some((_, level, title)) = marks.next_if(|(at, _, _)| *at <= start) {
                headings.enter(level, title);
            }
            if chunk.trim().is_empty() {
                continue;
            }
            let citation = Citation {
                heading_path: headings.path(),
                char_start: start,
                char_end: start + chunk.chars().count(),
            };
            out.push((chunk.to_owned(), citation));
        }
        // Headings after the last chunk still count for the next page.
        for (_, level, title) in marks {
            headings.enter(level, title);
        }
        out
    }
}

/// Where a chunk came from: its place in its page's extracted text (the
/// whole document's, for formats without pages), in characters, and the
/// headings it sits under, outermost first. Stored with the chunk and
/// returned with every result, so a client can cite and highlight it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Citation {
    /// Titles of the Markdown headings above the chunk, outermost first, each
    /// cut to 200 characters; empty for plain text.
    pub heading_path: Vec<String>,
    /// Offset of the chunk's first character in the page's text, counted in
    /// characters (not bytes).
    pub char_start: usize,
    /// Offset just past the chunk's last character (exclusive), in characters.
    pub char_end: usize,
}

/// The Markdown headings open at a point of a document: `# A` then `## B`
/// is `[A, B]`; a later `## C` makes it `[A, C]`.
#[derive(Debug, Clone, Default)]
pub struct Headings(Vec<(usize, String)>);

impl Headings {
    fn enter(&mut self, level: usize, title: String) {
        while self.0.last().is_some_and(|(l, _)| *l >= level) {
            self.0.pop();
        }
        self.0.push((level, title));
    }

    fn path(&self) -> Vec<String> {
        self.0.iter().map(|(_, t)| t.clone()).collect()
    }
}

/// Longest heading title kept in a path.
const MAX_HEADING_CHARS: usize = 200;

/// ATX headings of Markdown `text`: character offset, level, title.
fn heading_marks(text: &str) -> Vec<(usize, usize, String)> {
    let mut marks = Vec::new();
    let mut offset = 0;
    let mut in_fence = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        let rest = &trimmed[level..];
        if !in_fence && (1..=6).contains(&level) && rest.starts_with(' ') {
            let title: String = rest
                .trim()
                .trim_end_matches('#')
                .trim()
                .chars()
                .take(MAX_HEADING_CHARS)
                .collect();
            if !title.is_empty() {
                marks.push((offset, level, title));
            }
        }
        offset += line.chars().count();
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{word_chunker, WordCounter};

    #[test]
    fn chunks_know_their_place_and_the_headings_above_them() {
        let c = word_chunker(12, 0).unwrap();
        let page1 = "# Report\n\nIntro words here.\n\n## Method\n\nWe measured things carefully over many days.\n\n```\n# not a heading\n```\n";
        let page2 = "## Results\n\nThe results were good across every trial we ran this year.\n\n### Detail\n\nOne detail.";
        let mut headings = Headings::default();
        let first = c.chunk_cited(page1, TextKind::Markdown, &mut headings);
        let second = c.chunk_cited(page2, TextKind::Markdown, &mut headings);
        for (text, chunks) in [(page1, &first), (page2, &second)] {
            for (chunk, cite) in chunks {
                let span: String = text
                    .chars()
                    .skip(cite.char_start)
                    .take(cite.char_end - cite.char_start)
                    .collect();
                assert_eq!(&span, chunk, "offsets point at the chunk");
            }
        }
        let path_of = |chunks: &[(String, Citation)], needle: &str| {
            chunks
                .iter()
                .find(|(c, _)| c.contains(needle))
                .map(|(_, cite)| cite.heading_path.clone())
        };
        assert_eq!(path_of(&first, "Intro"), Some(vec!["Report".to_owned()]));
        assert_eq!(
            path_of(&first, "measured"),
            Some(vec!["Report".to_owned(), "Method".to_owned()])
        );
        // A heading carries over to the next page, and a sibling replaces it.
        assert_eq!(
            path_of(&second, "were good"),
            Some(vec!["Report".to_owned(), "Results".to_owned()])
        );
        assert_eq!(
            path_of(&second, "One detail"),
            Some(vec![
                "Report".to_owned(),
                "Results".to_owned(),
                "Detail".to_owned()
            ])
        );
        // Plain text has no headings.
        let plain = c.chunk_cited(
            "# not markdown here",
            TextKind::Plain,
            &mut Headings::default(),
        );
        assert!(plain[0].1.heading_path.is_empty());
    }

    #[test]
    fn chunks_respect_the_token_budget_and_overlap() {
        let c = word_chunker(10, 3).unwrap();
        let text = (0..100)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let chunks = c.chunk(&text, TextKind::Plain);
        assert!(chunks.len() >= 10);
        assert!(chunks.iter().all(|ch| WordCounter.count(ch) <= 10));
        let first: Vec<&str> = chunks[0].split(' ').collect();
        assert!(
            chunks[1].starts_with(first[first.len() - 3]),
            "consecutive chunks overlap: {chunks:?}"
        );
        assert!(chunks.last().unwrap().ends_with("w99"));
    }

    #[test]
    fn markdown_splits_at_headings_first() {
        let c = word_chunker(12, 0).unwrap();
        let md = "# Alpha\n\none two three four five\n\n# Beta\n\nsix seven eight nine ten";
        let chunks = c.chunk(md, TextKind::Markdown);
        assert_eq!(
            chunks,
            vec![
                "# Alpha\n\none two three four five",
                "# Beta\n\nsix seven eight nine ten"
            ]
        );
    }

    #[test]
    fn impossible_configs_are_refused() {
        assert!(word_chunker(10, 10).is_err());
        assert!(word_chunker(0, 0).is_err());
        let c = Chunker::new(Arc::new(ApproxTokenCounter), ChunkingConfig::default()).unwrap();
        assert!(c.chunk("  \n ", TextKind::Plain).is_empty());
    }
}
