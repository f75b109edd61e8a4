//! Outlook `.msg` files: OLE compound files ([MS-OXMSG]) read with `cfb`.
//! Each MAPI property of variable size is a stream `__substg1.0_IIIITTTT`
//! (property id, then type: `001F` UTF-16LE, `001E` 8-bit in the message's
//! code page, `0102` binary); fixed-size ones (dates, integers) sit in the
//! storage's `__properties_version1.0` stream. Recipients and attachments
//! are sub-storages; an attached Outlook message is a storage inside its
//! attachment.
//!
//! The body is `PR_BODY` (1000), else `PR_HTML` (1013) through the HTML
//! reader; a body kept only as compressed RTF is not read (a note says so).

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use cfb::CompoundFile;
use encoding_rs::{Encoding, UTF_16LE, WINDOWS_1252};
use rag_core::ports::ExtractError;

use super::{mailbox, Attachment, Body, Content, Message};
use crate::{decode, Limits};

// Property ids.
const SUBJECT: u16 = 0x0037;
const CLIENT_SUBMIT_TIME: u16 = 0x0039;
const SENT_REPRESENTING_NAME: u16 = 0x0042;
const SENT_REPRESENTING_EMAIL: u16 = 0x0065;
const TRANSPORT_HEADERS: u16 = 0x007D;
const RECIPIENT_TYPE: u16 = 0x0C15;
const SENDER_NAME: u16 = 0x0C1A;
const SENDER_EMAIL: u16 = 0x0C1F;
const DISPLAY_CC: u16 = 0x0E03;
const DISPLAY_TO: u16 = 0x0E04;
const DELIVERY_TIME: u16 = 0x0E06;
const BODY: u16 = 0x1000;
const RTF_COMPRESSED: u16 = 0x1009;
const HTML: u16 = 0x1013;
const DISPLAY_NAME: u16 = 0x3001;
const ADDRESS_TYPE: u16 = 0x3002;
const EMAIL_ADDRESS: u16 = 0x3003;
const ATTACH_DATA: u16 = 0x3701;
const ATTACH_FILENAME: u16 = 0x3704;
const ATTACH_LONG_FILENAME: u16 = 0x3707;
const ATTACH_MIME_TAG: u16 = 0x370E;
const SMTP_ADDRESS: u16 = 0x39FE;
const INTERNET_CPID: u16 = 0x3FDE;
const MESSAGE_CODEPAGE: u16 = 0x3FFD;
const SENDER_SMTP_ADDRESS: u16 = 0x5D01;

// Property types.
const PT_LONG: u16 = 0x0003;
const PT_STRING8: u16 = 0x001E;
const PT_UNICODE: u16 = 0x001F;
const PT_SYSTIME: u16 = 0x0040;
const PT_OBJECT: u16 = 0x000D;
const PT_BINARY: u16 = 0x0102;

/// How deeply attached messages are parsed (each is a storage in the file).
const MAX_NESTING: usize = 4;

type File<'a> = CompoundFile<Cursor<&'a [u8]>>;

pub(super) fn parse(bytes: &[u8], limits: &Limits) -> Result<Message, ExtractError> {
    let file = CompoundFile::open(Cursor::new(bytes)).map_err(|e| ExtractError::Corrupt {
        format: "Outlook message",
        detail: format!("not a readable OLE compound file ({e})"),
    })?;
    let mut reader = MsgReader {
        file,
        // Streams may share sectors in a crafted file: what is read in all
        // is bounded like an Office archive's unzipped parts.
        budget: limits.max_archive_bytes,
        over_budget: false,
    };
    let root = PathBuf::from("/");
    if reader.storage(&root).streams.is_empty() {
        // An OLE file without message properties: Word 97, Excel 97, ...
        return Err(ExtractError::Corrupt {
            format: "Outlook message",
            detail: "the compound file holds no message properties".to_owned(),
        });
    }
    let message = reader.message(&root, Level::Top, 0);
    if reader.over_budget {
        return Err(ExtractError::LimitExceeded(format!(
            "more than {} bytes of message properties and attachments",
            limits.max_archive_bytes
        )));
    }
    Ok(message)
}

/// The kind of storage a property stream belongs to: its header differs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Embedded,
    Sub,
}

impl Level {
    fn header_len(self) -> usize {
        match self {
            Level::Top => 32,
            Level::Embedded => 24,
            Level::Sub => 8,
        }
    }
}

