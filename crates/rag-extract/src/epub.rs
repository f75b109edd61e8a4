//! EPUB e-books: one Markdown page per document of the spine, in reading
//! order, each converted with the HTML reader; the book's title (from the
//! package document's Dublin Core metadata) as a `# ` heading on page 1,
//! followed by its authors, publisher, date, language, subjects and
//! description as labelled lines, which a reader (and a search for the
//! author) expects to find.
//!
//! The zip is read through [`Package`] under the archive limits, and the
//! container and package documents through [`xml::walk`], which refuses
//! document type declarations. A book whose content is encrypted (DRM,
//! listed in `META-INF/encryption.xml`) is refused as encrypted; obfuscated
//! fonts alone are not.

use std::collections::HashMap;

use rag_core::domain::job::PageRange;
use rag_core::ports::{ExtractError, ExtractedPage};

use crate::html;
use crate::office::xml::{self, Xml};
use crate::office::Package;
use crate::Limits;

const FORMAT: &str = "EPUB";

/// Font obfuscation algorithms (IDPF and Adobe): not DRM.
const FONT_OBFUSCATION: &[&str] = &[
    "http://www.idpf.org/2008/embedding",
    "http://ns.adobe.com/pdf/enc#RC",
];

/// The book's pages and notes about chapters that could not be read; only
/// the `wanted` chapters are read (the others are empty pages).
pub(crate) fn extract(
    bytes: &[u8],
    wanted: Option<PageRange>,
    limits: &Limits,
) -> Result<(Vec<ExtractedPage>, Vec<String>), ExtractError> {
    let mut package = Package::open(bytes, FORMAT, limits)?;
    if is_drm_protected(&mut package)? {
        return Err(ExtractError::Encrypted);
    }
    let container = package
        .read("META-INF/container.xml")?
        .ok_or_else(|| package.corrupt("no META-INF/container.xml"))?;
    let mut opf_path = None;
    xml::walk(&container, "META-INF/container.xml", FORMAT, &[], |e| {
        if let Xml::Start(tag) = e {
            if tag.name() == "rootfile" && opf_path.is_none() {
                let media = tag.attr("media-type").unwrap_or_default();
                if media.is_empty() || media == "application/oebps-package+xml" {
                    opf_path = tag.attr("full-path");
                }
            }
        }
    })?;
    let opf_path = opf_path
        .map(|p| xml::resolve("", &percent_decode(&p)))
        .ok_or_else(|| package.corrupt("the container names no package document"))?;
    let opf = package
        .read(&opf_path)?
        .ok_or_else(|| package.corrupt(format!("no package document {opf_path}")))?;
    let dir = opf_path.rsplit_once('/').map_or("", |(d, _)| d).to_owned();

    let mut title = String::new();
    let mut facts = Facts::default();
    let mut field: Option<(String, String)> = None;
    let mut in_metadata = false;
    let mut manifest: HashMap<String, (String, String)> = HashMap::new();
    let mut spine: Vec<String> = Vec::new();
    xml::walk(&opf, &opf_path, FORMAT, &[], |e| match e {
        Xml::Start(tag) => match tag.name() {
            "metadata" => in_metadata = true,
            name if in_metadata && Facts::LABELS.iter().any(|(n, _)| *n == name) => {
                field = Some((name.to_owned(), String::new()));
            }
            "item" => {
                if let (Some(id), Some(href)) = (tag.attr("id"), tag.attr("href")) {
                    let media = tag.attr("media-type").unwrap_or_default();
                    manifest.insert(id, (href, media));
                }
            }
            "itemref" => {
                if let Some(id) = tag.attr("idref") {
                    spine.push(id);
                }
            }
            _ => {}
        },
        Xml::Text(text) => {
            if let Some((_, value)) = &mut field {
                value.push_str(text);
            }
        }
        Xml::End(name) if field.as_ref().is_some_and(|(n, _)| n == name) => {
            if let Some((name, value)) = field.take() {
                let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
                if name == "title" {
                    if title.is_empty() {
                        title = value;
                    }
                } else {
                    facts.add(&name, value);
                }
            }
        }
        Xml::End("metadata") => in_metadata = false,
        _ => {}
    })?;
    if spine.is_empty() {
        return Err(package.corrupt("the package document has an empty spine"));
    }
    crate::check_page_count(spine.len(), wanted, limits, "chapters")?;

    let mut pages = Vec::new();
    let mut notes = Vec::new();
    for idref in &spine {
        let number = pages.len() as u32 + 1;
        if let Some(skipped) = crate::unwanted(wanted, number) {
            pages.push(skipped);
            continue;
        }
        let Some((href, media)) = manifest.get(idref) else {
            notes.push(format!(
                "page {number}: the spine names '{idref}', which is not in the manifest"
            ));
            pages.push(ExtractedPage {
                number: Some(number),
                text: String::new(),
            });
            continue;
        };
        let href = percent_decode(href.split('#').next().unwrap_or_default());
        let part = xml::resolve(&dir, &href);
        let text = if !media.is_empty() && !media.contains("html") && !media.contains("xml") {
            notes.push(format!(
                "page {number}: {part} is {media}, not a text document"
            ));
            String::new()
        } else {
            match package.read(&part)? {
                Some(chapter) => html::to_markdown(&chapter)?,
                None => {
                    notes.push(format!("page {number}: {part} is missing from the archive"));
                    String::new()
                }
            }
        };
        pages.push(ExtractedPage {
            number: Some(number),
            text,
        });
    }
    let first_wanted = crate::unwanted(wanted, 1).is_none();
    if let Some(first) = pages.first_mut().filter(|_| first_wanted) {
        let heading = (!title.is_empty()).then(|| format!("# {title}"));
        // The first chapter may already open with the same heading.
        let heading = heading.filter(|h| !first.text.starts_with(h.as_str()));
        let front: Vec<String> = heading.into_iter().chain(facts.lines()).collect();
        if !front.is_empty() {
            let front = front.join("\n\n");
            first.text = if first.text.is_empty() {
                front
            } else if first.text.starts_with(&format!("# {title}")) && !title.is_empty() {
                // After the chapter's own title heading.
                let (heading, rest) = first.text.split_once('\n').unwrap_or((&first.text, ""));
                format!("{heading}\n\n{front}\n\n{}", rest.trim_start())
            } else {
                format!("{front}\n\n{}", first.text)
            };
        }
    }
    Ok((pages, notes))
}

