//! E-mail messages, RFC 822/MIME (`.eml`) and Outlook (`.msg`), as
//! Markdown: the subject as a heading, then From, To, Cc, Date and Subject
//! as labelled fields, the body
//! (plain text, or the HTML part through the HTML reader when there is no
//! plain one), and the attachments listed by name. Attachments the
//! extractor reads (PDF, Office, text, images, ...) follow as further pages,
//! each headed by its name, under the same [`Limits`] (an attachment over a
//! limit fails the whole message; one that is unsupported, corrupt,
//! encrypted or without text is only listed, with a note); an attached
//! message's own attachments are listed, not read ([`MAX_DEPTH`]).

mod eml;
mod msg;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use rag_core::ingest::chunking::TextKind;
use rag_core::ports::{ExtractError, ExtractInput, ExtractedDocument, ExtractedPage};

use crate::{html, image, too_many_chars, Extraction, Limits, Options};

/// How deep attachments are read: those of the uploaded message (depth 0)
/// are, those of a message attached to it (depth 1) are only listed.
pub(crate) const MAX_DEPTH: u8 = 1;

/// A message, whichever format it came in.
#[derive(Debug, Default)]
pub(crate) struct Message {
    pub subject: Option<String>,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// RFC 3339 when it could be parsed, else as written.
    pub date: Option<String>,
    pub body: Body,
    pub attachments: Vec<Attachment>,
    /// What could not be read while parsing (for [`Extraction::notes`]).
    pub notes: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) enum Body {
    Text(String),
    Html(String),
    #[default]
    None,
}

#[derive(Debug)]
pub(crate) struct Attachment {
    pub name: String,
    /// MIME type without parameters, when known.
    pub content_type: Option<String>,
    pub content: Content,
}

#[derive(Debug)]
pub(crate) enum Content {
    /// The file's bytes; text parts of a MIME message arrive decoded, as
    /// UTF-8 (`utf8`).
    Bytes { data: Vec<u8>, utf8: bool },
    /// An Outlook message embedded in another, already parsed.
    Message(Box<Message>),
    /// Nothing readable (an OLE object, a link).
    None,
}

impl Attachment {
    fn size(&self) -> Option<usize> {
        match &self.content {
            Content::Bytes { data, .. } => Some(data.len()),
            _ => None,
        }
    }
}

/// Reads a message, MIME (`.eml`) or Outlook (`.msg`) by its content
/// whatever its name says, reported as `format` (what it was routed as).
pub(crate) fn extract(
    bytes: &[u8],
    limits: &Limits,
    options: Options,
    format: &'static str,
) -> Result<Extraction, ExtractError> {
    let message = if crate::office::is_ole(bytes) {
        msg::parse(bytes, limits)?
    } else {
        eml::parse(bytes)?
    };
    render(&message, limits, options, format)
}

/// The message as pages: its own, then one or more per attachment read.
fn render(
    message: &Message,
    limits: &Limits,
    options: Options,
    format: &'static str,
) -> Result<Extraction, ExtractError> {
    let mut notes = message.notes.clone();
    let mut pages = vec![ExtractedPage {
        number: None,
        text: String::new(),
    }];
    let mut images = Vec::new();
    let mut chars = 0usize;
    let (text, listed_at) = header_and_body(message, &mut notes);
    pages[0].text = text;
    chars += pages[0].text.chars().count();
    if chars > limits.max_chars {
        return Err(too_many_chars(limits));
    }

    if options.depth < MAX_DEPTH {
        for (attachment, &listed_at) in message.attachments.iter().zip(&listed_at) {
            // Past the budget the caller has given up on this document.
            if Instant::now() >= options.deadline {
                return Err(ExtractError::LimitExceeded(format!(
                    "reading the document took longer than {} s",
                    limits.max_duration.as_secs()
                )));
            }
            let read = match read_attachment(attachment, limits, options) {
                Ok(read) => read,
                // Over a limit, the message is refused whole, as any
                // document is, rather than indexed without a part.
                Err(ExtractError::LimitExceeded(why)) => {
                    return Err(ExtractError::LimitExceeded(format!(
                        "attachment '{}': {why}",
                        attachment.name
                    )))
                }
                Err(why) => {
                    // An image without text or description is still one
                    // for the visuals step, where the list names it.
                    if let Content::Bytes { data, .. } = &attachment.content {
                        if let Some(mut image) = image::embedded(data, limits) {
                            image.offset = listed_at;
                            image.alt = Some(attachment.name.clone());
                            images.push(image);
                        }
                    }
                    if !matches!(why, ExtractError::Unsupported(_)) {
                        notes.push(format!("attachment '{}': {why}", attachment.name));
                    }
                    continue;
                }
            };
            if pages.len() + read.document.pages.len() > limits.max_pages as usize {
                return Err(ExtractError::LimitExceeded(format!(
                    "more than {} pages, counting the attachments' pages",
                    limits.max_pages
                )));
            }
            notes.extend(
                read.notes
                    .into_iter()
                    .map(|n| format!("attachment '{}': {n}", attachment.name)),
            );
            let heading = format!("# Attachment: {}\n\n", one_line(&attachment.name));
            let first = pages.len();
            for (i, mut page) in read.document.pages.into_iter().enumerate() {
                if i == 0 {
                    page.text.insert_str(0, &heading);
                }
                chars += page.text.chars().count();
                if chars > limits.max_chars {
                    return Err(too_many_chars(limits));
                }
                pages.push(page);
            }
            for mut image in read.document.images {
                if image.page_index == 0 {
                    image.offset += heading.len();
                }
                image.page_index += first;
                images.push(image);
            }
        }
    }

    // In reading order: those the attachment list names come first.
    images.sort_by_key(|i| (i.page_index, i.offset));
    // One page alone has no number, like any one-page document; with the
    // attachments', pages are numbered through.
    if pages.len() > 1 {
        for (i, page) in pages.iter_mut().enumerate() {
            page.number = Some(i as u32 + 1);
        }
    }
    Ok(Extraction {
        document: ExtractedDocument {
            pages,
            kind: TextKind::Markdown,
            format,
            images,
        },
        notes,
    })
}

