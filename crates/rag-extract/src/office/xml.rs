//! Streaming an XML part as start tags, end tags and text, and reading
//! package relationships.
//!
//! quick-xml never expands entities beyond the five predefined ones and
//! character references, and never fetches external ones; on top of that a
//! part with a document type declaration is refused outright: Office never
//! writes one, and its only use in an upload is an entity bomb.

use std::collections::HashMap;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use rag_core::ports::ExtractError;

use super::images::unmarked;
use super::Package;

/// One step through a part.
pub(crate) enum Xml<'e> {
    /// An element starts (empty elements start and end at once).
    Start(Tag<'e>),
    /// An element ends: its local name.
    End(&'e str),
    /// Character data, references resolved (and image marker characters,
    /// see [`super::images`], dropped).
    Text(&'e str),
}

/// A start tag.
pub(crate) struct Tag<'e> {
    start: &'e BytesStart<'e>,
}

impl Tag<'_> {
    /// The local name (`p` for `<a:p>`): prefixes are conventional, not fixed.
    pub(crate) fn name(&self) -> &str {
        local(self.start.name().into_inner())
    }

    /// The name as written, prefix included (`text:a`).
    pub(crate) fn qualified(&self) -> &str {
        self.start.name().into_inner()
    }

    /// An attribute's value by its qualified name (`"r:id"`), or by its
    /// local name when unprefixed (`"val"` also finds `w:val`).
    pub(crate) fn attr(&self, name: &str) -> Option<String> {
        let unprefixed = !name.contains(':');
        self.start
            .attributes()
            .with_checks(false)
            .flatten()
            .find(|a| {
                let key: &str = a.key.as_ref();
                key == name || (unprefixed && local(key) == name)
            })
            .map(|a| {
                a.normalized_value(XmlVersion::Implicit1_0)
                    .map_or_else(|_| a.value.to_string(), |v| v.into_owned())
            })
    }
}

fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, local)| local)
}

