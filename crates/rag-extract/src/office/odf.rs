//! OpenDocument text (ODT) and presentations (ODP), from `content.xml`, with
//! the list styles, headers and footers of `styles.xml`.
//!
//! A presentation gives one page per `draw:page`, numbered from 1, laid out
//! like a PPTX slide (title heading, shapes, tables, charts, `Notes:`); a
//! text document one page, in the Markdown a Word document gives (see
//! `docx`):
//!
//! - Headings (`text:h`), paragraphs, tables, links and image descriptions.
//! - List items marked as their list style says (`text:list-style`, in
//!   either part): a numbered level (`text:list-level-style-number`: format,
//!   prefix, suffix, levels shown, start value) reads `1.`, `a.`, `ii)`,
//!   counted per list (a list continuing another goes on counting), a
//!   bulleted one `-`; nested levels are indented. On slides numbered items
//!   are `-` items, as PPTX's are.
//! - Footnotes and endnotes (`text:note`) stay out of the running text: a
//!   marker where they are (`[^1]` for footnotes, `[^i]` for endnotes) and
//!   their text in `# Footnotes` / `# Endnotes` sections at the end.
//! - Comments (`office:annotation`) likewise, in a `# Comments` section:
//!   author, the text they are anchored to (up to their
//!   `office:annotation-end`), and what they say.
//! - The text of the master pages' headers and footers, once each, in
//!   `# Header` and `# Footer` sections; page numbers and counts are left
//!   out.
//! - Charts (a frame's `draw:object` naming an embedded chart document,
//!   `Object 1/content.xml`, read from the package under the same limits)
//!   as their title and the data table the chart draws from: `### Chart:
//!   title` on a slide, a `Chart: title` paragraph after the paragraph that
//!   holds it in a text document.
//!
//! Tracked deletions are left out, and so are comments and notes on slides
//! (as for PPTX). Pictures stored in the package (`Pictures/...`) go to
//! [`ExtractedDocument::images`] with their place in the text.

use std::collections::{BTreeMap, HashMap};

use rag_core::ingest::chunking::TextKind;
use rag_core::ports::{ExtractError, ExtractedDocument, ExtractedPage};

use super::chart::{Chart, Series};
use super::images::Images;
use super::marks::{definition, letters, roman, ANCHOR_QUOTE};
use super::xml::{resolve, walk, Xml};
use super::{image, link, one_line, Markdown, Package, Tables};
use crate::{Extraction, Limits};

/// Elements left out with their content in text documents: tracked
/// deletions, the citation a note shows (its marker is made anew), a
/// heading's or list item's cached number (made anew too), page numbers
/// and counts.
const SKIP_TEXT: &[&str] = &[
    "tracked-changes",
    "note-citation",
    "number",
    "page-number",
    "page-count",
];
/// In presentations also comments and notes.
const SKIP_PRESENTATION: &[&str] = &[
    "tracked-changes",
    "note-citation",
    "number",
    "page-number",
    "page-count",
    "annotation",
    "note",
];
/// List levels (ODF has ten).
const LEVELS: usize = 10;
/// Most cells of a chart's table read.
const CHART_CELLS: usize = 100_000;
/// Most times one cell or row is repeated (`table:number-columns-repeated`).
const CHART_REPEAT: usize = 64;

/// Item counts of a list, per level.
type Counts = [Option<u32>; LEVELS];

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
    let presentation = format == "ODP";
    let skip = if presentation {
        SKIP_PRESENTATION
    } else {
        SKIP_TEXT
    };
    let mut notes = Vec::new();
    // Without usable styles, lists are bulleted.
    let common = match read_styles(&mut package, presentation, skip) {
        Err(ExtractError::Corrupt { detail, .. }) => {
            notes.push(format!("styles.xml: left out, {detail}"));
            None
        }
        other => other?,
    };
    let (styles, sections) = match common {
        Some(read) => (read.styles, read.sections),
        None => (Styles::default(), Sections::default()),
    };

    let mut content = Content::new(presentation, styles, Some(&mut package), true);
    walk(&xml, "content.xml", format, skip, |event| {
        content.visit(event)
    })?;
    if let Some(e) = content.error.take() {
        return Err(e);
    }
    notes.append(&mut content.notes);
    let mut images = std::mem::take(&mut content.images);
    let pages: Vec<ExtractedPage> = if content.pages.is_empty() {
        let text = content.document(sections);
        vec![ExtractedPage {
            number: None,
            text: images.place(0, text),
        }]
    } else {
        crate::check_page_count(content.pages.len(), None, limits, "slides")?;
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
    let images = images.load(&mut package, limits, &mut notes)?;
    Ok(Extraction {
        document: ExtractedDocument {
            pages,
            kind: TextKind::Markdown,
            format: if presentation { "odp" } else { "odt" },
            images,
        },
        notes,
    })
}

/// What styles.xml gives the content.
struct CommonStyles {
    styles: Styles,
    sections: Sections,
}

/// The headers' and footers' texts, each once.
#[derive(Default)]
struct Sections {
    headers: Vec<String>,
    footers: Vec<String>,
}

/// Reads styles.xml: its common styles, and the text of the master pages'
/// headers and footers; `None` when there is no such part.
fn read_styles(
    package: &mut Package<'_>,
    presentation: bool,
    skip: &[&str],
) -> Result<Option<CommonStyles>, ExtractError> {
    let Some(xml) = package.read("styles.xml")? else {
        return Ok(None);
    };
    let mut content = Content::new(presentation, Styles::default(), None, false);
    walk(&xml, "styles.xml", package.format(), skip, |event| {
        content.visit(event)
    })?;
    let mut styles = content.styles;
    // Automatic styles apply to the part that holds them.
    styles.automatic = StyleSet::default();
    Ok(Some(CommonStyles {
        styles,
        sections: content.sections,
    }))
}

// ---------------------------------------------------------------- styles

