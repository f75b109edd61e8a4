//! RSS 2.0 (and RSS 1.0) and Atom feeds as one Markdown page: the feed's
//! title as a `# ` heading and its description (RSS `description`, Atom
//! `subtitle`) below it, then per item its title as a `## ` heading, its
//! link and date, and its content (or description, or summary), HTML
//! converted with the HTML reader.
//!
//! Read with [`xml::walk`], which refuses document type declarations, so an
//! entity bomb is refused rather than expanded.

use rag_core::ports::ExtractError;

use crate::html;
use crate::office::xml::{self, Xml};

const FORMAT: &str = "feed";

#[derive(Debug, Default)]
struct Entry {
    title: String,
    link: String,
    date: String,
    /// Full content (`content:encoded`, Atom `content`), HTML unless `false`.
    content: Option<(String, bool)>,
    /// Short description (RSS `description`, Atom `summary`).
    summary: Option<(String, bool)>,
    /// RSS `author`, `dc:creator`, Atom `author`.
    authors: Vec<String>,
    /// RSS `category`, Atom `category term`.
    categories: Vec<String>,
}

/// A field of an entry (or the feed's title) being read.
struct Field {
    name: &'static str,
    /// Depth of the field's element.
    depth: usize,
    html: bool,
    text: String,
}

/// Whether the text is a feed: its root element is `<rss>`, `<rdf:RDF>` or
/// an Atom `<feed>`. Only the start of the text is looked at.
pub(crate) fn looks_like_feed(text: &str) -> bool {
    // After the declaration, comments and processing instructions.
    let rest = crate::sniff::after_prolog(text);
    let Some(tag) = rest.strip_prefix('<') else {
        return false;
    };
    let head: String = tag.chars().take(512).collect();
    let name: String = head
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .collect();
    match name.as_str() {
        "rss" => true,
        "feed" => head.contains("http://www.w3.org/2005/Atom"),
        "rdf:RDF" => head.contains("http://purl.org/rss/1.0/"),
        _ => false,
    }
}

