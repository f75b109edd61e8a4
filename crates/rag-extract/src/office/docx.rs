//! Word (DOCX): the main document as one page of Markdown.
//!
//! - Headings come from paragraph styles (Title, Heading 1 to 6, also when
//!   renamed or localized: styles.xml gives names and outline levels).
//! - List items from numbering: numbering.xml gives each level's format, so
//!   a decimal list reads `1.`, `2.`, a lettered one `a.`, a bulleted one
//!   `-`, counted per list as Word counts them; nested levels are indented.
//! - Tables as Markdown tables, hyperlinks (elements and `HYPERLINK` fields)
//!   as Markdown links, charts as their title and data table.
//! - Images as their descriptions (`![description](Picture1.png)`), and in
//!   [`ExtractedDocument::images`](rag_core::ports::ExtractedDocument)
//!   with their bytes and place in the text, those of footnotes, endnotes,
//!   headers and footers too.
//! - Footnotes and endnotes stay out of the running text: a marker where
//!   they are referenced (`[^1]` for footnotes, `[^i]` for endnotes, Word's
//!   default numbering) and their text in `# Footnotes` / `# Endnotes`
//!   sections at the end (`[^1]: text`).
//! - Comments likewise, in a `# Comments` section: author, the text they
//!   are anchored to, and what they say.
//! - The text of the headers and footers, once each, in `# Header` and
//!   `# Footer` sections; page-number fields are left out.

use std::collections::HashMap;

use rag_core::ingest::chunking::TextKind;
use rag_core::ports::{ExtractError, ExtractedDocument, ExtractedPage};

use super::chart::{self, Chart};
use super::images::{unmarked, Images};
use super::marks::{definition, letters, roman, ANCHOR_QUOTE};
use super::xml::{walk, Relationships, Xml};
use super::{image, link, main_part, one_line, Markdown, Package, Tables};
use crate::{Extraction, Limits};

const FORMAT: &str = "DOCX";
/// Elements left out with their content: alternate content's fallback
/// (duplicates the choice), tracked deletions and moves away, the previous
/// properties of tracked formatting changes, content-control properties.
const SKIP: &[&str] = &[
    "Fallback",
    "del",
    "moveFrom",
    "pPrChange",
    "rPrChange",
    "tblPrChange",
    "trPrChange",
    "tcPrChange",
    "sdtPr",
];
/// The document as one page of Markdown, with its images.
pub(crate) fn extract(bytes: &[u8], limits: &Limits) -> Result<Extraction, ExtractError> {
    let mut package = Package::open(bytes, FORMAT, limits)?;
    let main = main_part(&mut package, "word/document.xml")?;
    let Some(xml) = package.read(&main)? else {
        return Err(package.corrupt(format!("not a Word document (no {main})")));
    };
    let rels = Relationships::of(&mut package, &main)?;
    let part = |kind: &str, default: &str| {
        rels.first_of_kind(kind)
            .filter(|r| !r.external)
            .map_or_else(|| default.to_owned(), |r| r.target.clone())
    };
    let styles_part = part("styles", "word/styles.xml");
    let styles = match package.read(&styles_part)? {
        // Without usable styles, style ids still tell headings apart.
        Some(xml) => Styles::parse(&xml, &styles_part).unwrap_or_default(),
        None => Styles::default(),
    };
    let numbering_part = part("numbering", "word/numbering.xml");
    let numbering = match package.read(&numbering_part)? {
        // Without numbering, list items are bullets.
        Some(xml) => Numbering::parse(&xml, &numbering_part).unwrap_or_default(),
        None => Numbering::default(),
    };
    let doc = Doc {
        styles: &styles,
        numbering: &numbering,
    };
    let mut notes = Vec::new();
    let mut images = Images::default();

    let mut body = Body::new(doc, &rels, &mut package, Some(&mut images));
    walk(&xml, &main, FORMAT, SKIP, |event| body.visit(event))?;
    let main_body = body.finish()?;
    notes.extend(main_body.notes);
    let mut md = main_body.md;

    // Footnotes and endnotes, numbered in the order they are referenced.
    for (kind, refs, title) in [
        ("footnotes", &main_body.footnotes, "Footnotes"),
        ("endnotes", &main_body.endnotes, "Endnotes"),
    ] {
        if refs.is_empty() {
            continue;
        }
        let part_name = part(kind, &format!("word/{kind}.xml"));
        let texts = secondary(&mut package, &part_name, doc, &mut notes, Some(&mut images))?
            .map(|b| b.captured)
            .unwrap_or_default();
        let definitions: Vec<String> = refs
            .iter()
            .enumerate()
            .filter_map(|(n, id)| {
                let text = texts.iter().find(|c| c.id == *id)?;
                let label = if kind == "footnotes" {
                    (n + 1).to_string()
                } else {
                    roman(n as u32 + 1, false)
                };
                Some(definition(&label, &text.text))
            })
            .collect();
        if !definitions.is_empty() {
            md.heading(1, title);
            md.raw(&definitions.join("\n"));
        }
    }

    // Comments, in the order the comments part lists them.
    let comments_part = part("comments", "word/comments.xml");
    if package.contains(&comments_part) {
        let comments = secondary(&mut package, &comments_part, doc, &mut notes, None)?
            .map(|b| b.captured)
            .unwrap_or_default();
        super::marks::comments(
            &mut md,
            comments.iter().map(|c| {
                let anchor = main_body.anchors.get(&c.id).map(String::as_str);
                (
                    c.author.as_deref().unwrap_or_default(),
                    anchor,
                    c.text.as_str(),
                )
            }),
        );
    }

    // Headers and footers: each distinct text once.
    for (header, title) in [(true, "Header"), (false, "Footer")] {
        let mut texts: Vec<String> = Vec::new();
        for target in main_body
            .sections
            .iter()
            .filter(|(h, _)| *h == header)
            .map(|(_, t)| t)
        {
            if let Some(read) = secondary(&mut package, target, doc, &mut notes, Some(&mut images))?
            {
                let text = read.md.finish();
                // The same header in several sections (its pictures marked
                // anew each time) is kept once; the copies' marks are never
                // placed, so their pictures are offered once.
                let seen = texts.iter().any(|t| unmarked(t) == unmarked(&text));
                if !unmarked(&text).trim().is_empty() && !seen {
                    texts.push(text);
                }
            }
        }
        if !texts.is_empty() {
            md.heading(1, title);
            texts.iter().for_each(|t| md.raw(t));
        }
    }

    let text = images.place(0, md.finish());
    let images = images.load(&mut package, limits, &mut notes)?;
    Ok(Extraction {
        document: ExtractedDocument {
            pages: vec![ExtractedPage { number: None, text }],
            kind: TextKind::Markdown,
            format: "docx",
            images,
        },
        notes,
    })
}

