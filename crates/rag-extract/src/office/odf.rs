//! OpenDocument text (ODT) and presentations (ODP), from `content.xml`.
//!
//! A presentation gives one page per `draw:page`, numbered from 1, laid out
//! like a PPTX slide (title heading, shapes, `Notes:`); a text document one
//! page: headings (`text:h`), paragraphs, list items, tables, links and
//! image descriptions. Footnotes, comments and tracked deletions are left out.
//! Pictures stored in the package (`Pictures/...`) go to
//! [`ExtractedDocument::images`] with their place in the text.

use rag_core::ingest::chunking::TextKind;
use rag_core::ports::{ExtractError, ExtractedDocument, ExtractedPage};

use super::images::Images;
use super::xml::{resolve, walk, Xml};
use super::{check_page_count, image, link, Markdown, Package, Tables};
use crate::{Extraction, Limits};

/// Elements left out with their content.
const SKIP: &[&str] = &["annotation", "tracked-changes", "note"];

/// The document's pages and pictures, and notes about what could not be
/// read; `format` is `ODT` or `ODP`.
pub(crate) fn extract(
    bytes: &[u8],
    format: &'static str,
    limits: &Limits,
) -> Result<Extraction, ExtractError> {
    let mut package = Package::open(bytes, format, limits)?;
    // Password-protected documents are zips too, with the parts encrypted
    // and the manifest saying how.
    if let Some(manifest) = package.read("META-INF/manifest.xml")? {
        if manifest.contains("encryption-data") {
            return Err(ExtractError::Encrypted);
        }
    }
    let Some(xml) = package.read("content.xml")? else {
        return Err(package.corrupt("not an OpenDocument file (no content.xml)"));
    };
    let mut content = Content::default();
    walk(&xml, "content.xml", format, SKIP, |event| {
        content.visit(event)
    })?;

    let mut images = std::mem::take(&mut content.images);
    let pages: Vec<ExtractedPage> = if content.pages.is_empty() {
        vec![ExtractedPage {
            number: None,
            text: images.place(0, content.document.finish()),
        }]
    } else {
        check_page_count(content.pages.len(), limits)?;
        content
            .pages
            .into_iter()
            .enumerate()
            .map(|(i, text)| ExtractedPage {
                number: Some(i as u32 + 1),
                text: images.place(i, text),
            })
            .collect()
    };
    let mut notes = Vec::new();
    let images = images.load(&mut package, limits, &mut notes)?;
    Ok(Extraction {
        document: ExtractedDocument {
            pages,
            kind: TextKind::Markdown,
            format: if format == "ODP" { "odp" } else { "odt" },
            images,
        },
        notes,
    })
}

/// A page being read: a presentation's slide, or the whole text document.
#[derive(Default)]
struct Page {
    title: Vec<String>,
    body: Markdown,
    notes: Markdown,
}

impl Page {
    fn finish(self) -> String {
        let mut page = Markdown::default();
        page.heading(2, &self.title.join(" "));
        page.raw(&self.body.finish());
        let notes = self.notes.finish();
        if !notes.is_empty() {
            page.raw(&format!("Notes:\n{notes}"));
        }
        page.finish()
    }
}

#[derive(Default)]
struct Content {
    /// Finished slides.
    pages: Vec<String>,
    /// The open slide.
    slide: Option<Page>,
    /// Everything outside slides (a text document's body).
    document: Page,
    in_notes: bool,
    /// Open paragraphs, innermost last (a frame's text box sits inside the
    /// paragraph it is anchored to).
    paras: Vec<Paragraph>,
    lists: usize,
    tables: Tables,
    /// Columns each open table cell repeats over.
    spans: Vec<usize>,
    frames: Vec<Frame>,
    images: Images,
}

#[derive(Default)]
struct Paragraph {
    heading: Option<usize>,
    item: Option<usize>,
    text: String,
    link: Option<(usize, String)>,
}

#[derive(Default)]
struct Frame {
    class: Option<String>,
    /// `draw:name` ("Image1"), what the picture is called in the editor.
    name: Option<String>,
    has_image: bool,
    /// The picture's part in the package.
    href: Option<String>,
    /// The frame holds a chart, an OLE object or a table: its image is
    /// their replacement picture, not an image of its own.
    has_object: bool,
    /// `svg:title` and `svg:desc`, and which one is open.
    title: String,
    desc: String,
    open: Option<bool>,
}

impl Content {
    fn page(&mut self) -> &mut Page {
        self.slide.as_mut().unwrap_or(&mut self.document)
    }

