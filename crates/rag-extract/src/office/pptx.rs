//! PowerPoint (PPTX): one page per slide, in the order the presentation
//! lists them (`p:sldIdLst`), numbered from 1. A slide's page holds its
//! title as a `## ` heading, then its shapes' text, tables, charts (a
//! `### Chart: title` heading and a table of the values, categories down,
//! series across) and image descriptions in the order they are drawn, then
//! the speaker notes under a `Notes:` line. Pictures go to
//! [`ExtractedDocument::images`] with their place on the slide's page.

use rag_core::domain::job::PageRange;
use rag_core::ingest::chunking::TextKind;
use rag_core::ports::{ExtractError, ExtractedDocument, ExtractedPage};

use super::images::Images;
use super::xml::{walk, Relationships, Xml};
use super::{chart, image, main_part, Markdown, Package, Tables};
use crate::{Extraction, Limits};

const FORMAT: &str = "PPTX";
/// Elements left out with their content: the fallback of alternate content
/// duplicates its first choice.
const SKIP: &[&str] = &["Fallback"];

/// The slides' pages and pictures, and notes about slides that could not
/// be read; only the `wanted` slides are read (the others are empty pages),
/// so each page-range job of a split deck reads just its own.
pub(crate) fn extract(
    bytes: &[u8],
    wanted: Option<PageRange>,
    limits: &Limits,
) -> Result<Extraction, ExtractError> {
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
    crate::check_page_count(ids.len(), wanted, limits, "slides")?;

    let mut pages = Vec::with_capacity(ids.len());
    let mut notes = Vec::new();
    let mut images = Images::default();
    for (i, id) in ids.iter().enumerate() {
        let number = i + 1;
        if let Some(skipped) = crate::unwanted(wanted, number as u32) {
            pages.push(skipped);
            continue;
        }
        let part = rels.get(id).filter(|r| !r.external && r.kind == "slide");
        let read = part.map(|r| slide(&mut package, &r.target, &mut images, &mut notes));
        let text = match read {
            Some(Ok(Some(text))) => images.place(i, text),
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
    let images = images.load(&mut package, limits, &mut notes)?;
    Ok(Extraction {
        document: ExtractedDocument {
            pages,
            kind: TextKind::Markdown,
            format: "pptx",
            images,
        },
        notes,
    })
}

/// A slide's Markdown, with its notes and image markers; `None` when the
/// part is missing.
fn slide(
    package: &mut Package<'_>,
    part: &str,
    images: &mut Images,
    notes: &mut Vec<String>,
) -> Result<Option<String>, ExtractError> {
    let Some(xml) = package.read(part)? else {
        return Ok(None);
    };
    let rels = Relationships::of(package, part)?;
    let mut slide = Shapes::new(true, &rels, package, Some(images));
    walk(&xml, part, FORMAT, SKIP, |event| slide.visit(event))?;
    let (title, body) = slide.finish(notes)?;

    let mut speaker = String::new();
    if let Some(rel) = rels.first_of_kind("notesSlide").filter(|r| !r.external) {
        if let Some(xml) = package.read(&rel.target)? {
            let notes_rels = Relationships::default();
            let mut shapes = Shapes::new(false, &notes_rels, package, None);
            walk(&xml, &rel.target, FORMAT, SKIP, |event| shapes.visit(event))?;
            speaker = shapes.finish(notes)?.1;
        }
    }

    let mut page = Markdown::default();
    page.heading(2, &title);
    page.raw(&body);
    if !speaker.is_empty() {
        page.raw(&format!("Notes:\n{speaker}"));
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
struct Shapes<'a, 'b> {
    default_bullets: bool,
    /// The slide's relationships: pictures and charts.
    rels: &'a Relationships,
    package: &'a mut Package<'b>,
    /// Where pictures are registered (slides, not notes pages).
    images: Option<&'a mut Images>,
    title: Vec<String>,
    body: Markdown,
    role: Role,
    para: Option<Paragraph>,
    in_text: bool,
    /// Inside a slide-number or date field: not content.
    in_field: bool,
    tables: Tables,
    picture: Option<Picture>,
    /// Charts that could not be read.
    skipped: Vec<String>,
    /// A limit hit while reading a chart, reported after the walk.
    error: Option<ExtractError>,
}

#[derive(Default)]
struct Picture {
    alt: Option<String>,
    /// The shape's name ("Picture 4").
    name: Option<String>,
    /// The image part.
    image: Option<String>,
}

#[derive(Default)]
struct Paragraph {
    level: usize,
    bullet: Option<bool>,
    text: String,
}

impl<'a, 'b> Shapes<'a, 'b> {
    fn new(
        default_bullets: bool,
        rels: &'a Relationships,
        package: &'a mut Package<'b>,
        images: Option<&'a mut Images>,
    ) -> Self {
        Self {
            default_bullets,
            rels,
            package,
            images,
            title: Vec::new(),
            body: Markdown::default(),
            role: Role::Body(false),
            para: None,
            in_text: false,
            in_field: false,
            tables: Tables::default(),
            picture: None,
            skipped: Vec::new(),
            error: None,
        }
    }

    /// The title and the body's Markdown.
    fn finish(self, notes: &mut Vec<String>) -> Result<(String, String), ExtractError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        notes.extend(self.skipped);
        Ok((self.title.join(" "), self.body.finish()))
    }

    /// An internal relationship's part.
    fn part(&self, id: Option<String>) -> Option<String> {
        let rel = self.rels.get(&id?)?;
        (!rel.external).then(|| rel.target.clone())
    }

    fn chart(&mut self, part: &str) {
        match chart::read(self.package, part) {
            Ok(Some(chart)) => chart.to_markdown(&mut self.body, 3),
            Ok(None) => {}
            Err(ExtractError::Corrupt { detail, .. }) => {
                self.skipped.push(format!("chart left out: {detail}"))
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }

    fn end_picture(&mut self) {
        let Some(picture) = self.picture.take() else {
            return;
        };
        let mark = match (&picture.image, self.images.as_deref_mut()) {
            (Some(part), Some(images)) => images.mark(part, picture.alt.as_deref()),
            _ => None,
        };
        let alt = picture
            .alt
            .as_deref()
            .and_then(|alt| image(alt, picture.name.as_deref(), picture.image.as_deref()))
            .unwrap_or_default();
        let text = format!("{alt}{}", mark.map(String::from).unwrap_or_default());
        self.body.raw(&text);
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
                "fld" => {
                    let kind = tag.attr("type").unwrap_or_default();
                    self.in_field = kind == "slidenum" || kind.starts_with("datetime");
                }
                "br" => {
                    if let Some(para) = &mut self.para {
                        para.text.push('\n');
                    }
                }
                "tbl" => self.tables.start(),
                "tr" => self.tables.row(),
                "tc" => self.tables.cell(),
                "pic" => self.picture = Some(Picture::default()),
                "cNvPr" => {
                    let alt = tag.attr("descr").or_else(|| tag.attr("title"));
                    if let Some(picture) = &mut self.picture {
                        picture.alt = picture.alt.take().or(alt.filter(|a| !a.trim().is_empty()));
                        picture.name = picture.name.take().or(tag.attr("name"));
                    }
                }
                "blip" => {
                    let image = self.part(tag.attr("r:embed"));
                    if let Some(picture) = &mut self.picture {
                        picture.image = picture.image.take().or(image);
                    }
                }
                "chart" => {
                    if let Some(part) = self.part(tag.attr("r:id")) {
                        self.chart(&part);
                    }
                }
                _ => {}
            },
            Xml::Text(text) => {
                if let (true, false, Some(para)) = (self.in_text, self.in_field, &mut self.para) {
                    para.text.push_str(text);
                }
            }
            Xml::End(name) => match name {
                "t" => self.in_text = false,
                "fld" => self.in_field = false,
                "p" => self.end_paragraph(),
                "tc" => self.tables.end_cell(1),
                "tbl" => {
                    if let Some(rows) = self.tables.end() {
                        self.body.table(rows);
                    }
                }
                "pic" => self.end_picture(),
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