/// Reads a part other than the main one (notes, comments, header, footer)
/// with its own relationships: `None` when it is missing, or unreadable
/// (noted; the document's text does not depend on it). Its pictures are
/// registered in `images` when given (footnotes, headers and footers: a
/// logo or a figure in a note is offered to the visuals step too).
fn secondary(
    package: &mut Package<'_>,
    part: &str,
    doc: Doc<'_>,
    notes: &mut Vec<String>,
    images: Option<&mut Images>,
) -> Result<Option<Finished>, ExtractError> {
    let read = |package: &mut Package<'_>| -> Result<Option<Finished>, ExtractError> {
        let Some(xml) = package.read(part)? else {
            return Ok(None);
        };
        let rels = Relationships::of(package, part)?;
        let mut body = Body::new(doc, &rels, package, images);
        walk(&xml, part, FORMAT, SKIP, |event| body.visit(event))?;
        body.finish().map(Some)
    };
    match read(package) {
        Err(ExtractError::Corrupt { detail, .. }) => {
            notes.push(format!("{part}: left out, {detail}"));
            Ok(None)
        }
        other => other,
    }
}

// ---------------------------------------------------------------- styles

/// What the styles and numbering parts say, shared by the parts read.
#[derive(Clone, Copy)]
struct Doc<'a> {
    styles: &'a Styles,
    numbering: &'a Numbering,
}

/// Paragraph styles by id: heading levels, list levels of numbered styles.
#[derive(Debug, Default)]
struct Styles {
    heading: HashMap<String, usize>,
    list: HashMap<String, StyleList>,
    based_on: HashMap<String, String>,
}

/// A style's numbering.
#[derive(Debug, Clone, Default)]
struct StyleList {
    /// How deep its items are shown ("List Bullet 2" is a second level
    /// even when its numbering is a list of its own at level 0).
    depth: usize,
    num_id: Option<String>,
    level: Option<usize>,
}

