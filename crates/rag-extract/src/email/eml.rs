//! RFC 822/MIME messages, parsed by `mail-parser`: encoded words
//! (`=?UTF-8?B?...?=`), quoted-printable and base64 bodies, RFC 2231 file
//! names and the charsets of `encoding_rs` all arrive decoded.

use mail_parser::{Address, MessageParser, MimeHeaders, PartType};
use rag_core::ports::ExtractError;

use super::{mailbox, Attachment, Body, Content, Message};

pub(super) fn parse(bytes: &[u8]) -> Result<Message, ExtractError> {
    let corrupt = |detail: &str| ExtractError::Corrupt {
        format: "e-mail message",
        detail: detail.to_owned(),
    };
    let parsed = MessageParser::default()
        .parse(bytes)
        .ok_or_else(|| corrupt("no message headers"))?;
    let known_header = parsed.subject().is_some()
        || parsed.from().is_some()
        || parsed.to().is_some()
        || parsed.date().is_some()
        || parsed.message_id().is_some();
    if !known_header {
        return Err(corrupt("no From, To, Subject, Date or Message-ID header"));
    }

    let mut message = Message {
        subject: parsed.subject().map(str::to_owned),
        from: addresses(parsed.from()),
        to: addresses(parsed.to()),
        cc: addresses(parsed.cc()),
        date: parsed.date().map(|d| d.to_rfc3339()).or_else(|| {
            parsed
                .header_raw("Date")
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty())
        }),
        ..Message::default()
    };

    // Plain parts first; mail-parser also lists an HTML-only body among the
    // text parts (converted crudely), so the kind of each part decides.
    let part = |id: &u32| parsed.parts.get(*id as usize);
    let texts: Vec<&str> = parsed
        .text_body
        .iter()
        .filter_map(part)
        .filter_map(|p| match &p.body {
            PartType::Text(text) => Some(text.as_ref()),
            _ => None,
        })
        .collect();
    let htmls: Vec<&str> = parsed
        .html_body
        .iter()
        .filter_map(part)
        .filter_map(|p| match &p.body {
            PartType::Html(html) => Some(html.as_ref()),
            _ => None,
        })
        .collect();
    message.body = if !texts.is_empty() {
        Body::Text(texts.join("\n\n"))
    } else if !htmls.is_empty() {
        Body::Html(htmls.join("\n"))
    } else {
        Body::None
    };

    for (i, part) in parsed.attachments().enumerate() {
        let content_type = part.content_type().map(|t| match t.subtype() {
            Some(sub) => format!("{}/{}", t.ctype(), sub).to_ascii_lowercase(),
            None => t.ctype().to_ascii_lowercase(),
        });
        let nested = part.message();
        let name = part
            .attachment_name()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .or_else(|| {
                nested
                    .and_then(|m| m.subject())
                    .map(|s| format!("{}.eml", s.trim()))
            })
            .unwrap_or_else(|| format!("attachment {}", i + 1));
        let (data, utf8) = match &part.body {
            PartType::Text(text) | PartType::Html(text) => (text.as_bytes().to_vec(), true),
            PartType::Binary(data) | PartType::InlineBinary(data) => (data.to_vec(), false),
            PartType::Message(nested) => (nested.raw_message().to_vec(), false),
            PartType::Multipart(_) => continue,
        };
        let content_type = if nested.is_some() {
            Some("message/rfc822".to_owned())
        } else {
            content_type
        };
        message.attachments.push(Attachment {
            name,
            content_type,
            content: Content::Bytes { data, utf8 },
        });
    }
    Ok(message)
}

/// Each mailbox as `Name <address>`; a group as `Group: a, b`.
fn addresses(address: Option<&Address<'_>>) -> Vec<String> {
    let Some(address) = address else {
        return Vec::new();
    };
    match address {
        Address::List(list) => list
            .iter()
            .filter_map(|a| mailbox(a.name(), a.address()))
            .collect(),
        Address::Group(groups) => groups
            .iter()
            .filter_map(|g| {
                let members: Vec<String> = g
                    .addresses
                    .iter()
                    .filter_map(|a| mailbox(a.name(), a.address()))
                    .collect();
                match (g.name.as_deref(), members.is_empty()) {
                    (Some(name), false) => Some(format!("{name}: {}", members.join(", "))),
                    (Some(name), true) => Some(name.to_owned()),
                    (None, false) => Some(members.join(", ")),
                    (None, true) => None,
                }
            })
            .collect(),
    }
}