/// List and paragraph styles: the common ones (styles.xml) and the
/// automatic ones of the part being read, which come first.
#[derive(Default)]
struct Styles {
    common: StyleSet,
    automatic: StyleSet,
    /// Reading `office:automatic-styles` (else `office:styles`).
    reading_automatic: bool,
    /// The named list style being read.
    list: Option<String>,
}

#[derive(Default)]
struct StyleSet {
    /// List styles by name: their levels, from 1.
    lists: HashMap<String, HashMap<usize, Level>>,
    /// Paragraph styles by name: the parent style and the list style.
    paragraphs: HashMap<String, (Option<String>, Option<String>)>,
}

/// How a list level is marked.
#[derive(Debug, Clone)]
enum Level {
    Bullet,
    Number(Numbering),
}

#[derive(Debug, Clone)]
struct Numbering {
    /// `1`, `a`, `A`, `i`, `I`, or empty (no number).
    format: String,
    prefix: String,
    suffix: String,
    /// How many levels' numbers are shown (`1.2.` shows two).
    shown: usize,
    start: u32,
    /// Letters past `z` as `aa`, `bb` (else `aa`, `ab`).
    letter_sync: bool,
}

impl Styles {
    fn visit(&mut self, event: &Xml<'_>) {
        let set = if self.reading_automatic {
            &mut self.automatic
        } else {
            &mut self.common
        };
        match event {
            Xml::Start(tag) => match tag.name() {
                "list-style" => {
                    // Unnamed list styles (inside graphic styles) are not
                    // referred to by lists.
                    self.list = tag.attr("style:name");
                    if let Some(name) = &self.list {
                        set.lists.insert(name.clone(), HashMap::new());
                    }
                }
                "list-level-style-number"
                | "list-level-style-bullet"
                | "list-level-style-image" => {
                    let level = tag
                        .attr("text:level")
                        .and_then(|l| l.parse::<usize>().ok())
                        .filter(|l| (1..=LEVELS).contains(l));
                    let (Some(name), Some(level)) = (&self.list, level) else {
                        return;
                    };
                    let style = if tag.name() == "list-level-style-number" {
                        Level::Number(Numbering {
                            format: tag.attr("style:num-format").unwrap_or_else(|| "1".into()),
                            prefix: tag.attr("style:num-prefix").unwrap_or_default(),
                            suffix: tag.attr("style:num-suffix").unwrap_or_default(),
                            shown: tag
                                .attr("text:display-levels")
                                .and_then(|n| n.parse().ok())
                                .unwrap_or(1),
                            start: tag
                                .attr("text:start-value")
                                .and_then(|n| n.parse().ok())
                                .unwrap_or(1),
                            letter_sync: tag.attr("style:num-letter-sync").as_deref()
                                == Some("true"),
                        })
                    } else {
                        Level::Bullet
                    };
                    set.lists
                        .entry(name.clone())
                        .or_default()
                        .insert(level, style);
                }
                "style" if tag.qualified() == "style:style" => {
                    if tag.attr("style:family").as_deref() != Some("paragraph") {
                        return;
                    }
                    if let Some(name) = tag.attr("style:name") {
                        set.paragraphs.insert(
                            name,
                            (
                                tag.attr("style:parent-style-name"),
                                tag.attr("style:list-style-name"),
                            ),
                        );
                    }
                }
                _ => {}
            },
            Xml::End("list-style") => self.list = None,
            _ => {}
        }
    }

    /// A list style's levels.
    fn list(&self, name: &str) -> Option<&HashMap<usize, Level>> {
        self.automatic
            .lists
            .get(name)
            .or_else(|| self.common.lists.get(name))
    }

    /// The list style a paragraph style (or one it is based on) gives.
    fn paragraph_list(&self, style: &str) -> Option<&str> {
        let mut name = style;
        // A few levels at most, whatever loops the file has.
        for _ in 0..8 {
            let (parent, list) = self
                .automatic
                .paragraphs
                .get(name)
                .or_else(|| self.common.paragraphs.get(name))?;
            if let Some(list) = list {
                // An empty name turns the inherited list style off.
                return Some(list.as_str()).filter(|l| !l.is_empty());
            }
            name = parent.as_deref()?;
        }
        None
    }
}

// ---------------------------------------------------------------- lists

/// How a list item is marked.
#[derive(Debug, PartialEq)]
enum Marker {
    Bullet,
    Number(String),
    /// Not an item: a list header, a further paragraph of an item, or a
    /// level whose format shows nothing.
    Nothing,
}

/// An open `text:list`.
struct List {
    style: Option<String>,
    /// `xml:id`, by which a later list may continue this one.
    id: Option<String>,
    item: Option<Item>,
}

/// An open `text:list-item` or `text:list-header`.
#[derive(Default)]
struct Item {
    header: bool,
    /// Whether its first paragraph, the one marked, has started.
    labelled: bool,
    /// `text:start-value`: the number this item restarts the count at.
    start: Option<u32>,
    /// `text:style-override`: the list style of this item.
    style: Option<String>,
}

/// Counts of the lists ended, for lists continuing them.
#[derive(Default)]
struct Continued {
    by_id: HashMap<String, Counts>,
    /// The last list of each list style (`""`: none).
    by_style: HashMap<String, Counts>,
}

/// Where paragraphs, tables and lists are written: the page, or a note,
/// comment, header or footer being read.
#[derive(Default)]
struct Flow {
    md: Markdown,
    tables: Tables,
    /// Columns each open table cell repeats over.
    spans: Vec<usize>,
    /// Open lists, innermost last.
    lists: Vec<List>,
    /// Item counts of the outermost open list.
    counts: Counts,
}

impl Flow {
    /// A paragraph starts: whether it is in a list, and if so whether it
    /// is the first of its item (the one marked).
    fn start_paragraph(&mut self) -> Option<bool> {
        let list = self.lists.last_mut()?;
        Some(match &mut list.item {
            Some(item) if !item.header && !item.labelled => {
                item.labelled = true;
                true
            }
            _ => false,
        })
    }

