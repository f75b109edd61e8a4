//! PowerPoint (PPTX): one page per slide, in the order the presentation
//! lists them (`p:sldIdLst`), numbered from 1. A slide's page holds its
//! title as a `## ` heading, then its shapes' text, tables and image
//! descriptions in the order they are drawn, then the speaker notes under a
//! `Notes:` line.

use rag_core::extraction::{ExtractError, ExtractedPage};

use super::xml::{walk, Relationships, Xml};
use super::{check_page_count, image, main_part, Markdown, Package, Tables};
use crate::Limits;

const FORMAT: &str = "PPTX";
/// Elements left out with their content: the fallback of alternate content
/// duplicates its first choice.
const SKIP: &[&str] = &["Fallback"];

/// The slides' pages, and notes about slides that could not be read.
pub(crate) fn extract(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Vec<ExtractedPage>, Vec<String>), ExtractError> {
    let mut package = Package::open(bytes, FORMAT, limits)?;
    let main = main_part(&mut package, "ppt/presentation.xml")?;
    let Some(presentation) = package.read(&main)? else {
        return Err(package.corrupt(format!("not a PowerPoint presentation (no {main})")));
    };
    let rels = Relationships::of(&mut package, &main)?;
    let mut ids = Vec::new();
    walk(&presentation, &main, FORMAT, SKIP, |event| {
        if let Xml::Start(tag) = event {
            if tag.name() == "sldId" {
                ids.extend(tag.attr("r:id"));
            }
        }
    })?;
    if ids.is_empty() {
        return Err(ExtractError::Empty);
    }
    check_page_count(ids.len(), limits)?;

    let mut pages = Vec::with_capacity(ids.len());
    let mut notes = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let number = i + 1;
        let part = rels.get(id).filter(|r| !r.external && r.kind == "slide");
        let text = match part.map(|r| slide(&mut package, &r.target)) {
            Some(Ok(Some(text))) => text,
            Some(Ok(None)) | None => {
                notes.push(format!("slide {number}: missing from the file"));
                String::new()
            }
            Some(Err(ExtractError::Corrupt { detail, .. })) => {
                notes.push(format!("slide {number}: skipped, {detail}"));
                String::new()
            }
            Some(Err(e)) => return Err(e),
        };
        pages.push(ExtractedPage {
            number: Some(number as u32),
            text,
        });
    }
    Ok((pages, notes))
}

/// A slide's Markdown, with its notes; `None` when the part is missing.
fn slide(package: &mut Package<'_>, part: &str) -> Result<Option<String>, ExtractError> {
    let Some(xml) = package.read(part)? else {
        return Ok(None);
    };
    let mut slide = Shapes::new(true);
    walk(&xml, part, FORMAT, SKIP, |event| slide.visit(event))?;

    let rels = Relationships::of(package, part)?;
    let mut notes = Shapes::new(false);
    if let Some(rel) = rels.first_of_kind("notesSlide").filter(|r| !r.external) {
        if let Some(xml) = package.read(&rel.target)? {
            walk(&xml, &rel.target, FORMAT, SKIP, |event| notes.visit(event))?;
        }
    }

    let mut page = Markdown::default();
    page.heading(2, &slide.title.join(" "));
    page.raw(&slide.body.finish());
    let notes = notes.body.finish();
    if !notes.is_empty() {
        page.raw(&format!("Notes:\n{notes}"));
    }
    Ok(Some(page.finish()))
}

/// What a shape's paragraphs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Title,
    /// Body text; `true` when its paragraphs are bulleted unless they say
    /// otherwise (content placeholders inherit bullets from the master).
    Body(bool),
    /// Slide number, date, footer and header placeholders, the slide image
    /// on a notes page: not content.
    Ignored,
}

/// The text of a slide's (or notes page's) shapes, streamed.
struct Shapes {
    default_bullets: bool,
    title: Vec<String>,
    body: Markdown,
    role: Role,
    para: Option<Paragraph>,
    in_text: bool,
    tables: Tables,
    in_picture: bool,
}

#[derive(Default)]
struct Paragraph {
    level: usize,
    bullet: Option<bool>,
    text: String,
}

impl Shapes {
    fn new(default_bullets: bool) -> Self {
        Self {
            default_bullets,
            title: Vec::new(),
            body: Markdown::default(),
            role: Role::Body(false),
            para: None,
            in_text: false,
            tables: Tables::default(),
            in_picture: false,
        }
    }

    fn visit(&mut self, event: Xml<'_>) {
        match event {
            Xml::Start(tag) => match tag.name() {
                "sp" => self.role = Role::Body(false),
                "ph" => {
                    self.role = match tag.attr("type").as_deref() {
                        Some("title" | "ctrTitle") => Role::Title,
                        Some("dt" | "ftr" | "hdr" | "sldNum" | "sldImg") => Role::Ignored,
                        Some("subTitle") => Role::Body(false),
                        _ => Role::Body(self.default_bullets),
                    }
                }
                "p" => self.para = Some(Paragraph::default()),
                "pPr" => {
                    if let Some(para) = &mut self.para {
                        para.level = tag.attr("lvl").and_then(|l| l.parse().ok()).unwrap_or(0);
                    }
                }
                "buChar" | "buAutoNum" | "buBlip" => self.bullet(true),
                "buNone" => self.bullet(false),
                "t" => self.in_text = true,
                "br" => {
                    if let Some(para) = &mut self.para {
                        para.text.push('\n');
                    }
                }
                "tbl" => self.tables.start(),
                "tr" => self.tables.row(),
                "tc" => self.tables.cell(),
                "nvPicPr" => self.in_picture = true,
                "cNvPr" if self.in_picture => {
                    let alt = tag.attr("descr").or_else(|| tag.attr("title"));
                    if let Some(alt) = alt.as_deref().and_then(image) {
                        self.body.raw(&alt);
                    }
                }
                _ => {}
            },
            Xml::Text(text) => {
                if let (true, Some(para)) = (self.in_text, &mut self.para) {
                    para.text.push_str(text);
                }
            }
            Xml::End(name) => match name {
                "t" => self.in_text = false,
                "p" => self.end_paragraph(),
                "tc" => self.tables.end_cell(1),
                "tbl" => {
                    if let Some(rows) = self.tables.end() {
                        self.body.table(rows);
                    }
                }
                "nvPicPr" => self.in_picture = false,
                "sp" => self.role = Role::Body(false),
                _ => {}
            },
        }
    }

    /// A bullet setting: the paragraph's own, or (in a shape's list styles,
    /// outside any paragraph) the shape's default.
    fn bullet(&mut self, on: bool) {
        match (&mut self.para, self.role) {
            (Some(para), _) => para.bullet = Some(on),
            (None, Role::Body(_)) => self.role = Role::Body(on),
            (None, _) => {}
        }
    }

    fn end_paragraph(&mut self) {
        let Some(para) = self.para.take() else {
            return;
        };
        if self.tables.text(&para.text) {
            return;
        }
        match self.role {
            Role::Title => self.title.push(para.text),
            Role::Ignored => {}
            Role::Body(bulleted) => {
                if para.bullet.unwrap_or(bulleted) {
                    self.body.item(para.level, &para.text);
                } else {
                    self.body.paragraph(&para.text);
                }
            }
        }
    }
}
