//! Turning the bytes of a text file into a `String`, whatever encoding they
//! came in: uploads are UTF-8, UTF-16 from Windows tools, Windows-1252 from
//! old spreadsheets, Shift-JIS from Japanese systems, ...

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};
use rag_core::ports::ExtractError;

/// How much of the start of a file is inspected for NUL bytes.
const SNIFF_LEN: usize = 8 * 1024;
/// How much of a file chardetng looks at; more does not change its guess.
const DETECT_LEN: usize = 256 * 1024;

/// Decodes text bytes: a BOM wins, then valid (or nearly valid) UTF-8, then
/// the `declared` encoding (a charset parameter or `<meta charset>`), then
/// chardetng's guess. Refuses binary content (NUL bytes that are not UTF-16).
pub(crate) fn decode_text(
    bytes: &[u8],
    declared: Option<&'static Encoding>,
    file_name: &str,
) -> Result<String, ExtractError> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        return Ok(decode_with(
            encoding,
            bytes.get(bom_len..).unwrap_or_default(),
        ));
    }
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    if head.contains(&0) {
        return match utf16_without_bom(head) {
            Some(encoding) => Ok(decode_with(encoding, bytes)),
            None => Err(ExtractError::Unsupported(format!(
                "binary content in '{file_name}' (NUL bytes), not text"
            ))),
        };
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    if mostly_utf8(bytes) {
        return Ok(String::from_utf8_lossy(bytes).into_owned());
    }
    if let Some(encoding) = declared.filter(|e| e.is_ascii_compatible() && *e != UTF_8) {
        return Ok(decode_with(encoding, bytes));
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(
        &bytes[..bytes.len().min(DETECT_LEN)],
        bytes.len() <= DETECT_LEN,
    );
    Ok(decode_with(detector.guess(None, true), bytes))
}

/// The encoding named by a `charset=` parameter of a MIME type.
pub(crate) fn charset_of_content_type(content_type: Option<&str>) -> Option<&'static Encoding> {
    let content_type = content_type?;
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        Encoding::for_label(value.trim().trim_matches(['"', '\'']).as_bytes())
    })
}

/// The encoding an HTML document declares in its first kilobytes
/// (`<meta charset=...>` or `<meta http-equiv content="...; charset=...">`).
pub(crate) fn charset_of_html(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(4096)];
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], b"charset") {
        let mut i = from + pos + b"charset".len();
        from = i;
        while lower.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        if lower.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while lower
            .get(i)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\'')
        {
            i += 1;
        }
        let start = i;
        while lower
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
        {
            i += 1;
        }
        if let Some(encoding) = lower.get(start..i).and_then(Encoding::for_label) {
            return Some(encoding);
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn decode_with(encoding: &'static Encoding, bytes: &[u8]) -> String {
    let (text, _had_errors) = encoding.decode_without_bom_handling(bytes);
    match text {
        Cow::Borrowed(s) => s.to_owned(),
        Cow::Owned(s) => s,
    }
}

/// UTF-16 without a BOM: text in Latin scripts has a zero byte in most code
/// units, all on the same side (odd offsets for LE, even for BE).
fn utf16_without_bom(head: &[u8]) -> Option<&'static Encoding> {
    let units = head.len() / 2;
    if units == 0 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for (i, b) in head[..units * 2].iter().enumerate() {
        if *b == 0 {
            if i % 2 == 0 {
                even += 1;
            } else {
                odd += 1;
            }
        }
    }
    let enough = units * 3 / 10;
    if odd >= enough.max(1) && even * 10 <= odd {
        Some(UTF_16LE)
    } else if even >= enough.max(1) && odd * 10 <= even {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// UTF-8 with a few stray bytes (a truncated file, one pasted Latin-1 char):
/// decoding it as anything else would garble all the valid characters.
fn mostly_utf8(bytes: &[u8]) -> bool {
    let (mut multibyte, mut invalid) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        multibyte += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        if !chunk.invalid().is_empty() {
            invalid += 1;
        }
    }
    // Other encodings rarely form valid multi-byte UTF-8 sequences: a few
    // of them per stray byte is conclusive.
    multibyte >= 2 && invalid * 4 <= multibyte
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_declared_charsets() {
        assert_eq!(
            charset_of_content_type(Some("text/plain; charset=\"Shift_JIS\"")),
            Some(encoding_rs::SHIFT_JIS)
        );
        assert_eq!(charset_of_content_type(Some("text/plain")), None);
        assert_eq!(
            charset_of_html(b"<html><head><meta charset=\"iso-8859-1\">"),
            Some(encoding_rs::WINDOWS_1252)
        );
        assert_eq!(
            charset_of_html(b"<meta http-equiv=Content-Type content='text/html; charset=euc-jp'>"),
            Some(encoding_rs::EUC_JP)
        );
    }

    #[test]
    fn utf16_without_bom_is_text() {
        let le: Vec<u8> = "hello world"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let be: Vec<u8> = "hello world"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(
            decode_text(&le, None, "a.txt").ok().as_deref(),
            Some("hello world")
        );
        assert_eq!(
            decode_text(&be, None, "a.txt").ok().as_deref(),
            Some("hello world")
        );
    }

    #[test]
    fn nearly_utf8_stays_utf8() {
        let mut bytes = "été à Zürich, ça coûte cher".as_bytes().to_vec();
        bytes.push(0xff);
        let text = decode_text(&bytes, None, "a.txt").unwrap_or_default();
        assert!(text.starts_with("été à Zürich"), "{text}");
    }
}