    /// The level and marker of an item's paragraph, counting it (deeper
    /// levels start over).
    fn marker(
        &mut self,
        styles: &Styles,
        paragraph_style: Option<&str>,
        presentation: bool,
    ) -> (usize, Marker) {
        let level = self.lists.len().saturating_sub(1).min(LEVELS - 1);
        let inherited = self.lists.iter().rev().find_map(|l| l.style.clone());
        let (restart, own) = match self.lists.last().and_then(|l| l.item.as_ref()) {
            Some(item) => (item.start, item.style.clone()),
            None => (None, None),
        };
        let style = own.or(inherited).or_else(|| {
            paragraph_style
                .and_then(|s| styles.paragraph_list(s))
                .map(str::to_owned)
        });
        let levels = style.as_deref().and_then(|s| styles.list(s));
        let numbering = |l: usize| match levels.and_then(|levels| levels.get(&(l + 1))) {
            Some(Level::Number(n)) => Some(n),
            _ => None,
        };
        let Some(this) = numbering(level) else {
            return (level, Marker::Bullet);
        };
        let counts = &mut self.counts;
        counts[level] = Some(match (restart, counts[level]) {
            (Some(n), _) => n,
            (None, Some(n)) => n.saturating_add(1),
            (None, None) => this.start,
        });
        counts[level + 1..].iter_mut().for_each(|c| *c = None);
        let shown = this.shown.clamp(1, level + 1);
        let numbers: Vec<String> = (level + 1 - shown..=level)
            .filter_map(|l| {
                let (format, sync, start) = match numbering(l) {
                    Some(n) => (n.format.as_str(), n.letter_sync, n.start),
                    None => ("1", false, 1),
                };
                let n = counts[l].unwrap_or(start);
                Some(number(n, format, sync)).filter(|s| !s.is_empty())
            })
            .collect();
        if numbers.is_empty() {
            return (level, Marker::Nothing);
        }
        if presentation {
            return (level, Marker::Bullet);
        }
        let marker = one_line(&format!(
            "{}{}{}",
            this.prefix,
            numbers.join("."),
            this.suffix
        ));
        (level, Marker::Number(marker))
    }
}

/// A list number in an ODF number format.
fn number(n: u32, format: &str, letter_sync: bool) -> String {
    match format {
        "" => String::new(),
        "a" => letters(n, false, letter_sync),
        "A" => letters(n, true, letter_sync),
        "i" => roman(n, false),
        "I" => roman(n, true),
        _ => n.to_string(),
    }
}

// ---------------------------------------------------------------- content

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

/// A note, comment, header or footer being read into a flow of its own.
struct Capture {
    kind: Kind,
    flow: Flow,
    /// Paragraphs open when it started: text goes to its own paragraphs only.
    base: usize,
}

enum Kind {
    Note {
        endnote: bool,
        label: String,
    },
    Comment {
        /// `office:name`, matched by the `office:annotation-end` of the
        /// range it comments on.
        name: Option<String>,
        author: String,
    },
    Section {
        header: bool,
        shown: bool,
    },
}

/// A comment read.
struct Comment {
    name: Option<String>,
    author: String,
    text: String,
}

/// Reads content.xml, or (with no package) styles.xml.
struct Content<'a, 'p> {
    presentation: bool,
    /// Where embedded charts are read from (`None`: not read).
    package: Option<&'a mut Package<'p>>,
    styles: Styles,
    /// Inside `office:styles` or `office:automatic-styles`.
    in_styles: bool,
    /// Finished slides.
    pages: Vec<String>,
    /// The open slide.
    slide: Option<Page>,
    /// Everything outside slides (a text document's body).
    document: Page,
    in_notes: bool,
    /// Open paragraphs, innermost last (a frame's text box sits inside the
    /// paragraph it is anchored to, a note inside the paragraph citing it).
    paras: Vec<Paragraph>,
    /// The page's flow, and the notes, comments, headers and footers open.
    flow: Flow,
    captures: Vec<Capture>,
    continued: Continued,
    frames: Vec<Frame>,
    images: Images,
    /// Whether pictures are registered (content.xml only).
    register_images: bool,
    /// Footnote and endnote definitions (`[^1]: text`), in order.
    footnotes: Vec<String>,
    endnotes: Vec<String>,
    comments: Vec<Comment>,
    /// Inside a comment's `dc:creator`.
    in_creator: bool,
    /// Open comment ranges (name, text so far), and closed ones by name.
    ranges: Vec<(String, String)>,
    anchors: HashMap<String, String>,
    sections: Sections,
    /// Charts that could not be read.
    notes: Vec<String>,
    /// A limit hit while reading a chart, reported after the walk.
    error: Option<ExtractError>,
}

#[derive(Default)]
struct Paragraph {
    heading: Option<usize>,
    /// `text:style-name`, for the list style it may give.
    style: Option<String>,
    /// In a list: whether it is its item's first paragraph.
    list: Option<bool>,
    text: String,
    link: Option<(usize, String)>,
    /// Charts drawn in the paragraph, shown after it.
    charts: Vec<Chart>,
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
    /// The embedded object's directory in the package (`Object 1`).
    object: Option<String>,
    /// `svg:title` and `svg:desc`, and which one is open.
    title: String,
    desc: String,
    open: Option<bool>,
}

impl<'a, 'p> Content<'a, 'p> {
    fn new(
        presentation: bool,
        styles: Styles,
        package: Option<&'a mut Package<'p>>,
        register_images: bool,
    ) -> Self {
        Self {
            presentation,
            package,
            styles,
            in_styles: false,
            pages: Vec::new(),
            slide: None,
            document: Page::default(),
            in_notes: false,
            paras: Vec::new(),
            flow: Flow::default(),
            captures: Vec::new(),
            continued: Continued::default(),
            frames: Vec::new(),
            images: Images::default(),
            register_images,
            footnotes: Vec::new(),
            endnotes: Vec::new(),
            comments: Vec::new(),
            in_creator: false,
            ranges: Vec::new(),
            anchors: HashMap::new(),
            sections: Sections::default(),
            notes: Vec::new(),
            error: None,
        }
    }