/// The message's own page: the header block, the body, the attachment list;
/// with where each attachment's line ends.
fn header_and_body(message: &Message, notes: &mut Vec<String>) -> (String, Vec<usize>) {
    let mut out = String::new();
    let subject = message
        .subject
        .as_deref()
        .map(one_line)
        .filter(|s| !s.is_empty());
    out.push_str("# ");
    out.push_str(subject.as_deref().unwrap_or("(no subject)"));
    out.push_str("\n\n");
    let mut fields = Vec::new();
    for (name, list) in [
        ("From", &message.from),
        ("To", &message.to),
        ("Cc", &message.cc),
    ] {
        if !list.is_empty() {
            fields.push(format!("- **{name}:** {}", one_line(&list.join(", "))));
        }
    }
    if let Some(date) = &message.date {
        fields.push(format!("- **Date:** {}", one_line(date)));
    }
    // Also as a field: readers look for it with the others, and a chunk
    // cut below the heading still says what the message is about.
    if let Some(subject) = &subject {
        fields.push(format!("- **Subject:** {subject}"));
    }
    if !fields.is_empty() {
        out.push_str(&fields.join("\n"));
        out.push_str("\n\n");
    }
    let body = match &message.body {
        Body::Text(text) => text.replace("\r\n", "\n").replace('\r', "\n"),
        Body::Html(html) => match html::to_markdown(html) {
            Ok(markdown) => markdown,
            Err(e) => {
                notes.push(format!("HTML body: {e}"));
                String::new()
            }
        },
        Body::None => String::new(),
    };
    let body = body.trim();
    if !body.is_empty() {
        out.push_str(body);
        out.push_str("\n\n");
    }
    let mut listed_at = Vec::with_capacity(message.attachments.len());
    if !message.attachments.is_empty() {
        out.push_str("## Attachments\n\n");
        for attachment in &message.attachments {
            let mut about = Vec::new();
            if let Some(t) = &attachment.content_type {
                about.push(t.clone());
            }
            if let Some(size) = attachment.size() {
                about.push(human_size(size));
            }
            out.push_str("- ");
            out.push_str(&one_line(&attachment.name));
            if !about.is_empty() {
                out.push_str(&format!(" ({})", about.join(", ")));
            }
            listed_at.push(out.len());
            out.push('\n');
        }
    }
    out.truncate(out.trim_end().len());
    (out, listed_at)
}

/// An attachment's text through the reader its name and type pick, one
/// level deeper. A panic in that reader fails only this attachment.
fn read_attachment(
    attachment: &Attachment,
    limits: &Limits,
    options: Options,
) -> Result<Extraction, ExtractError> {
    let deeper = Options {
        depth: options.depth + 1,
        ..options
    };
    match &attachment.content {
        Content::None => Err(ExtractError::Unsupported("no content".to_owned())),
        Content::Message(message) => {
            catch_unwind(AssertUnwindSafe(|| render(message, limits, deeper, "msg")))
                .unwrap_or_else(|_| Err(crashed()))
        }
        Content::Bytes { data, utf8 } => {
            let content_type = match (&attachment.content_type, utf8) {
                (Some(t), true) => Some(format!("{t}; charset=utf-8")),
                (t, _) => t.clone(),
            };
            let input = ExtractInput::new(data, &attachment.name, content_type.as_deref());
            catch_unwind(AssertUnwindSafe(|| {
                crate::read_nested(input, limits, deeper)
            }))
            .unwrap_or_else(|_| Err(crashed()))
        }
    }
}

fn crashed() -> ExtractError {
    ExtractError::Corrupt {
        format: "attachment",
        detail: "the file could not be parsed".to_owned(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn human_size(bytes: usize) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// `Name <address>`, or whichever of the two there is.
pub(crate) fn mailbox(name: Option<&str>, address: Option<&str>) -> Option<String> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let address = address.map(str::trim).filter(|a| !a.is_empty());
    match (name, address) {
        (Some(n), Some(a)) if n.eq_ignore_ascii_case(a) => Some(a.to_owned()),
        (Some(n), Some(a)) => Some(format!("{n} <{a}>")),
        (n, a) => n.or(a).map(str::to_owned),
    }
}