/// The Dublin Core facts of a book, besides its title, in the order they
/// are shown.
#[derive(Debug, Default)]
struct Facts(Vec<(&'static str, Vec<String>)>);

impl Facts {
    /// Dublin Core elements read, with their labels (`title` is the heading).
    const LABELS: &[(&str, &str)] = &[
        ("title", "Title"),
        ("creator", "Authors"),
        ("contributor", "Contributors"),
        ("publisher", "Publisher"),
        ("date", "Date"),
        ("language", "Language"),
        ("subject", "Subjects"),
        ("description", "Description"),
    ];

    fn add(&mut self, element: &str, value: String) {
        let Some((_, label)) = Self::LABELS.iter().find(|(n, _)| *n == element) else {
            return;
        };
        if value.is_empty() {
            return;
        }
        // A description is often HTML, escaped into the package document.
        let value = if *label == "Description" && value.contains('<') {
            html::to_markdown(&value).unwrap_or(value)
        } else {
            value
        };
        match self.0.iter_mut().find(|(l, _)| l == label) {
            Some((_, values)) if !values.contains(&value) => values.push(value),
            Some(_) => {}
            None => self.0.push((label, vec![value])),
        }
    }

    /// `**Label:** value, value` lines, in [`Facts::LABELS`] order.
    fn lines(&self) -> Vec<String> {
        Self::LABELS
            .iter()
            .filter_map(|(_, label)| {
                let (_, values) = self.0.iter().find(|(l, _)| l == label)?;
                Some(format!("**{label}:** {}", values.join(", ")))
            })
            .collect()
    }
}

/// Whether `META-INF/encryption.xml` lists content encrypted by anything
/// but font obfuscation.
fn is_drm_protected(package: &mut Package<'_>) -> Result<bool, ExtractError> {
    let Some(encryption) = package.read("META-INF/encryption.xml")? else {
        return Ok(false);
    };
    let mut drm = false;
    xml::walk(&encryption, "META-INF/encryption.xml", FORMAT, &[], |e| {
        if let Xml::Start(tag) = e {
            if tag.name() == "EncryptionMethod" {
                let algorithm = tag.attr("Algorithm").unwrap_or_default();
                if !FONT_OBFUSCATION.contains(&algorithm.as_str()) {
                    drm = true;
                }
            }
        }
    })?;
    Ok(drm)
}

/// `%XX` escapes in a manifest href decoded (invalid ones kept as written).
fn percent_decode(href: &str) -> String {
    if !href.contains('%') {
        return href.to_owned();
    }
    let bytes = href.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1..i + 3].iter().all(u8::is_ascii_hexdigit)
        {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_are_percent_decoded() {
        assert_eq!(percent_decode("chapter%201.xhtml"), "chapter 1.xhtml");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zz%41"), "a%zzA");
        assert_eq!(percent_decode("plain.xhtml"), "plain.xhtml");
    }
}