impl Styles {
    fn parse(xml: &str, part: &str) -> Result<Self, ExtractError> {
        let mut styles = Self::default();
        let mut id: Option<String> = None;
        // "List Bullet 2" and the like are second-level lists.
        let mut name_depth = 0;
        walk(xml, part, FORMAT, SKIP, |event| {
            let Xml::Start(tag) = event else { return };
            match tag.name() {
                "style" => {
                    id = tag.attr("styleId");
                    name_depth = 0;
                }
                "name" => {
                    let (Some(id), Some(name)) = (&id, tag.attr("val")) else {
                        return;
                    };
                    let name = name.to_ascii_lowercase();
                    if name.starts_with("list") {
                        let digit = name
                            .rsplit(' ')
                            .next()
                            .and_then(|n| n.parse::<usize>().ok());
                        name_depth = digit.map_or(0, |n| n.saturating_sub(1));
                    }
                    let level = match name.strip_prefix("heading ") {
                        Some(n) => n.trim().parse().ok(),
                        None => (name == "title").then_some(1),
                    };
                    if let Some(level) = level {
                        styles.heading.insert(id.clone(), level);
                    }
                }
                "outlineLvl" => {
                    let (Some(id), Some(level)) = (&id, tag.attr("val")) else {
                        return;
                    };
                    if let Some(level) = level.parse::<usize>().ok().filter(|&l| l < 9) {
                        styles.heading.entry(id.clone()).or_insert(level + 1);
                    }
                }
                "numPr" | "ilvl" | "numId" => {
                    let Some(id) = &id else { return };
                    let list = styles.list.entry(id.clone()).or_insert(StyleList {
                        depth: name_depth,
                        ..StyleList::default()
                    });
                    match tag.name() {
                        "ilvl" => {
                            if let Some(level) = tag.attr("val").and_then(|v| v.parse().ok()) {
                                list.level = Some(level);
                                list.depth = level;
                            }
                        }
                        "numId" => list.num_id = tag.attr("val"),
                        _ => {}
                    }
                }
                "basedOn" => {
                    if let (Some(id), Some(parent)) = (&id, tag.attr("val")) {
                        styles.based_on.insert(id.clone(), parent);
                    }
                }
                _ => {}
            }
        })?;
        Ok(styles)
    }

    /// The style and the styles it is based on (a few levels at most).
    fn chain<'s>(&'s self, id: &'s str) -> impl Iterator<Item = &'s str> {
        std::iter::successors(Some(id), |id| self.based_on.get(*id).map(String::as_str)).take(8)
    }

    fn heading(&self, id: &str) -> Option<usize> {
        self.chain(id)
            .find_map(|id| self.heading.get(id).copied())
            .or_else(|| {
                // Built-in ids, for documents without styles.xml.
                let lower = id.to_ascii_lowercase();
                match lower.strip_prefix("heading") {
                    Some(n) => n.parse().ok(),
                    None => (lower == "title").then_some(1),
                }
            })
    }

    fn list(&self, id: &str) -> Option<&StyleList> {
        self.chain(id).find_map(|id| self.list.get(id))
    }
}

// ---------------------------------------------------------------- numbering

/// Lists' level formats (numbering.xml): abstract definitions, and the
/// numbering instances paragraphs refer to by `numId`.
#[derive(Debug, Default)]
struct Numbering {
    abstracts: HashMap<String, HashMap<usize, Level>>,
    nums: HashMap<String, Num>,
}

#[derive(Debug, Clone, Default)]
struct Level {
    /// `decimal`, `lowerLetter`, `bullet`, `none`, ...
    format: Option<String>,
    /// `%1.`, `%1.%2.`, `(%1)`, ...
    text: Option<String>,
    start: Option<u32>,
}

#[derive(Debug, Default)]
struct Num {
    abstract_id: String,
    /// Levels redefined or restarted by this instance.
    overrides: HashMap<usize, Level>,
}

/// How a list item is marked.
#[derive(Debug, PartialEq)]
enum Marker {
    Bullet,
    Number(String),
    /// Numbering whose format shows nothing: not a list item.
    Nothing,
}

/// Highest list level (Word has nine, 0 to 8).
const LEVELS: usize = 9;