    /// The flow being written.
    fn flow(&mut self) -> &mut Flow {
        match self.captures.last_mut() {
            Some(capture) => &mut capture.flow,
            None => &mut self.flow,
        }
    }

    /// Where blocks outside paragraphs (tables, charts, pictures) go.
    fn blocks(&mut self) -> &mut Markdown {
        match self.captures.last_mut() {
            Some(capture) => &mut capture.flow.md,
            None => &mut self.slide.as_mut().unwrap_or(&mut self.document).body,
        }
    }

    fn visit(&mut self, event: Xml<'_>) {
        if self.in_styles {
            if let Xml::End("styles" | "automatic-styles") = event {
                self.in_styles = false;
            } else {
                self.styles.visit(&event);
            }
            return;
        }
        match event {
            Xml::Start(tag) => match tag.name() {
                name @ ("styles" | "automatic-styles")
                    if tag.qualified().starts_with("office:") =>
                {
                    self.in_styles = true;
                    self.styles.reading_automatic = name == "automatic-styles";
                }
                "page" if tag.qualified() == "draw:page" => self.slide = Some(Page::default()),
                "notes" => self.in_notes = true,
                "frame" => self.frames.push(Frame {
                    class: tag.attr("presentation:class"),
                    name: tag.attr("draw:name"),
                    ..Frame::default()
                }),
                "object" | "object-ole" => {
                    let object = (tag.name() == "object")
                        .then(|| tag.attr("xlink:href"))
                        .flatten()
                        .filter(|h| !h.contains("://"))
                        .map(|h| resolve("", &h))
                        .filter(|h| !h.is_empty());
                    if let Some(frame) = self.frames.last_mut() {
                        frame.has_object = true;
                        frame.object = frame.object.take().or(object);
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
                "list" => {
                    let style = tag.attr("text:style-name");
                    let id = tag.attr("xml:id");
                    let continued = &self.continued;
                    let flow = match self.captures.last_mut() {
                        Some(capture) => &mut capture.flow,
                        None => &mut self.flow,
                    };
                    if flow.lists.is_empty() {
                        let key = style.clone().unwrap_or_default();
                        flow.counts = match tag.attr("text:continue-list") {
                            Some(from) => continued.by_id.get(&from).copied(),
                            None if tag.attr("text:continue-numbering").as_deref()
                                == Some("true") =>
                            {
                                continued.by_style.get(&key).copied()
                            }
                            None => None,
                        }
                        .unwrap_or_default();
                    }
                    flow.lists.push(List {
                        style,
                        id,
                        item: None,
                    });
                }
                "list-item" | "list-header" => {
                    let item = Item {
                        header: tag.name() == "list-header",
                        labelled: false,
                        start: tag.attr("text:start-value").and_then(|n| n.parse().ok()),
                        style: tag.attr("text:style-override"),
                    };
                    if let Some(list) = self.flow().lists.last_mut() {
                        list.item = Some(item);
                    }
                }
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
                    // `loext:p` in an object's frame is no paragraph of
                    // the list.
                    let list = if tag.qualified().starts_with("loext:") {
                        None
                    } else {
                        self.flow().start_paragraph()
                    };
                    self.paras.push(Paragraph {
                        heading,
                        style: tag.attr("text:style-name"),
                        list,
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
                "note" => {
                    let endnote = tag.attr("text:note-class").as_deref() == Some("endnote");
                    let label = if endnote {
                        roman(self.endnotes.len() as u32 + 1, false)
                    } else {
                        (self.footnotes.len() + 1).to_string()
                    };
                    self.push_text(&format!("[^{label}]"));
                    // Counted now: a note's text is kept when it ends.
                    let notes = if endnote {
                        &mut self.endnotes
                    } else {
                        &mut self.footnotes
                    };
                    notes.push(String::new());
                    self.capture(Kind::Note { endnote, label });
                }
                "annotation" => {
                    let name = tag.attr("office:name");
                    if let Some(name) = &name {
                        self.ranges.push((name.clone(), String::new()));
                    }
                    self.capture(Kind::Comment {
                        name,
                        author: String::new(),
                    });
                }
                "annotation-end" => {
                    let name = tag.attr("office:name");
                    if let Some(i) = self
                        .ranges
                        .iter()
                        .position(|(n, _)| Some(n) == name.as_ref())
                    {
                        let (name, text) = self.ranges.remove(i);
                        self.anchors.insert(name, text);
                    }
                }
                "creator" => {
                    if let Some(capture) = self.captures.last() {
                        self.in_creator = matches!(capture.kind, Kind::Comment { .. })
                            && self.paras.len() == capture.base;
                    }
                }
                name @ ("header" | "footer" | "header-left" | "footer-left" | "header-first"
                | "footer-first")
                    if tag.qualified().starts_with("style:")
                        || tag.qualified().starts_with("loext:") =>
                {
                    let shown = tag.attr("style:display").as_deref() != Some("false");
                    self.capture(Kind::Section {
                        header: name.starts_with("header"),
                        shown,
                    });
                }
                "table" if tag.qualified() == "table:table" => {
                    if let Some(frame) = self.frames.last_mut() {
                        frame.has_object = true;
                    }
                    self.flow().tables.start()
                }
                "table-row" => self.flow().tables.row(),
                "table-cell" | "covered-table-cell" => {
                    let repeated = tag.attr("number-columns-repeated");
                    let flow = self.flow();
                    flow.tables.cell();
                    flow.spans
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
                if self.in_creator {
                    if let Some(Capture {
                        kind: Kind::Comment { author, .. },
                        ..
                    }) = self.captures.last_mut()
                    {
                        author.push_str(text);
                    }
                    return;
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
                "list" => {
                    let flow = match self.captures.last_mut() {
                        Some(capture) => &mut capture.flow,
                        None => &mut self.flow,
                    };
                    if let Some(list) = flow.lists.pop() {
                        if flow.lists.is_empty() {
                            let counts = flow.counts;
                            if let Some(id) = list.id {
                                self.continued.by_id.insert(id, counts);
                            }
                            self.continued
                                .by_style
                                .insert(list.style.unwrap_or_default(), counts);
                        }
                    }
                }
                "list-item" | "list-header" => {
                    if let Some(list) = self.flow().lists.last_mut() {
                        list.item = None;
                    }
                }
                "p" | "h" => self.end_paragraph(),
                "a" => {
                    if let Some(para) = self.paras.last_mut() {
                        if let Some((start, url)) = para.link.take() {
                            link(&mut para.text, start, &url);
                        }
                    }
                }
                "creator" => self.in_creator = false,
                "note" | "annotation" | "header" | "footer" | "header-left" | "footer-left"
                | "header-first" | "footer-first" => self.end_capture(name),
                "table-cell" | "covered-table-cell" => {
                    let flow = self.flow();
                    let span = flow.spans.pop().unwrap_or(1);
                    flow.tables.end_cell(span);
                }
                "table" => {
                    if let Some(rows) = self.flow().tables.end() {
                        self.blocks().table(rows);
                    }
                }
                _ => {}
            },
        }
    }

    fn capture(&mut self, kind: Kind) {
        self.captures.push(Capture {
            kind,
            flow: Flow::default(),
            base: self.paras.len(),
        });
    }

    /// The end of an element that may close the open capture.
    fn end_capture(&mut self, name: &str) {
        let closes = match self.captures.last().map(|c| &c.kind) {
            Some(Kind::Note { .. }) => name == "note",
            Some(Kind::Comment { .. }) => name == "annotation",
            Some(Kind::Section { .. }) => name.starts_with("header") || name.starts_with("footer"),
            None => false,
        };
        let Some(capture) = self.captures.pop_if(|_| closes) else {
            return;
        };
        // Paragraphs left open inside (there are none in valid XML) go.
        self.paras.truncate(capture.base);
        let text = capture.flow.md.finish();
        match capture.kind {
            Kind::Note { endnote, label } => {
                let notes = if endnote {
                    &mut self.endnotes
                } else {
                    &mut self.footnotes
                };
                if let Some(slot) = notes.iter_mut().rev().find(|n| n.is_empty()) {
                    *slot = definition(&label, &text);
                }
            }
            Kind::Comment { name, author } => self.comments.push(Comment { name, author, text }),
            Kind::Section { header, shown } => {
                let texts = if header {
                    &mut self.sections.headers
                } else {
                    &mut self.sections.footers
                };
                if shown && !text.trim().is_empty() && !texts.contains(&text) {
                    texts.push(text);
                }
            }
        }
    }

    /// A picture: its description (and marker) in the paragraph it is
    /// anchored to, or as a block of its own on a slide. An embedded chart:
    /// its table, after the paragraph holding it or as a block on a slide.
    fn end_frame(&mut self, frame: Frame) {
        if let Some(object) = &frame.object {
            let Some(chart) = self.chart(object) else {
                return;
            };
            match self.paragraph() {
                Some(para) => para.charts.push(chart),
                None => {
                    let level = if self.presentation { 3 } else { 0 };
                    chart.to_markdown(self.blocks(), level);
                }
            }
            return;
        }
        if !frame.has_image || frame.has_object {
            return;
        }
        let alt = if frame.desc.trim().is_empty() {
            frame.title
        } else {
            frame.desc
        };
        let mark = match (&frame.href, self.in_notes || !self.register_images) {
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
        match self.paragraph() {
            Some(para) => para.text.push_str(&format!(" {text} ")),
            None => self.blocks().raw(&text),
        }
    }

    /// The open paragraph of the flow being written (a note's or
    /// comment's own, not the one citing it).
    fn paragraph(&mut self) -> Option<&mut Paragraph> {
        let base = self.captures.last().map_or(0, |c| c.base);
        self.paras.get_mut(base..).and_then(|p| p.last_mut())
    }

    /// The chart of an embedded object, when it is one and can be read.
    fn chart(&mut self, object: &str) -> Option<Chart> {
        let package = self.package.as_deref_mut()?;
        match read_chart(package, object) {
            Ok(chart) => chart,
            Err(ExtractError::Corrupt { detail, .. }) => {
                self.notes.push(format!("chart left out: {detail}"));
                None
            }
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }

    /// Text of the open paragraph (of the open note or comment, if any),
    /// and of the comment ranges open.
    fn push_text(&mut self, text: &str) {
        let base = self.captures.last().map(|c| c.base);
        if self.paras.len() <= base.unwrap_or(0) {
            return;
        }
        if let Some(para) = self.paras.last_mut() {
            para.text.push_str(text);
        }
        if base.is_none() {
            for (_, anchored) in &mut self.ranges {
                if anchored.len() <= ANCHOR_QUOTE * 2 {
                    anchored.push_str(text);
                }
            }
        }
    }

    fn end_paragraph(&mut self) {
        let Some(mut para) = self.paras.pop() else {
            return;
        };
        if self.captures.is_empty() {
            for (_, anchored) in &mut self.ranges {
                anchored.push(' ');
            }
        }
        let charts = std::mem::take(&mut para.charts);
        let text = para.text.trim();
        if !text.is_empty() {
            let presentation = self.presentation;
            let styles = &self.styles;
            let flow = match self.captures.last_mut() {
                Some(capture) => &mut capture.flow,
                None => &mut self.flow,
            };
            let marker = match para.list {
                Some(true) => flow.marker(styles, para.style.as_deref(), presentation),
                // Outside lists, or not the first paragraph of an item.
                _ => (0, Marker::Nothing),
            };
            let numbered = match &marker.1 {
                Marker::Number(n) => format!("{n} {text}"),
                _ => text.to_owned(),
            };
            if !flow.tables.text(&numbered) {
                self.write(para.heading, marker, text, numbered);
            }
        }
        for chart in charts {
            let label = if chart.title.is_empty() {
                "Chart".to_owned()
            } else {
                format!("Chart: {}", chart.title)
            };
            if !self.flow().tables.text(&label) {
                chart.to_markdown(self.blocks(), 0);
            }
        }
    }

    /// A paragraph's text where it belongs: a slide's title, body or
    /// notes, or the open note or comment.
    fn write(
        &mut self,
        heading: Option<usize>,
        marker: (usize, Marker),
        text: &str,
        numbered: String,
    ) {
        let class = self.frames.iter().rev().find_map(|f| f.class.clone());
        let in_notes = self.in_notes;
        let md = match self.captures.last_mut() {
            Some(capture) => &mut capture.flow.md,
            None => {
                let page = self.slide.as_mut().unwrap_or(&mut self.document);
                match class.as_deref() {
                    Some("title") if !in_notes => return page.title.push(numbered),
                    Some("page-number" | "footer" | "header" | "date-time") => return,
                    _ if in_notes => &mut page.notes,
                    _ => &mut page.body,
                }
            }
        };
        match (heading, marker) {
            (Some(level), _) => md.heading(level, &numbered),
            (None, (level, Marker::Bullet)) => md.item(level, text),
            (None, (level, Marker::Number(n))) => md.item_marked(level, &n, text),
            (None, (_, Marker::Nothing)) => md.paragraph(text),
        }
    }

    /// A text document's page: its body, then the notes, comments, headers
    /// and footers sections.
    fn document(self, sections: Sections) -> String {
        let mut md = Markdown::default();
        md.raw(&self.document.finish());
        for (notes, title) in [(self.footnotes, "Footnotes"), (self.endnotes, "Endnotes")] {
            if !notes.is_empty() {
                md.heading(1, title);
                md.raw(&notes.join("\n"));
            }
        }
        super::marks::comments(
            &mut md,
            self.comments.iter().map(|c| {
                let anchor = c.name.as_ref().and_then(|n| self.anchors.get(n));
                (
                    c.author.as_str(),
                    anchor.map(String::as_str),
                    c.text.as_str(),
                )
            }),
        );
        for (texts, title) in [(sections.headers, "Header"), (sections.footers, "Footer")] {
            if !texts.is_empty() {
                md.heading(1, title);
                texts.iter().for_each(|t| md.raw(t));
            }
        }
        md.finish()
    }
}

// ---------------------------------------------------------------- charts

/// Reads the chart of an embedded object (`Object 1`, from
/// `Object 1/content.xml`): `None` when the object is missing or no chart.
fn read_chart(package: &mut Package<'_>, object: &str) -> Result<Option<Chart>, ExtractError> {
    let part = format!("{object}/content.xml");
    let Some(xml) = package.read(&part)? else {
        return Ok(None);
    };
    let mut reader = ChartReader::default();
    walk(&xml, &part, package.format(), &[], |event| {
        reader.visit(event)
    })?;
    Ok(reader.finish())
}

/// An ODF chart document: `chart:chart` with its title, its series naming
/// the cells of the chart's own table (`local-table`) they draw.
#[derive(Default)]
struct ChartReader {
    /// Local names of the open elements.
    path: Vec<String>,
    is_chart: bool,
    title: String,
    series: Vec<ChartSeries>,
    /// `chart:categories`' cell range.
    categories: Option<String>,
    /// The table's rows of cells, as shown.
    rows: Vec<Vec<String>>,
    cells: usize,
    /// Depth of tables (a table nested in a cell is not read).
    tables: usize,
    /// Times the open row repeats.
    row_repeat: usize,
    /// The open cell: its text, its value, the times it repeats.
    cell: Option<(String, Option<String>, usize)>,
}

#[derive(Default)]
struct ChartSeries {
    values: Option<String>,
    label: Option<String>,
    /// X values of a scatter chart.
    domain: Option<String>,
}

impl ChartReader {
    fn visit(&mut self, event: Xml<'_>) {
        match event {
            Xml::Start(tag) => {
                let name = tag.name().to_owned();
                let in_chart = self.path.iter().any(|n| n == "chart");
                match name.as_str() {
                    "chart" if tag.qualified() == "chart:chart" => self.is_chart = true,
                    "series" if in_chart => self.series.push(ChartSeries {
                        values: tag.attr("chart:values-cell-range-address"),
                        label: tag.attr("chart:label-cell-address"),
                        domain: None,
                    }),
                    "domain" => {
                        if let Some(series) = self.series.last_mut() {
                            series.domain = series
                                .domain
                                .take()
                                .or_else(|| tag.attr("table:cell-range-address"));
                        }
                    }
                    "categories" => {
                        self.categories = self
                            .categories
                            .take()
                            .or_else(|| tag.attr("table:cell-range-address"))
                    }
                    "p" if self.in_title() && !self.title.is_empty() => self.title.push(' '),
                    "table" if in_chart => self.tables += 1,
                    "table-row" if self.tables == 1 => {
                        self.row_repeat = repeat(tag.attr("table:number-rows-repeated"));
                        self.rows.push(Vec::new());
                    }
                    "table-cell" | "covered-table-cell" if self.tables == 1 => {
                        let value = match tag.attr("office:value-type").as_deref() {
                            Some(kind @ ("float" | "percentage")) => tag
                                .attr("office:value")
                                .and_then(|v| shown(&v, kind == "percentage")),
                            _ => None,
                        };
                        let times = repeat(tag.attr("table:number-columns-repeated"));
                        self.cell = Some((String::new(), value, times));
                    }
                    "p" if self.tables == 1 => {
                        if let Some((text, _, _)) = &mut self.cell {
                            if !text.is_empty() {
                                text.push(' ');
                            }
                        }
                    }
                    _ => {}
                }
                self.path.push(name);
            }
            Xml::Text(text) => {
                if self.in_title() {
                    if self.path.last().is_some_and(|n| n != "title") {
                        self.title.push_str(text);
                    }
                } else if let Some((cell, _, _)) = &mut self.cell {
                    if self.path.iter().any(|n| n == "p") {
                        cell.push_str(text);
                    }
                }
            }
            Xml::End(name) => {
                match name {
                    "table-cell" | "covered-table-cell" if self.tables == 1 => {
                        if let (Some((text, value, times)), Some(row)) =
                            (self.cell.take(), self.rows.last_mut())
                        {
                            let shown = value.unwrap_or_else(|| one_line(&text));
                            for _ in 0..times {
                                if self.cells < CHART_CELLS {
                                    self.cells += 1;
                                    row.push(shown.clone());
                                }
                            }
                        }
                    }
                    "table-row" if self.tables == 1 => {
                        if let Some(row) = self.rows.last().cloned() {
                            for _ in 1..self.row_repeat {
                                if self.cells + row.len() <= CHART_CELLS {
                                    self.cells += row.len();
                                    self.rows.push(row.clone());
                                }
                            }
                        }
                    }
                    "table" if self.tables > 0 => self.tables -= 1,
                    _ => {}
                }
                self.path.pop();
            }
        }
    }

    /// Whether the open element is in the chart's own title (not an
    /// axis's).
    fn in_title(&self) -> bool {
        self.path
            .windows(2)
            .any(|w| w[0] == "chart" && w[1] == "title")
    }

    /// The cell at a row and column (from 0).
    fn cell(&self, (row, column): (usize, usize)) -> &str {
        self.rows
            .get(row)
            .and_then(|r| r.get(column))
            .map_or("", String::as_str)
    }

    /// The cells of a range address, by point index.
    fn points(&self, address: Option<&str>) -> BTreeMap<u32, String> {
        let width = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let Some(address) = address else {
            return BTreeMap::new();
        };
        cells(address, self.rows.len(), width)
            .into_iter()
            .enumerate()
            .map(|(i, at)| (i as u32, self.cell(at).to_owned()))
            .filter(|(_, text)| !text.is_empty())
            .collect()
    }

    fn finish(self) -> Option<Chart> {
        if !self.is_chart {
            return None;
        }
        let mut series: Vec<Series> = self
            .series
            .iter()
            .filter(|s| s.values.is_some())
            .map(|s| {
                let name = s
                    .label
                    .as_deref()
                    .and_then(|a| cells(a, self.rows.len(), usize::MAX).first().copied())
                    .map(|at| one_line(self.cell(at)))
                    .unwrap_or_default();
                let categories = s.domain.as_deref().or(self.categories.as_deref());
                Series {
                    name,
                    categories: self.points(categories),
                    values: self.points(s.values.as_deref()),
                }
            })
            .collect();
        if series.is_empty() && !self.rows.is_empty() {
            // No cell ranges: series by column, named in the first row,
            // categories in the first column.
            let width = self.rows.iter().map(Vec::len).max().unwrap_or(0);
            let column = |c: usize| -> BTreeMap<u32, String> {
                (1..self.rows.len())
                    .map(|r| ((r - 1) as u32, self.cell((r, c)).to_owned()))
                    .filter(|(_, text)| !text.is_empty())
                    .collect()
            };
            series = (1..width)
                .map(|c| Series {
                    name: self.cell((0, c)).to_owned(),
                    categories: column(0),
                    values: column(c),
                })
                .collect();
        }
        Some(Chart {
            title: one_line(&self.title),
            series,
        })
    }
}

/// Times a cell or row repeats, within reason.
fn repeat(attr: Option<String>) -> usize {
    attr.and_then(|n| n.parse().ok())
        .unwrap_or(1)
        .clamp(1, CHART_REPEAT)
}

/// A value as shown: the shortest decimal that reads back the same, as a
/// percentage for percentages.
fn shown(value: &str, percent: bool) -> Option<String> {
    let x = value.trim().parse::<f64>().ok().filter(|x| x.is_finite())?;
    Some(if percent {
        format!("{}%", (x * 100.0 * 1e9).round() / 1e9)
    } else {
        format!("{x}")
    })
}

/// The cells, as (row, column) from 0, of a cell range address
/// (`local-table.$B$2:.$B$4`, several ranges separated by spaces), row by
/// row, within a table of `rows` rows and `columns` columns.
fn cells(address: &str, rows: usize, columns: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for range in address.split_whitespace() {
        let (from, to) = range.split_once(':').unwrap_or((range, range));
        let (Some((r0, c0)), Some((r1, c1))) = (cell_ref(from), cell_ref(to)) else {
            continue;
        };
        for row in r0.min(r1)..=r0.max(r1) {
            if row >= rows || out.len() >= CHART_CELLS {
                break;
            }
            for column in c0.min(c1)..=c0.max(c1) {
                if column >= columns {
                    break;
                }
                out.push((row, column));
            }
        }
    }
    out
}

/// A cell reference (`table.$B$2`, `.B2`) as (row, column) from 0.
fn cell_ref(reference: &str) -> Option<(usize, usize)> {
    let cell = reference.rsplit('.').next()?.replace('$', "");
    let split = cell.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = cell.split_at(split);
    if letters.is_empty() || letters.len() > 3 || !letters.chars().all(|c| c.is_ascii_alphabetic())
    {
        return None;
    }
    let column = letters.chars().fold(0usize, |n, c| {
        n * 26 + (c.to_ascii_uppercase() as usize - 'A' as usize + 1)
    });
    let row: usize = digits.parse().ok()?;
    Some((row.checked_sub(1)?, column - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_odf_formats() {
        assert_eq!(
            [1, 26, 27, 28, 53].map(|n| letters(n, false, false)),
            ["a", "z", "aa", "ab", "ba"]
        );
        assert_eq!([27, 28].map(|n| letters(n, true, true)), ["AA", "BB"]);
        assert_eq!(
            [1, 4, 9, 14].map(|n| number(n, "i", false)),
            ["i", "iv", "ix", "xiv"]
        );
        assert_eq!(number(3, "I", false), "III");
        assert_eq!(number(3, "", false), "");
        assert_eq!(number(12, "1", false), "12");
    }

    #[test]
    fn cell_range_addresses() {
        assert_eq!(cell_ref("local-table.$B$2"), Some((1, 1)));
        assert_eq!(cell_ref(".AA10"), Some((9, 26)));
        assert_eq!(cell_ref("'a.b'.$C$1"), Some((0, 2)));
        assert_eq!(cell_ref("local-table.$B$0"), None);
        assert_eq!(cell_ref("nonsense"), None);
        assert_eq!(
            cells("local-table.$B$2:.$B$4", 10, 10),
            [(1, 1), (2, 1), (3, 1)]
        );
        assert_eq!(cells("t.$A$1:.$C$1 t.$A$3", 3, 2), [(0, 0), (0, 1), (2, 0)]);
        // Clipped to the table, however large the range.
        assert_eq!(cells("t.$A$1:.$XFD$1048576", 2, 1), [(0, 0), (1, 0)]);
    }

    fn extract_odt(content: &str, styles: &str) -> String {
        let ns = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0""#;
        let content = format!(
            r#"<office:document-content {ns}><office:body><office:text>{content}</office:text></office:body></office:document-content>"#
        );
        let styles = format!(
            r#"<office:document-styles {ns}><office:styles>{styles}</office:styles></office:document-styles>"#
        );
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in [("content.xml", content), ("styles.xml", styles)] {
            zip.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap_or_else(|e| panic!("{e}"));
            std::io::Write::write_all(&mut zip, data.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        }
        let bytes = zip.finish().unwrap_or_else(|e| panic!("{e}")).into_inner();
        let extraction =
            extract(&bytes, "ODT", &Limits::default()).unwrap_or_else(|e| panic!("{e:?}"));
        extraction.document.pages[0].text.clone()
    }

    #[test]
    fn numbered_lists_count_per_list_restart_and_continue() {
        let styles = r#"<text:list-style style:name="Num">
<text:list-level-style-number text:level="1" style:num-format="1" style:num-suffix="."/>
<text:list-level-style-number text:level="2" style:num-format="1" style:num-suffix="." text:display-levels="2"/>
<text:list-level-style-number text:level="3" style:num-format="i" style:num-prefix="(" style:num-suffix=")"/>
</text:list-style>
<text:list-style style:name="Bul"><text:list-level-style-bullet text:level="1" text:bullet-char="•"/></text:list-style>
<style:style style:name="ListPara" style:family="paragraph" style:list-style-name="Num"/>"#;
        let item = |text: &str| format!("<text:list-item><text:p>{text}</text:p></text:list-item>");
        let content = [
            format!(
                r#"<text:list xml:id="one" text:style-name="Num">{}<text:list-item><text:p>two</text:p><text:p>more of two</text:p><text:list>{}<text:list-item><text:p>two.two</text:p><text:list>{}</text:list></text:list-item></text:list></text:list-item></text:list>"#,
                item("one"),
                item("two.one"),
                item("deep")
            ),
            "<text:p>Between.</text:p>".to_owned(),
            format!(
                r#"<text:list text:continue-list="one" text:style-name="Num">{}</text:list>"#,
                item("three")
            ),
            format!(r#"<text:list text:style-name="Num">{}</text:list>"#, item("again one")),
            r#"<text:list text:style-name="Num"><text:list-header><text:p>Header</text:p></text:list-header><text:list-item text:start-value="7"><text:p>seven</text:p></text:list-item></text:list>"#
                .to_owned(),
            format!(r#"<text:list text:style-name="Bul">{}</text:list>"#, item("bullet")),
            // The list style from the paragraph's style.
            r#"<text:list><text:list-item><text:p text:style-name="ListPara">styled</text:p></text:list-item></text:list>"#
                .to_owned(),
        ]
        .concat();
        // Lists one after the other run on, as in Word documents.
        assert_eq!(
            extract_odt(&content, styles),
            "1. one\n2. two\n\nmore of two\n\n  2.1. two.one\n  2.2. two.two\n       (i) deep\n\n\
             Between.\n\n3. three\n1. again one\n\nHeader\n\n7. seven\n- bullet\n1. styled"
        );
    }

    #[test]
    fn charts_without_cell_ranges_read_their_table_by_column() {
        let xml = r#"<office:document-content xmlns:office="o" xmlns:chart="c" xmlns:table="t" xmlns:text="x"><office:body><office:chart><chart:chart><chart:title><text:p>Mix</text:p><text:p>2024</text:p></chart:title><chart:plot-area><chart:axis><chart:title><text:p>Axis</text:p></chart:title></chart:axis><chart:series/></chart:plot-area>
<table:table><table:table-header-rows><table:table-row><table:table-cell/><table:table-cell><text:p>Share</text:p></table:table-cell></table:table-row></table:table-header-rows>
<table:table-rows><table:table-row><table:table-cell><text:p>Boats</text:p></table:table-cell><table:table-cell office:value-type="percentage" office:value="0.25"><text:p>25 %</text:p></table:table-cell></table:table-row>
<table:table-row table:number-rows-repeated="2"><table:table-cell><text:p>Trucks</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="0.59999999999999998"><text:p>0,6</text:p></table:table-cell></table:table-row></table:table-rows></table:table></chart:chart></office:chart></office:body></office:document-content>"#;
        let mut reader = ChartReader::default();
        walk(xml, "Object 1/content.xml", "TEST", &[], |e| {
            reader.visit(e)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let chart = reader.finish().unwrap_or_else(|| panic!("no chart"));
        let mut md = Markdown::default();
        chart.to_markdown(&mut md, 3);
        assert_eq!(
            md.finish(),
            "### Chart: Mix 2024\n\n| Category | Share |\n| --- | --- |\n| Boats | 25% |\n| Trucks | 0.6 |\n| Trucks | 0.6 |"
        );

        // Not a chart (a formula object, say).
        let mut reader = ChartReader::default();
        walk(
            "<office:document-content xmlns:office=\"o\"/>",
            "c.xml",
            "TEST",
            &[],
            |e| reader.visit(e),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(reader.finish().is_none());
    }
}
