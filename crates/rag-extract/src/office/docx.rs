//! Word (DOCX): the main document as one page of Markdown. Headings come
//! from paragraph styles (Title, Heading 1 to 6, also when renamed or
//! localized: styles.xml gives names and outline levels), list items from
//! numbering, tables as Markdown tables, hyperlinks as Markdown links and
//! images as their descriptions. Headers, footers, footnotes and comments
//! are left out.

use std::collections::HashMap;

use rag_core::extraction::ExtractError;

use super::xml::{walk, Relationships, Xml};
use super::{image, link, main_part, Markdown, Package, Tables};
use crate::Limits;

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

/// The document's Markdown.
pub(crate) fn extract(bytes: &[u8], limits: &Limits) -> Result<String, ExtractError> {
    let mut package = Package::open(bytes, FORMAT, limits)?;
    let main = main_part(&mut package, "word/document.xml")?;
    let Some(xml) = package.read(&main)? else {
        return Err(package.corrupt(format!("not a Word document (no {main})")));
    };
    let rels = Relationships::of(&mut package, &main)?;
    let styles_part = rels
        .first_of_kind("styles")
        .filter(|r| !r.external)
        .map_or_else(|| "word/styles.xml".to_owned(), |r| r.target.clone());
    let styles = match package.read(&styles_part)? {
        // Without usable styles, style ids still tell headings apart.
        Some(xml) => Styles::parse(&xml, &styles_part).unwrap_or_default(),
        None => Styles::default(),
    };
    let mut body = Body {
        styles: &styles,
        rels: &rels,
        md: Markdown::default(),
        paras: Vec::new(),
        in_props: false,
        in_text: false,
        tables: Tables::default(),
        spans: Vec::new(),
    };
    walk(&xml, &main, FORMAT, SKIP, |event| body.visit(event))?;
    Ok(body.md.finish())
}

// ---------------------------------------------------------------- styles

/// Paragraph styles by id: heading levels, list levels of numbered styles.
#[derive(Debug, Default)]
struct Styles {
    heading: HashMap<String, usize>,
    list: HashMap<String, usize>,
    based_on: HashMap<String, String>,
}

impl Styles {
    fn parse(xml: &str, part: &str) -> Result<Self, ExtractError> {
        let mut styles = Self::default();
        let mut id: Option<String> = None;
        // "List Bullet 2" and the like are second-level lists.
        let mut list_level = 0;
        walk(xml, part, FORMAT, SKIP, |event| {
            let Xml::Start(tag) = event else { return };
            match tag.name() {
                "style" => {
                    id = tag.attr("styleId");
                    list_level = 0;
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
                        list_level = digit.map_or(0, |n| n.saturating_sub(1));
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
                "numPr" => {
                    if let Some(id) = &id {
                        styles.list.insert(id.clone(), list_level);
                    }
                }
                "ilvl" => {
                    let level = tag.attr("val").and_then(|v| v.parse().ok());
                    if let (Some(id), Some(level)) = (&id, level) {
                        styles.list.insert(id.clone(), level);
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

    fn list_level(&self, id: &str) -> Option<usize> {
        self.chain(id).find_map(|id| self.list.get(id).copied())
    }
}

// ---------------------------------------------------------------- body

struct Body<'a> {
    styles: &'a Styles,
    rels: &'a Relationships,
    md: Markdown,
    /// Open paragraphs, innermost last (a text box's paragraphs sit inside
    /// a run of the paragraph that anchors it).
    paras: Vec<Paragraph>,
    /// Inside paragraph properties (tab stops are not tabs).
    in_props: bool,
    in_text: bool,
    tables: Tables,
    /// Column spans of the open cells.
    spans: Vec<usize>,
}

#[derive(Default)]
struct Paragraph {
    style: Option<String>,
    outline: Option<usize>,
    /// List level from the paragraph's own numbering (`Some(None)`: turned off).
    numbering: Option<Option<usize>>,
    text: String,
    /// Start of an open hyperlink's text, and its URL.
    link: Option<(usize, String)>,
}

impl Body<'_> {
    fn visit(&mut self, event: Xml<'_>) {
        match event {
            Xml::Start(tag) => match tag.name() {
                "p" => self.paras.push(Paragraph::default()),
                "pPr" => self.in_props = true,
                "t" => self.in_text = true,
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
                        "numPr" if in_props => para.numbering = Some(Some(0)),
                        "ilvl" if in_props => {
                            if let Some(Some(level)) = &mut para.numbering {
                                *level = tag.attr("val").and_then(|v| v.parse().ok()).unwrap_or(0);
                            }
                        }
                        "numId" if in_props && tag.attr("val").as_deref() == Some("0") => {
                            para.numbering = Some(None)
                        }
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
                        "docPr" => {
                            if let Some(alt) = tag.attr("descr").as_deref().and_then(image) {
                                para.text.push_str(&format!(" {alt} "));
                            }
                        }
                        _ => {}
                    }
                }
            },
            Xml::Text(text) => {
                if let (true, Some(para)) = (self.in_text, self.paras.last_mut()) {
                    para.text.push_str(text);
                }
            }
            Xml::End(name) => match name {
                "t" => self.in_text = false,
                "pPr" => self.in_props = false,
                "p" => self.end_paragraph(),
                "hyperlink" => {
                    if let Some(para) = self.paras.last_mut() {
                        if let Some((start, url)) = para.link.take() {
                            link(&mut para.text, start, &url);
                        }
                    }
                }
                "tc" => {
                    let span = self.spans.pop().unwrap_or(1);
                    self.tables.end_cell(span);
                }
                "tbl" => {
                    if let Some(rows) = self.tables.end() {
                        self.md.table(rows);
                    }
                }
                _ => {}
            },
        }
    }

    fn end_paragraph(&mut self) {
        let Some(para) = self.paras.pop() else {
            return;
        };
        let text = para.text.trim();
        if text.is_empty() || self.tables.text(text) {
            return;
        }
        let style = para.style.as_deref();
        let heading = match para.outline {
            Some(level) if level < 9 => Some(level + 1),
            _ => style.and_then(|s| self.styles.heading(s)),
        };
        let list_level = match para.numbering {
            Some(level) => level,
            None => style.and_then(|s| self.styles.list_level(s)),
        };
        match (heading, list_level) {
            (Some(level), _) => self.md.heading(level, text),
            (None, Some(level)) => self.md.item(level, text),
            (None, None) => self.md.paragraph(text),
        }
    }
}