impl Numbering {
    fn parse(xml: &str, part: &str) -> Result<Self, ExtractError> {
        let mut numbering = Self::default();
        // The abstract definition or instance being read, the override
        // level inside an instance, and the level being read.
        let mut abstract_id: Option<String> = None;
        let mut num_id: Option<String> = None;
        let mut override_level: Option<usize> = None;
        let mut level: Option<(usize, Level)> = None;
        walk(xml, part, FORMAT, SKIP, |event| match event {
            Xml::Start(tag) => match tag.name() {
                "abstractNum" => abstract_id = tag.attr("abstractNumId"),
                "num" => {
                    num_id = tag.attr("numId");
                    if let Some(id) = &num_id {
                        numbering.nums.insert(id.clone(), Num::default());
                    }
                }
                "abstractNumId" => {
                    let value = tag.attr("val");
                    if let (Some(id), Some(value)) = (&num_id, value) {
                        if let Some(num) = numbering.nums.get_mut(id) {
                            num.abstract_id = value;
                        }
                    }
                }
                "lvlOverride" => {
                    override_level = tag
                        .attr("ilvl")
                        .and_then(|l| l.parse().ok())
                        .filter(|&l| l < LEVELS)
                }
                "startOverride" => {
                    let start = tag.attr("val").and_then(|v| v.parse().ok());
                    if let (Some(id), Some(l)) = (&num_id, override_level) {
                        if let Some(num) = numbering.nums.get_mut(id) {
                            num.overrides.entry(l).or_default().start = start;
                        }
                    }
                }
                "lvl" => {
                    level = tag
                        .attr("ilvl")
                        .and_then(|l| l.parse().ok())
                        .filter(|&l| l < LEVELS)
                        .map(|l| (l, Level::default()))
                }
                "start" | "numFmt" | "lvlText" => {
                    let Some((_, level)) = &mut level else { return };
                    let value = tag.attr("val");
                    match tag.name() {
                        "start" => level.start = value.and_then(|v| v.parse().ok()),
                        "numFmt" => level.format = value,
                        _ => level.text = value,
                    }
                }
                _ => {}
            },
            Xml::End(name) => match name {
                "lvl" => {
                    let Some((l, read)) = level.take() else {
                        return;
                    };
                    if let (Some(id), Some(_)) = (&num_id, override_level) {
                        if let Some(num) = numbering.nums.get_mut(id) {
                            let entry = num.overrides.entry(l).or_default();
                            entry.format = read.format;
                            entry.text = read.text;
                            entry.start = entry.start.or(read.start);
                        }
                    } else if let Some(id) = &abstract_id {
                        numbering
                            .abstracts
                            .entry(id.clone())
                            .or_default()
                            .insert(l, read);
                    }
                }
                "lvlOverride" => override_level = None,
                "num" => num_id = None,
                "abstractNum" => abstract_id = None,
                _ => {}
            },
            Xml::Text(_) => {}
        })?;
        Ok(numbering)
    }

    /// A level of a list: the instance's override, else the definition's.
    fn level(&self, num: &Num, level: usize) -> Level {
        let base = self
            .abstracts
            .get(&num.abstract_id)
            .and_then(|levels| levels.get(&level))
            .cloned()
            .unwrap_or_default();
        match num.overrides.get(&level) {
            Some(o) => Level {
                format: o.format.clone().or(base.format),
                text: o.text.clone().or(base.text),
                start: o.start.or(base.start),
            },
            None => base,
        }
    }

    /// The marker of the next item at `level` of list `num_id`, counting it
    /// (deeper levels start over).
    fn next(
        &self,
        num_id: Option<&str>,
        level: usize,
        counters: &mut HashMap<String, [Option<u32>; LEVELS]>,
    ) -> Marker {
        let level = level.min(LEVELS - 1);
        let Some((id, num)) = num_id.and_then(|id| Some((id, self.nums.get(id)?))) else {
            return Marker::Bullet;
        };
        let this = self.level(num, level);
        match this.format.as_deref() {
            Some("bullet") => return Marker::Bullet,
            Some("none") => return Marker::Nothing,
            _ if this.text.is_none() && this.format.is_none() => return Marker::Bullet,
            _ => {}
        }
        let counts = counters.entry(id.to_owned()).or_insert([None; LEVELS]);
        let start = |l: usize| self.level(num, l).start.unwrap_or(1);
        counts[level] = Some(counts[level].map_or(start(level), |n| n.saturating_add(1)));
        counts[level + 1..].iter_mut().for_each(|c| *c = None);
        let counts = *counts;
        // `%1.%2.`: each placeholder is that level's count in its format.
        let template = this.text.unwrap_or_else(|| format!("%{}.", level + 1));
        let mut marker = String::new();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            let digit = chars.peek().and_then(|d| d.to_digit(10));
            match (c, digit) {
                ('%', Some(d @ 1..=9)) => {
                    chars.next();
                    let l = d as usize - 1;
                    let n = counts[l].unwrap_or_else(|| start(l));
                    let format = self.level(num, l).format;
                    marker.push_str(&number(n, format.as_deref().unwrap_or("decimal")));
                }
                _ => marker.push(c),
            }
        }
        let marker = one_line(&marker);
        if marker.is_empty() {
            Marker::Nothing
        } else {
            Marker::Number(marker)
        }
    }
}

/// A list number in a numbering format.
fn number(n: u32, format: &str) -> String {
    match format {
        "lowerLetter" => letters(n, false, true),
        "upperLetter" => letters(n, true, true),
        "lowerRoman" => roman(n, false),
        "upperRoman" => roman(n, true),
        "decimalZero" => format!("{n:02}"),
        _ => n.to_string(),
    }
}