/// The properties of one storage.
#[derive(Default)]
struct Storage {
    /// Property id to (type, stream path).
    streams: HashMap<u16, (u16, PathBuf)>,
    /// Property id to (type, 8-byte value) from the properties stream.
    fixed: HashMap<u16, (u16, [u8; 8])>,
    recipients: Vec<PathBuf>,
    attachments: Vec<PathBuf>,
}

struct MsgReader<'a> {
    file: File<'a>,
    /// Bytes that may still be read.
    budget: u64,
    over_budget: bool,
}

impl MsgReader<'_> {
    fn storage(&mut self, path: &Path) -> Storage {
        let mut storage = Storage::default();
        let Ok(entries) = self.file.read_storage(path) else {
            return storage;
        };
        let entries: Vec<_> = entries.collect();
        for entry in entries {
            let name = entry.name().to_ascii_lowercase();
            if let Some(tag) = name.strip_prefix("__substg1.0_") {
                if let (Some(id), Some(kind)) = (
                    tag.get(..4).and_then(|h| u16::from_str_radix(h, 16).ok()),
                    tag.get(4..8).and_then(|h| u16::from_str_radix(h, 16).ok()),
                ) {
                    storage
                        .streams
                        .entry(id)
                        .or_insert((kind, entry.path().to_path_buf()));
                }
            } else if name.starts_with("__recip_version1.0_") && entry.is_storage() {
                storage.recipients.push(entry.path().to_path_buf());
            } else if name.starts_with("__attach_version1.0_") && entry.is_storage() {
                storage.attachments.push(entry.path().to_path_buf());
            }
        }
        storage.recipients.sort();
        storage.attachments.sort();
        storage
    }

    fn read_stream(&mut self, path: &Path) -> Option<Vec<u8>> {
        let mut stream = self.file.open_stream(path).ok()?;
        if stream.len() > self.budget {
            self.over_budget = true;
            return None;
        }
        let mut data = Vec::new();
        (&mut stream)
            .take(self.budget)
            .read_to_end(&mut data)
            .ok()?;
        self.budget = self.budget.saturating_sub(data.len() as u64);
        Some(data)
    }

    fn fixed(&mut self, path: &Path, level: Level, storage: &mut Storage) {
        let Some(data) = self.read_stream(&path.join("__properties_version1.0")) else {
            return;
        };
        for entry in data
            .get(level.header_len()..)
            .unwrap_or_default()
            .chunks_exact(16)
        {
            let kind = u16::from_le_bytes([entry[0], entry[1]]);
            let id = u16::from_le_bytes([entry[2], entry[3]]);
            let mut value = [0u8; 8];
            value.copy_from_slice(&entry[8..16]);
            storage.fixed.entry(id).or_insert((kind, value));
        }
    }

    fn message(&mut self, path: &Path, level: Level, nesting: usize) -> Message {
        let mut storage = self.storage(path);
        self.fixed(path, level, &mut storage);
        let codepage = long(&storage, MESSAGE_CODEPAGE).or_else(|| long(&storage, INTERNET_CPID));
        let strings = code_page(codepage);
        let text = |reader: &mut Self, id| reader.string(&storage, id, strings);

        let mut message = Message {
            subject: text(self, SUBJECT),
            ..Message::default()
        };

        // Sender: the SMTP address when there is one (an Exchange address
        // is a distinguished name, /O=...).
        let name = text(self, SENDER_NAME).or_else(|| text(self, SENT_REPRESENTING_NAME));
        let address = text(self, SENDER_SMTP_ADDRESS)
            .or_else(|| text(self, SENDER_EMAIL).filter(|a| is_smtp(a)))
            .or_else(|| text(self, SENT_REPRESENTING_EMAIL).filter(|a| is_smtp(a)));
        let headers = text(self, TRANSPORT_HEADERS).and_then(|h| {
            mail_parser::MessageParser::default()
                .parse_headers(h.as_bytes())
                .map(|m| m.into_owned())
        });
        message
            .from
            .extend(mailbox(name.as_deref(), address.as_deref()));
        if message.from.is_empty() {
            if let Some(from) = headers.as_ref().and_then(|h| h.from()) {
                message
                    .from
                    .extend(from.iter().filter_map(|a| mailbox(a.name(), a.address())));
            }
        }

        // Recipients, from their storages; the display lists otherwise.
        for recipient in storage.recipients.clone() {
            let mut r = self.storage(&recipient);
            self.fixed(&recipient, Level::Sub, &mut r);
            let name = self.string(&r, DISPLAY_NAME, strings);
            let address = self.string(&r, SMTP_ADDRESS, strings).or_else(|| {
                let kind = self.string(&r, ADDRESS_TYPE, strings);
                self.string(&r, EMAIL_ADDRESS, strings).filter(|a| {
                    kind.as_deref()
                        .is_none_or(|k| k.eq_ignore_ascii_case("SMTP"))
                        && is_smtp(a)
                })
            });
            let Some(entry) = mailbox(name.as_deref(), address.as_deref()) else {
                continue;
            };
            match long(&r, RECIPIENT_TYPE) {
                Some(2) => message.cc.push(entry),
                Some(3) => {} // Bcc: the sender's copy only
                _ => message.to.push(entry),
            }
        }
        if message.to.is_empty() {
            message.to = display_list(text(self, DISPLAY_TO));
        }
        if message.cc.is_empty() {
            message.cc = display_list(text(self, DISPLAY_CC));
        }

        message.date = time(&storage, CLIENT_SUBMIT_TIME)
            .or_else(|| time(&storage, DELIVERY_TIME))
            .or_else(|| {
                headers
                    .as_ref()
                    .and_then(|h| h.date())
                    .map(|d| d.to_rfc3339())
            });

        message.body = match text(self, BODY).filter(|b| !b.trim().is_empty()) {
            Some(body) => Body::Text(body),
            None => match self.html(&storage, codepage) {
                Some(html) => Body::Html(html),
                None => {
                    if storage.streams.contains_key(&RTF_COMPRESSED) {
                        message.notes.push(
                            "the body is stored only as compressed RTF, which is not read"
                                .to_owned(),
                        );
                    }
                    Body::None
                }
            },
        };

        for attachment in storage.attachments.clone() {
            let mut a = self.storage(&attachment);
            self.fixed(&attachment, Level::Sub, &mut a);
            let file_name = self
                .string(&a, ATTACH_LONG_FILENAME, strings)
                .or_else(|| self.string(&a, ATTACH_FILENAME, strings));
            let display = self.string(&a, DISPLAY_NAME, strings);
            let content_type = self
                .string(&a, ATTACH_MIME_TAG, strings)
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty());
            let content = match a.streams.get(&ATTACH_DATA).cloned() {
                Some((PT_BINARY, path)) => match self.read_stream(&path) {
                    Some(data) => Content::Bytes { data, utf8: false },
                    None => Content::None,
                },
                Some((PT_OBJECT, path)) if nesting < MAX_NESTING && self.file.is_storage(&path) => {
                    Content::Message(Box::new(self.message(&path, Level::Embedded, nesting + 1)))
                }
                _ => Content::None,
            };
            let name = file_name
                .or_else(|| match &content {
                    Content::Message(m) => m.subject.as_ref().map(|s| format!("{s}.msg")),
                    _ => None,
                })
                .or(display)
                .unwrap_or_else(|| format!("attachment {}", message.attachments.len() + 1));
            let content_type = match &content {
                Content::Message(_) => Some("application/vnd.ms-outlook".to_owned()),
                _ => content_type,
            };
            message.attachments.push(Attachment {
                name,
                content_type,
                content,
            });
        }
        message
    }

    /// A string property: UTF-16LE, or 8-bit in the given encoding.
    fn string(&mut self, storage: &Storage, id: u16, strings: &'static Encoding) -> Option<String> {
        let (kind, path) = storage.streams.get(&id)?.clone();
        let data = self.read_stream(&path)?;
        let text = match kind {
            PT_UNICODE => UTF_16LE.decode_without_bom_handling(&data).0.into_owned(),
            PT_STRING8 => strings.decode_without_bom_handling(&data).0.into_owned(),
            _ => return None,
        };
        let text = text.trim_end_matches('\0').trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// `PR_HTML`, binary (in the message's Internet code page, or as its
    /// `<meta charset>` says) or a string.
    fn html(&mut self, storage: &Storage, codepage: Option<u32>) -> Option<String> {
        let (kind, path) = storage.streams.get(&HTML)?.clone();
        let data = self.read_stream(&path)?;
        let html = match kind {
            PT_UNICODE => UTF_16LE.decode_without_bom_handling(&data).0.into_owned(),
            _ => {
                let data = trim_nuls(&data);
                let declared = decode::charset_of_html(data).or_else(|| {
                    long(storage, INTERNET_CPID)
                        .or(codepage)
                        .map(|cp| code_page(Some(cp)))
                });
                decode::decode_text(data, declared, "body.html").ok()?
            }
        };
        (!html.trim().is_empty()).then_some(html)
    }
}