    fn visit(&mut self, event: Xml<'_>) {
        match event {
            Xml::Start(tag) => match tag.name() {
                "page" if tag.qualified() == "draw:page" => self.slide = Some(Page::default()),
                "notes" => self.in_notes = true,
                "frame" => self.frames.push(Frame {
                    class: tag.attr("presentation:class"),
                    name: tag.attr("draw:name"),
                    ..Frame::default()
                }),
                "object" | "object-ole" => {
                    if let Some(frame) = self.frames.last_mut() {
                        frame.has_object = true;
                    }
                }
                "image" => {
                    let href = tag
                        .attr("xlink:href")
                        .filter(|h| !h.contains("://") && !h.is_empty())
                        .map(|h| resolve("", &h));
                    if let Some(frame) = self.frames.last_mut() {
                        frame.has_image = true;
                        frame.href = frame.href.take().or(href);
                    }
                }
                "title" | "desc" if tag.qualified().starts_with("svg:") => {
                    if let Some(frame) = self.frames.last_mut() {
                        frame.open = Some(tag.name() == "title");
                    }
                }
                "list" => self.lists += 1,
                "p" | "h" => {
                    let heading = if tag.name() == "h" {
                        Some(
                            tag.attr("outline-level")
                                .and_then(|l| l.parse().ok())
                                .unwrap_or(1),
                        )
                    } else {
                        (tag.attr("style-name").as_deref() == Some("Title")).then_some(1)
                    };
                    let item = self.lists.checked_sub(1);
                    self.paras.push(Paragraph {
                        heading,
                        item,
                        ..Paragraph::default()
                    });
                }
                "s" => self.push_text(" "),
                "tab" => self.push_text("\t"),
                "line-break" => self.push_text("\n"),
                "a" if tag.qualified() == "text:a" => {
                    let url = tag.attr("xlink:href");
                    if let (Some(para), Some(url)) = (self.paras.last_mut(), url) {
                        para.link = Some((para.text.len(), url));
                    }
                }
                "table" if tag.qualified() == "table:table" => {
                    if let Some(frame) = self.frames.last_mut() {
                        frame.has_object = true;
                    }
                    self.tables.start()
                }
                "table-row" => self.tables.row(),
                "table-cell" | "covered-table-cell" => {
                    self.tables.cell();
                    let repeated = tag.attr("number-columns-repeated");
                    self.spans
                        .push(repeated.and_then(|n| n.parse().ok()).unwrap_or(1));
                }
                _ => {}
            },
            Xml::Text(text) => {
                if let Some(frame) = self.frames.last_mut() {
                    match frame.open {
                        Some(true) => return frame.title.push_str(text),
                        Some(false) => return frame.desc.push_str(text),
                        None => {}
                    }
                }
                // Whitespace in ODF text is collapsed; breaks are elements.
                self.push_text(&text.replace(['\n', '\r', '\t'], " "));
            }
            Xml::End(name) => match name {
                "page" if self.slide.is_some() => {
                    if let Some(page) = self.slide.take() {
                        self.pages.push(page.finish());
                    }
                }
                "notes" => self.in_notes = false,
                "title" | "desc" => {
                    if let Some(frame) = self.frames.last_mut() {
                        frame.open = None;
                    }
                }
                "frame" => {
                    if let Some(frame) = self.frames.pop() {
                        self.end_frame(frame);
                    }
                }
                "list" => self.lists = self.lists.saturating_sub(1),
                "p" | "h" => self.end_paragraph(),
                "a" => {
                    if let Some(para) = self.paras.last_mut() {
                        if let Some((start, url)) = para.link.take() {
                            link(&mut para.text, start, &url);
                        }
                    }
                }
                "table-cell" | "covered-table-cell" => {
                    let span = self.spans.pop().unwrap_or(1);
                    self.tables.end_cell(span);
                }
                "table" => {
                    if let Some(rows) = self.tables.end() {
                        self.page().body.table(rows);
                    }
                }
                _ => {}
            },
        }
    }

    /// A picture: its description (and marker) in the paragraph it is
    /// anchored to, or as a block of its own on a slide.
    fn end_frame(&mut self, frame: Frame) {
        if !frame.has_image || frame.has_object {
            return;
        }
        let alt = if frame.desc.trim().is_empty() {
            frame.title
        } else {
            frame.desc
        };
        let mark = match (&frame.href, self.in_notes) {
            (Some(href), false) => self.images.mark(href, Some(&alt)),
            _ => None,
        };
        let text = format!(
            "{}{}",
            image(&alt, frame.name.as_deref(), frame.href.as_deref()).unwrap_or_default(),
            mark.map(String::from).unwrap_or_default()
        );
        if text.is_empty() {
            return;
        }
        match self.paras.last_mut() {
            Some(para) => para.text.push_str(&format!(" {text} ")),
            None => self.page().body.raw(&text),
        }
    }

    fn push_text(&mut self, text: &str) {
        if let Some(para) = self.paras.last_mut() {
            para.text.push_str(text);
        }
    }

    fn end_paragraph(&mut self) {
        let Some(para) = self.paras.pop() else {
            return;
        };
        if para.text.trim().is_empty() || self.tables.text(&para.text) {
            return;
        }
        let class = self.frames.iter().rev().find_map(|f| f.class.clone());
        let in_notes = self.in_notes;
        let page = self.page();
        let md = match class.as_deref() {
            Some("title") if !in_notes => return page.title.push(para.text),
            Some("page-number" | "footer" | "header" | "date-time") => return,
            _ if in_notes => &mut page.notes,
            _ => &mut page.body,
        };
        match (para.heading, para.item) {
            (Some(level), _) => md.heading(level, &para.text),
            (None, Some(level)) => md.item(level, &para.text),
            (None, None) => md.paragraph(&para.text),
        }
    }
}