// ---------------------------------------------------------------- body

/// Reads one part's paragraphs, tables, notes and drawings.
struct Body<'a, 'b> {
    doc: Doc<'a>,
    rels: &'a Relationships,
    /// For the charts drawings refer to.
    package: &'a mut Package<'b>,
    /// Where images are registered (not for comments).
    images: Option<&'a mut Images>,
    md: Markdown,
    /// Open paragraphs, innermost last (a text box's paragraphs sit inside
    /// a run of the paragraph that anchors it).
    paras: Vec<Paragraph>,
    /// Inside paragraph properties (tab stops are not tabs).
    in_props: bool,
    in_text: bool,
    in_instruction: bool,
    tables: Tables,
    /// Column spans of the open cells.
    spans: Vec<usize>,
    /// Open drawings (and VML pictures), innermost last.
    drawings: Vec<Drawing>,
    /// Open fields, innermost last.
    fields: Vec<Field>,
    /// Item counts per list and level.
    counters: HashMap<String, [Option<u32>; LEVELS]>,
    /// Ids of the footnotes and endnotes referenced, in order.
    footnotes: Vec<String>,
    endnotes: Vec<String>,
    /// Open comment ranges (id, text so far), and closed ones by id.
    ranges: Vec<(String, String)>,
    anchors: HashMap<String, String>,
    /// Header (`true`) and footer parts the sections refer to.
    sections: Vec<(bool, String)>,
    /// Notes parts and comments: the note being read, and those read.
    note: Option<Captured>,
    captured: Vec<Captured>,
    notes: Vec<String>,
    /// A limit hit while reading a chart, reported after the walk.
    error: Option<ExtractError>,
}

#[derive(Default)]
struct Paragraph {
    style: Option<String>,
    outline: Option<usize>,
    /// The paragraph's own numbering: whether it has any, the list, the level.
    numbered: bool,
    num_id: Option<String>,
    level: Option<usize>,
    text: String,
    /// Start of an open hyperlink's text, and its URL.
    link: Option<(usize, String)>,
    /// Charts drawn in the paragraph, shown after it.
    charts: Vec<Chart>,
}

#[derive(Default)]
struct Drawing {
    alt: Option<String>,
    /// The shape's name (`docPr name`, "Picture 1").
    name: Option<String>,
    /// The image part (`blip`'s `r:embed`, VML `imagedata`'s `r:id`).
    image: Option<String>,
    chart: Option<String>,
}

struct Field {
    instruction: String,
    /// Past the instruction: the text shown.
    showing: bool,
    /// A page number or count, left out.
    hidden: bool,
    /// A HYPERLINK field whose link is open.
    link: bool,
}

/// A note or comment of a notes or comments part.
#[derive(Default)]
struct Captured {
    id: String,
    author: Option<String>,
    text: String,
}

/// What reading a part gave.
struct Finished {
    md: Markdown,
    footnotes: Vec<String>,
    endnotes: Vec<String>,
    anchors: HashMap<String, String>,
    sections: Vec<(bool, String)>,
    captured: Vec<Captured>,
    notes: Vec<String>,
}

impl<'a, 'b> Body<'a, 'b> {
    fn new(
        doc: Doc<'a>,
        rels: &'a Relationships,
        package: &'a mut Package<'b>,
        images: Option<&'a mut Images>,
    ) -> Self {
        Self {
            doc,
            rels,
            package,
            images,
            md: Markdown::default(),
            paras: Vec::new(),
            in_props: false,
            in_text: false,
            in_instruction: false,
            tables: Tables::default(),
            spans: Vec::new(),
            drawings: Vec::new(),
            fields: Vec::new(),
            counters: HashMap::new(),
            footnotes: Vec::new(),
            endnotes: Vec::new(),
            ranges: Vec::new(),
            anchors: HashMap::new(),
            sections: Vec::new(),
            note: None,
            captured: Vec::new(),
            notes: Vec::new(),
            error: None,
        }
    }