fn trim_nuls(data: &[u8]) -> &[u8] {
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &data[..end]
}

fn long(storage: &Storage, id: u16) -> Option<u32> {
    match storage.fixed.get(&id) {
        Some((PT_LONG, v)) => Some(u32::from_le_bytes([v[0], v[1], v[2], v[3]])),
        _ => None,
    }
}

/// A PT_SYSTIME property (a FILETIME: 100 ns since 1601) as RFC 3339.
fn time(storage: &Storage, id: u16) -> Option<String> {
    let (PT_SYSTIME, value) = storage.fixed.get(&id)? else {
        return None;
    };
    let ticks = u64::from_le_bytes(*value);
    let seconds = (ticks / 10_000_000) as i64 - 11_644_473_600;
    // 1970 to 9999: anything else is not a real date.
    (0..253_402_300_800)
        .contains(&seconds)
        .then(|| mail_parser::DateTime::from_timestamp(seconds).to_rfc3339())
}

fn is_smtp(address: &str) -> bool {
    address.contains('@') && !address.starts_with('/')
}

/// `PR_DISPLAY_TO`-style lists: names separated by semicolons.
fn display_list(list: Option<String>) -> Vec<String> {
    list.map(|l| {
        l.split(';')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// The encoding of a Windows code page (Windows-1252 when unknown).
fn code_page(codepage: Option<u32>) -> &'static Encoding {
    let label = match codepage {
        Some(65001) => "utf-8",
        Some(cp @ 1250..=1258) => {
            return Encoding::for_label(format!("windows-{cp}").as_bytes()).unwrap_or(WINDOWS_1252)
        }
        Some(874) => "windows-874",
        Some(932) => "shift_jis",
        Some(936) => "gbk",
        Some(949) => "euc-kr",
        Some(950) => "big5",
        Some(866) => "ibm866",
        Some(10000) => "macintosh",
        Some(20866) => "koi8-r",
        Some(21866) => "koi8-u",
        Some(cp @ 28592..=28606) => {
            return Encoding::for_label(format!("iso-8859-{}", cp - 28590).as_bytes())
                .unwrap_or(WINDOWS_1252)
        }
        Some(50220..=50222) => "iso-2022-jp",
        Some(51932) => "euc-jp",
        Some(54936) => "gb18030",
        _ => "windows-1252",
    };
    Encoding::for_label(label.as_bytes()).unwrap_or(WINDOWS_1252)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_pages() {
        for (cp, name) in [
            (None, "windows-1252"),
            (Some(1252), "windows-1252"),
            (Some(1251), "windows-1251"),
            (Some(28592), "ISO-8859-2"),
            (Some(932), "Shift_JIS"),
            (Some(65001), "UTF-8"),
            (Some(12345), "windows-1252"),
        ] {
            assert_eq!(code_page(cp).name(), name, "{cp:?}");
        }
    }

    #[test]
    fn filetimes() {
        let mut storage = Storage::default();
        // 2024-05-14T07:30:00Z: 100 ns ticks since 1601.
        let ticks: u64 = (1_715_671_800 + 11_644_473_600) * 10_000_000;
        storage.fixed.insert(1, (PT_SYSTIME, ticks.to_le_bytes()));
        storage.fixed.insert(2, (PT_SYSTIME, 0u64.to_le_bytes()));
        storage.fixed.insert(3, (PT_LONG, 7u64.to_le_bytes()));
        assert_eq!(time(&storage, 1).as_deref(), Some("2024-05-14T07:30:00Z"));
        assert_eq!(time(&storage, 2), None);
        assert_eq!(time(&storage, 3), None);
        assert_eq!(long(&storage, 3), Some(7));
    }

    #[test]
    fn display_lists_and_addresses() {
        assert_eq!(
            display_list(Some("Bob Builder; Carol Díaz;".to_owned())),
            ["Bob Builder", "Carol Díaz"]
        );
        assert!(is_smtp("a@example.com"));
        assert!(!is_smtp("/O=EXCHANGELABS/OU=EXCHANGE/CN=RECIPIENTS/CN=BOB"));
        assert_eq!(trim_nuls(b"<p>x</p>\0\0"), b"<p>x</p>");
    }
}