/// The feed's Markdown.
pub(crate) fn to_markdown(text: &str) -> Result<String, ExtractError> {
    let mut depth = 0usize;
    let mut root: Option<String> = None;
    let mut feed_title = String::new();
    let mut feed_description = String::new();
    let mut entries: Vec<Entry> = Vec::new();
    // Depth of the open item/entry element.
    let mut entry_depth: Option<usize> = None;
    let mut field: Option<Field> = None;
    // Parent of the element at each depth, for the feed's title.
    let mut path: Vec<String> = Vec::new();

    xml::walk(text, "feed", FORMAT, &[], |event| match event {
        Xml::Start(tag) => {
            depth += 1;
            let name = tag.name().to_owned();
            if root.is_none() {
                root = Some(name.clone());
            }
            if let Some(field) = field.as_mut() {
                // Markup inside a field (Atom XHTML content): keep words apart.
                field.text.push(' ');
            } else if name == "item" || name == "entry" {
                entries.push(Entry::default());
                entry_depth = Some(depth);
            } else if let Some(at) = entry_depth {
                if depth == at + 1 {
                    let kind = tag.attr("type").unwrap_or_default().to_ascii_lowercase();
                    let atom_text = kind == "text" || kind.starts_with("text/plain");
                    let html = !atom_text;
                    let captured: Option<&'static str> = match name.as_str() {
                        "title" => Some("title"),
                        "link" => {
                            // Atom: the alternate (or unqualified) link's href.
                            let rel = tag.attr("rel").unwrap_or_default();
                            if let (Some(href), Some(entry)) =
                                (tag.attr("href"), entries.last_mut())
                            {
                                if (rel.is_empty() || rel == "alternate") && entry.link.is_empty() {
                                    entry.link = href.trim().to_owned();
                                }
                                None
                            } else {
                                Some("link")
                            }
                        }
                        "pubDate" | "published" | "updated" | "date" => Some("date"),
                        "author" | "creator" => Some("author"),
                        "category" => match (tag.attr("term"), entries.last_mut()) {
                            (Some(term), Some(entry)) => {
                                entry.categories.push(term);
                                None
                            }
                            _ => Some("category"),
                        },
                        "encoded" | "content" => Some("content"),
                        "description" | "summary" => Some("summary"),
                        _ => None,
                    };
                    if let Some(name) = captured {
                        field = Some(Field {
                            name,
                            depth,
                            html,
                            text: String::new(),
                        });
                    }
                }
            } else if matches!(path.last().map(String::as_str), Some("channel" | "feed")) {
                let captured = match name.as_str() {
                    "title" if feed_title.is_empty() => Some("feed title"),
                    "description" | "subtitle" if feed_description.is_empty() => {
                        Some("feed description")
                    }
                    _ => None,
                };
                if let Some(captured) = captured {
                    let kind = tag.attr("type").unwrap_or_default().to_ascii_lowercase();
                    field = Some(Field {
                        name: captured,
                        depth,
                        // RSS descriptions may hold escaped HTML; an Atom
                        // subtitle says when it does.
                        html: kind != "text" && !kind.starts_with("text/plain"),
                        text: String::new(),
                    });
                }
            }
            path.push(name);
        }
        Xml::Text(text) => {
            if let Some(field) = field.as_mut() {
                field.text.push_str(text);
            }
        }
        Xml::End(_) => {
            if field.as_ref().is_some_and(|f| f.depth == depth) {
                if let Some(done) = field.take() {
                    match done.name {
                        "feed title" => feed_title = done.text,
                        "feed description" => feed_description = done.text,
                        _ => store(done, entries.last_mut()),
                    }
                }
            }
            if entry_depth == Some(depth) {
                entry_depth = None;
            }
            path.pop();
            depth = depth.saturating_sub(1);
        }
    })
    .map_err(|e| match e {
        ExtractError::Corrupt { format, detail } if detail.contains("<!DOCTYPE>") => {
            ExtractError::Corrupt {
                format,
                detail: "a document type declaration (<!DOCTYPE>), refused: feeds need none \
                         and its entities can expand without bound"
                    .to_owned(),
            }
        }
        other => other,
    })?;

    match root.as_deref() {
        Some("rss" | "feed" | "RDF") => {}
        Some(other) => {
            return Err(ExtractError::Corrupt {
                format: FORMAT,
                detail: format!("the root element is <{other}>, not <rss> or <feed>"),
            })
        }
        None => {
            return Err(ExtractError::Corrupt {
                format: FORMAT,
                detail: "no XML elements".to_owned(),
            })
        }
    }

    let mut blocks = Vec::new();
    let feed_title = one_line(&feed_title);
    if !feed_title.is_empty() {
        blocks.push(format!("# {feed_title}"));
    }
    let about = markdown_of(&feed_description, true)?;
    if !about.is_empty() {
        blocks.push(about);
    }
    for entry in entries {
        let title = one_line(&entry.title);
        let title = if title.is_empty() {
            "(untitled)".to_owned()
        } else {
            title
        };
        blocks.push(format!("## {title}"));
        let mut about = Vec::new();
        let link = one_line(&entry.link);
        if !link.is_empty() {
            about.push(format!("Link: {link}"));
        }
        let date = one_line(&entry.date);
        if !date.is_empty() {
            about.push(format!("Date: {date}"));
        }
        for (label, values) in [
            ("Author", &entry.authors),
            ("Categories", &entry.categories),
        ] {
            let values: Vec<String> = values
                .iter()
                .map(|v| one_line(v))
                .filter(|v| !v.is_empty())
                .collect();
            if !values.is_empty() {
                about.push(format!("{label}: {}", values.join(", ")));
            }
        }
        if !about.is_empty() {
            blocks.push(about.join("\n"));
        }
        let body = entry
            .content
            .filter(|(t, _)| !t.trim().is_empty())
            .or(entry.summary);
        if let Some((text, is_html)) = body {
            let text = markdown_of(&text, is_html)?;
            if !text.is_empty() {
                blocks.push(text);
            }
        }
    }
    Ok(blocks.join("\n\n"))
}

/// A field's text as Markdown: HTML converted, plain text trimmed.
fn markdown_of(text: &str, is_html: bool) -> Result<String, ExtractError> {
    Ok(if is_html && (text.contains('<') || text.contains('&')) {
        html::to_markdown(text)?.trim().to_owned()
    } else {
        text.trim().to_owned()
    })
}

fn store(field: Field, entry: Option<&mut Entry>) {
    let Some(entry) = entry else { return };
    match field.name {
        "title" => entry.title = field.text,
        "link" if entry.link.is_empty() => entry.link = field.text,
        // RSS `pubDate`, Atom `published` first; `updated` only without one.
        "date" if entry.date.is_empty() => entry.date = field.text,
        "content" => entry.content = Some((field.text, field.html)),
        "summary" => entry.summary = Some((field.text, field.html)),
        "author" => entry.authors.push(field.text),
        "category" => entry.categories.push(field.text),
        _ => {}
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_feed_roots() {
        assert!(looks_like_feed(
            "<?xml version=\"1.0\"?>\n<!-- hi --><rss version=\"2.0\"><channel/></rss>"
        ));
        assert!(looks_like_feed(
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>x</title></feed>"
        ));
        assert!(!looks_like_feed("<feed><title>x</title></feed>"));
        assert!(!looks_like_feed("<?xml version=\"1.0\"?><project/>"));
        assert!(!looks_like_feed("plain text"));
    }
}