    fn finish(mut self) -> Result<Finished, ExtractError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        Ok(Finished {
            md: self.md,
            footnotes: self.footnotes,
            endnotes: self.endnotes,
            anchors: self.anchors,
            sections: self.sections,
            captured: self.captured,
            notes: self.notes,
        })
    }

    /// An internal relationship's part.
    fn part(&self, id: Option<String>) -> Option<String> {
        let rel = self.rels.get(&id?)?;
        (!rel.external).then(|| rel.target.clone())
    }

    fn visit(&mut self, event: Xml<'_>) {
        match event {
            Xml::Start(tag) => match tag.name() {
                "p" => self.paras.push(Paragraph::default()),
                "pPr" => self.in_props = true,
                "t" => self.in_text = true,
                "instrText" => self.in_instruction = true,
                "tbl" => self.tables.start(),
                "tr" => self.tables.row(),
                "tc" => {
                    self.tables.cell();
                    self.spans.push(1);
                }
                "gridSpan" => {
                    if let Some(span) = self.spans.last_mut() {
                        *span = tag.attr("val").and_then(|v| v.parse().ok()).unwrap_or(1);
                    }
                }
                // A note or comment in its own part.
                "footnote" | "endnote" | "comment" => {
                    self.md = Markdown::default();
                    self.note = tag.attr("id").map(|id| Captured {
                        id,
                        author: tag.attr("author"),
                        text: String::new(),
                    });
                }
                "footnoteReference" | "endnoteReference" => {
                    let Some(id) = tag.attr("id") else { return };
                    let footnote = tag.name() == "footnoteReference";
                    let refs = if footnote {
                        &mut self.footnotes
                    } else {
                        &mut self.endnotes
                    };
                    let n = match refs.iter().position(|r| *r == id) {
                        Some(n) => n + 1,
                        None => {
                            refs.push(id);
                            refs.len()
                        }
                    };
                    let label = if footnote {
                        n.to_string()
                    } else {
                        roman(n as u32, false)
                    };
                    self.push_text(&format!("[^{label}]"));
                }
                "commentRangeStart" => {
                    if let Some(id) = tag.attr("id") {
                        self.ranges.push((id, String::new()));
                    }
                }
                "commentRangeEnd" => {
                    let id = tag.attr("id");
                    if let Some(i) = self.ranges.iter().position(|(r, _)| Some(r) == id.as_ref()) {
                        let (id, text) = self.ranges.remove(i);
                        self.anchors.insert(id, text);
                    }
                }
                "headerReference" | "footerReference" => {
                    let header = tag.name() == "headerReference";
                    if let Some(part) = self.part(tag.attr("r:id")) {
                        if !self.sections.contains(&(header, part.clone())) {
                            self.sections.push((header, part));
                        }
                    }
                }
                "fldChar" => match tag.attr("fldCharType").as_deref() {
                    Some("begin") => self.fields.push(Field {
                        instruction: String::new(),
                        showing: false,
                        hidden: false,
                        link: false,
                    }),
                    Some("separate") => self.show_field(),
                    Some("end") => self.end_field(),
                    _ => {}
                },
                "fldSimple" => {
                    self.fields.push(Field {
                        instruction: tag.attr("instr").unwrap_or_default(),
                        showing: false,
                        hidden: false,
                        link: false,
                    });
                    self.show_field();
                }
                "drawing" | "pict" | "object" => self.drawings.push(Drawing::default()),
                "docPr" | "cNvPr" | "shape" | "imagedata" => {
                    let alt = match tag.name() {
                        "docPr" | "cNvPr" => tag.attr("descr").or_else(|| tag.attr("title")),
                        "shape" => tag.attr("alt"),
                        _ => tag.attr("o:title"),
                    };
                    let image = (tag.name() == "imagedata")
                        .then(|| self.part(tag.attr("r:id")))
                        .flatten();
                    let name = matches!(tag.name(), "docPr" | "cNvPr")
                        .then(|| tag.attr("name"))
                        .flatten();
                    if let Some(drawing) = self.drawings.last_mut() {
                        let alt = alt.filter(|a| !a.trim().is_empty());
                        if drawing.alt.is_none() {
                            drawing.alt = alt;
                        }
                        drawing.name = drawing.name.take().or(name);
                        drawing.image = drawing.image.take().or(image);
                    }
                }
                "blip" => {
                    let image = self.part(tag.attr("r:embed"));
                    if let Some(drawing) = self.drawings.last_mut() {
                        drawing.image = drawing.image.take().or(image);
                    }
                }
                "chart" if tag.qualified().ends_with(":chart") || tag.attr("r:id").is_some() => {
                    let chart = self.part(tag.attr("r:id"));
                    if let Some(drawing) = self.drawings.last_mut() {
                        drawing.chart = chart;
                    }
                }
                name => {
                    let in_props = self.in_props;
                    let rels = self.rels;
                    let Some(para) = self.paras.last_mut() else {
                        return;
                    };
                    match name {
                        "pStyle" if in_props => para.style = tag.attr("val"),
                        "outlineLvl" if in_props => {
                            para.outline = tag.attr("val").and_then(|v| v.parse().ok())
                        }
                        "numPr" if in_props => para.numbered = true,
                        "ilvl" if in_props => {
                            para.level = tag.attr("val").and_then(|v| v.parse().ok())
                        }
                        "numId" if in_props => para.num_id = tag.attr("val"),
                        "tab" | "ptab" if !in_props => para.text.push('\t'),
                        "br" | "cr" => para.text.push('\n'),
                        "noBreakHyphen" => para.text.push('-'),
                        "hyperlink" => {
                            let url = tag
                                .attr("r:id")
                                .and_then(|id| rels.get(&id))
                                .filter(|r| r.external)
                                .map(|r| r.target.clone());
                            if let Some(url) = url {
                                para.link = Some((para.text.len(), url));
                            }
                        }
                        _ => {}
                    }
                }
            },
            Xml::Text(text) => {
                if self.in_instruction {
                    if let Some(field) = self.fields.last_mut() {
                        field.instruction.push_str(text);
                    }
                } else if self.in_text && !self.fields.iter().any(|f| f.hidden) {
                    self.push_text(text);
                }
            }
            Xml::End(name) => match name {
                "t" => self.in_text = false,
                "instrText" => self.in_instruction = false,
                "pPr" => self.in_props = false,
                "p" => self.end_paragraph(),
                "hyperlink" => self.end_link(),
                "fldSimple" => self.end_field(),
                "drawing" | "pict" | "object" => self.end_drawing(),
                "tc" => {
                    let span = self.spans.pop().unwrap_or(1);
                    self.tables.end_cell(span);
                }
                "tbl" => {
                    if let Some(rows) = self.tables.end() {
                        self.md.table(rows);
                    }
                }
                "footnote" | "endnote" | "comment" => {
                    if let Some(mut note) = self.note.take() {
                        note.text = std::mem::take(&mut self.md).finish();
                        self.captured.push(note);
                    }
                }
                _ => {}
            },
        }
    }

    /// Text of the open paragraph, and of the comment ranges open.
    fn push_text(&mut self, text: &str) {
        if let Some(para) = self.paras.last_mut() {
            para.text.push_str(text);
        }
        for (_, anchored) in &mut self.ranges {
            if anchored.len() <= ANCHOR_QUOTE * 2 {
                anchored.push_str(text);
            }
        }
    }

    fn end_link(&mut self) {
        if let Some(para) = self.paras.last_mut() {
            if let Some((start, url)) = para.link.take() {
                link(&mut para.text, start, &url);
            }
        }
    }

    /// A field's instruction is complete: what its result is.
    fn show_field(&mut self) {
        let Some(field) = self.fields.last_mut() else {
            return;
        };
        field.showing = true;
        let mut words = field.instruction.split_whitespace();
        let kind = words.next().unwrap_or_default().to_ascii_uppercase();
        field.hidden = matches!(
            kind.as_str(),
            "PAGE" | "NUMPAGES" | "SECTIONPAGES" | "PAGEREF"
        );
        if kind == "HYPERLINK" {
            // HYPERLINK "url" [\l "anchor"] ...: links within the document
            // (\l only) stay text.
            let rest: Vec<&str> = words.collect();
            let url = rest
                .iter()
                .find(|w| !w.starts_with('\\'))
                .filter(|_| rest.first().is_some_and(|w| !w.starts_with('\\')))
                .map(|w| w.trim_matches('"').to_owned());
            if let (Some(url), Some(para)) = (url, self.paras.last_mut()) {
                if para.link.is_none() {
                    para.link = Some((para.text.len(), url));
                    field.link = true;
                }
            }
        }
    }

    fn end_field(&mut self) {
        if let Some(field) = self.fields.pop() {
            if field.link {
                self.end_link();
            }
        }
    }

    fn end_drawing(&mut self) {
        let Some(drawing) = self.drawings.pop() else {
            return;
        };
        if let Some(part) = drawing.chart {
            match chart::read(self.package, &part) {
                Ok(Some(chart)) => match self.paras.last_mut() {
                    Some(para) => para.charts.push(chart),
                    None => chart.to_markdown(&mut self.md, 0),
                },
                Ok(None) => {}
                Err(ExtractError::Corrupt { detail, .. }) => {
                    self.notes.push(format!("chart left out: {detail}"))
                }
                Err(e) => {
                    self.error.get_or_insert(e);
                }
            }
            return;
        }
        let mark = match (&drawing.image, self.images.as_deref_mut()) {
            (Some(part), Some(images)) => images.mark(part, drawing.alt.as_deref()),
            _ => None,
        };
        let alt = drawing
            .alt
            .as_deref()
            .and_then(|alt| image(alt, drawing.name.as_deref(), drawing.image.as_deref()));
        let text = match (alt, mark) {
            (Some(alt), Some(mark)) => format!(" {alt}{mark} "),
            (Some(alt), None) => format!(" {alt} "),
            (None, Some(mark)) => format!(" {mark} "),
            (None, None) => return,
        };
        if let Some(para) = self.paras.last_mut() {
            para.text.push_str(&text);
        }
    }

    /// The list a paragraph belongs to, by its own numbering or its
    /// style's: the list's id, the level it counts at, the depth shown.
    fn list_of(&self, para: &Paragraph) -> Option<(Option<String>, usize, usize)> {
        let style = para.style.as_deref().and_then(|s| self.doc.styles.list(s));
        if !para.numbered && style.is_none() {
            return None;
        }
        let num_id = para
            .num_id
            .clone()
            .or_else(|| style.and_then(|s| s.num_id.clone()));
        if num_id.as_deref() == Some("0") {
            return None;
        }
        let level = para
            .level
            .or_else(|| style.and_then(|s| s.level))
            .unwrap_or(0);
        let depth = match (para.level, style) {
            (None, Some(style)) => style.depth,
            _ => level,
        };
        Some((num_id, level, depth))
    }

    fn end_paragraph(&mut self) {
        let Some(mut para) = self.paras.pop() else {
            return;
        };
        for (_, anchored) in &mut self.ranges {
            anchored.push(' ');
        }
        let charts = std::mem::take(&mut para.charts);
        let text = para.text.trim();
        if !text.is_empty() {
            let list = self.list_of(&para);
            let marker = match &list {
                Some((num_id, level, _)) => {
                    self.doc
                        .numbering
                        .next(num_id.as_deref(), *level, &mut self.counters)
                }
                None => Marker::Nothing,
            };
            let style = para.style.as_deref();
            let heading = match para.outline {
                Some(level) if level < 9 => Some(level + 1),
                _ => style.and_then(|s| self.doc.styles.heading(s)),
            };
            let numbered = match &marker {
                Marker::Number(n) => format!("{n} {text}"),
                _ => text.to_owned(),
            };
            if self.tables.text(&numbered) {
                // In a table cell.
            } else if let Some(level) = heading {
                self.md.heading(level, &numbered);
            } else {
                match (list, marker) {
                    (Some((_, _, depth)), Marker::Bullet) => self.md.item(depth, text),
                    (Some((_, _, depth)), Marker::Number(n)) => {
                        self.md.item_marked(depth, &n, text)
                    }
                    _ => self.md.paragraph(text),
                }
            }
        }
        for chart in charts {
            let label = if chart.title.is_empty() {
                "Chart".to_owned()
            } else {
                format!("Chart: {}", chart.title)
            };
            if !self.tables.text(&label) {
                chart.to_markdown(&mut self.md, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_word_formats() {
        assert_eq!(
            [1, 4, 9, 14, 40, 1999].map(|n| roman(n, false)),
            ["i", "iv", "ix", "xiv", "xl", "mcmxcix"]
        );
        assert_eq!(
            [1, 26, 27, 53].map(|n| letters(n, true, true)),
            ["A", "Z", "AA", "AAA"]
        );
        assert_eq!(number(7, "decimalZero"), "07");
        assert_eq!(number(7, "ordinal"), "7");
    }

    #[test]
    fn multi_level_numbering_counts_per_list_and_restarts_deeper_levels() {
        let xml = r#"<w:numbering xmlns:w="w">
<w:abstractNum w:abstractNumId="0">
 <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>
 <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1.%2."/></w:lvl>
 <w:lvl w:ilvl="2"><w:numFmt w:val="bullet"/><w:lvlText w:val="o"/></w:lvl>
</w:abstractNum>
<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>
<w:num w:numId="2"><w:abstractNumId w:val="0"/><w:lvlOverride w:ilvl="0"><w:startOverride w:val="5"/></w:lvlOverride></w:num>
</w:numbering>"#;
        let numbering = Numbering::parse(xml, "numbering.xml").unwrap_or_default();
        let mut counters = HashMap::new();
        let mut next = |id: &str, level| match numbering.next(Some(id), level, &mut counters) {
            Marker::Number(n) => n,
            Marker::Bullet => "-".to_owned(),
            Marker::Nothing => String::new(),
        };
        assert_eq!(
            [
                next("1", 0),
                next("1", 1),
                next("1", 1),
                next("1", 2),
                next("1", 0),
                next("1", 1),
                next("2", 0),
                next("9", 0),
            ],
            ["1.", "1.1.", "1.2.", "-", "2.", "2.1.", "5.", "-"]
        );
    }
}