/// Streams `xml` (the part `part`) to `visit`, leaving out the elements
/// whose local name is in `skip` with everything inside them.
pub(crate) fn walk(
    xml: &str,
    part: &str,
    format: &'static str,
    skip: &[&str],
    mut visit: impl FnMut(Xml<'_>),
) -> Result<(), ExtractError> {
    let corrupt = |detail: String| ExtractError::Corrupt {
        format,
        detail: format!("{part}: {detail}"),
    };
    let mut reader = Reader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    // Depth inside a skipped element (0: not skipping).
    let mut skipping = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| {
            corrupt(format!(
                "invalid XML at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        match event {
            Event::Start(start) => {
                if skipping > 0 {
                    skipping += 1;
                } else if skip.contains(&local(start.name().into_inner())) {
                    skipping = 1;
                } else {
                    visit(Xml::Start(Tag { start: &start }));
                }
            }
            Event::End(end) => {
                if skipping > 0 {
                    skipping -= 1;
                } else {
                    visit(Xml::End(local(end.name().into_inner())));
                }
            }
            Event::Text(text) if skipping == 0 => {
                visit(Xml::Text(&unmarked(&text.xml10_content())))
            }
            Event::CData(text) if skipping == 0 => {
                visit(Xml::Text(&unmarked(&text.xml10_content())))
            }
            Event::GeneralRef(reference) if skipping == 0 => {
                let mut buf = [0u8; 4];
                // Character references and the five predefined entities;
                // anything else is undefined (there is no DTD) and dropped.
                let text = match reference.resolve_char_ref() {
                    Ok(Some(c)) => Some(&*c.encode_utf8(&mut buf)),
                    Ok(None) => resolve_predefined_entity(&reference),
                    Err(_) => None,
                };
                if let Some(text) = text {
                    visit(Xml::Text(text));
                }
            }
            Event::DocType(_) => {
                return Err(corrupt(
                    "a document type declaration (<!DOCTYPE>), which Office files never contain"
                        .to_owned(),
                ))
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- relationships

/// A part's relationships (`_rels/<part>.rels`) by id.
#[derive(Debug, Default)]
pub(crate) struct Relationships {
    by_id: HashMap<String, Relationship>,
    /// Ids in document order.
    order: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Relationship {
    /// The type's last path segment: `slide`, `notesSlide`, `hyperlink`, ...
    pub(crate) kind: String,
    /// A part name (resolved against the source part) for internal
    /// targets, the URL as written for external ones.
    pub(crate) target: String,
    pub(crate) external: bool,
}

impl Relationships {
    /// The relationships of `part` (`""` for the package's own); none when
    /// the part has no relationships file.
    pub(crate) fn of(package: &mut Package<'_>, part: &str) -> Result<Self, ExtractError> {
        let (dir, file) = part.rsplit_once('/').unwrap_or(("", part));
        let rels_name = if dir.is_empty() {
            format!("_rels/{file}.rels")
        } else {
            format!("{dir}/_rels/{file}.rels")
        };
        let Some(xml) = package.read(&rels_name)? else {
            return Ok(Self::default());
        };
        let mut rels = Self::default();
        walk(&xml, &rels_name, package.format(), &[], |event| {
            let Xml::Start(tag) = event else { return };
            if tag.name() != "Relationship" {
                return;
            }
            let (Some(id), Some(kind), Some(target)) =
                (tag.attr("Id"), tag.attr("Type"), tag.attr("Target"))
            else {
                return;
            };
            let external = tag
                .attr("TargetMode")
                .is_some_and(|m| m.eq_ignore_ascii_case("external"));
            let target = if external {
                target
            } else {
                resolve(dir, &target)
            };
            let kind = kind.rsplit('/').next().unwrap_or_default().to_owned();
            rels.order.push(id.clone());
            rels.by_id.insert(
                id,
                Relationship {
                    kind,
                    target,
                    external,
                },
            );
        })?;
        Ok(rels)
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Relationship> {
        self.by_id.get(id)
    }

    /// The first relationship of a kind, in document order.
    pub(crate) fn first_of_kind(&self, kind: &str) -> Option<&Relationship> {
        self.order
            .iter()
            .filter_map(|id| self.by_id.get(id))
            .find(|r| r.kind == kind)
    }
}

/// A relationship target as a part name: relative to `dir` unless it starts
/// with `/`, `.` and `..` segments applied.
pub(crate) fn resolve(dir: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/').filter(|s| !s.is_empty()).collect()
    };
    for segment in target.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(xml: &str, skip: &[&str]) -> Result<Vec<String>, ExtractError> {
        let mut out = Vec::new();
        walk(xml, "part.xml", "TEST", skip, |e| {
            out.push(match e {
                Xml::Start(tag) => {
                    format!("<{}{}>", tag.name(), tag.attr("val").unwrap_or_default())
                }
                Xml::End(name) => format!("</{name}>"),
                Xml::Text(text) => text.to_owned(),
            })
        })?;
        Ok(out)
    }

    #[test]
    fn walks_with_references_resolved_and_subtrees_skipped() {
        let xml = r#"<?xml version="1.0"?><w:a w:val="x &amp; y"><b/>1 &lt; 2 &#x263A;&unknown;<mc:Fallback><c>gone</c></mc:Fallback><![CDATA[<raw>]]></w:a>"#;
        assert_eq!(
            events(xml, &["Fallback"]).ok(),
            Some(
                ["<ax & y>", "<b>", "</b>", "1 ", "<", " 2 ", "☺", "<raw>", "</a>"]
                    .map(String::from)
                    .to_vec()
            )
        );
    }

    #[test]
    fn doctype_is_refused() {
        let xml = r#"<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#;
        match events(xml, &[]) {
            Err(ExtractError::Corrupt { detail, .. }) => {
                assert!(detail.contains("DOCTYPE"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mismatched_tags_are_corrupt() {
        assert!(matches!(
            events("<a><b></a>", &[]),
            Err(ExtractError::Corrupt { .. })
        ));
    }

    #[test]
    fn targets_resolve_against_the_source_directory() {
        assert_eq!(resolve("ppt", "slides/slide1.xml"), "ppt/slides/slide1.xml");
        assert_eq!(
            resolve("ppt/slides", "../notesSlides/notesSlide1.xml"),
            "ppt/notesSlides/notesSlide1.xml"
        );
        assert_eq!(resolve("word", "/word/document.xml"), "word/document.xml");
        assert_eq!(
            resolve("", "./ppt/presentation.xml"),
            "ppt/presentation.xml"
        );
        assert_eq!(resolve("", "../../x.xml"), "x.xml");
    }
}
