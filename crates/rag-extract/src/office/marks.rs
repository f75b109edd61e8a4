//! What the Word and OpenDocument readers write the same way: footnote
//! definitions, comment anchors, and the letters and roman numerals of
//! numbered lists and notes.

use super::{one_line, Markdown};

/// Longest quote of the text a comment is anchored to, in bytes.
pub(crate) const ANCHOR_QUOTE: usize = 200;

/// A footnote definition: `[^label]: text`, its further lines indented.
pub(crate) fn definition(label: &str, text: &str) -> String {
    let mut out = format!("[^{label}]: ");
    for (i, line) in text.trim().lines().enumerate() {
        if i > 0 {
            out.push('\n');
            if !line.is_empty() {
                out.push_str("    ");
            }
        }
        out.push_str(line);
    }
    out
}

/// The anchored text of a comment, shortened to a quote.
fn quote(text: &str) -> String {
    let text = one_line(text).replace('"', "'");
    if text.len() <= ANCHOR_QUOTE {
        return text;
    }
    let mut end = ANCHOR_QUOTE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text[..end].trim_end())
}

/// A document's comments as a `# Comments` section: one item each,
/// `Author, on "anchored text": comment`; comments without text are left
/// out, and the section too when none is left.
pub(crate) fn comments<'a>(
    md: &mut Markdown,
    comments: impl IntoIterator<Item = (&'a str, Option<&'a str>, &'a str)>,
) {
    let mut heading = false;
    for (author, anchor, text) in comments {
        let text = one_line(text);
        if text.is_empty() {
            continue;
        }
        if !heading {
            md.heading(1, "Comments");
            heading = true;
        }
        let author = one_line(author);
        let anchor = anchor.map(quote).filter(|a| !a.is_empty());
        let who = match (author.is_empty(), anchor) {
            (false, Some(anchor)) => format!("{author}, on \"{anchor}\": "),
            (false, None) => format!("{author}: "),
            (true, Some(anchor)) => format!("On \"{anchor}\": "),
            (true, None) => String::new(),
        };
        md.item(0, &format!("{who}{text}"));
    }
}

/// Letters: a..z, then aa, ab, ... (spreadsheet columns); with `sync`
/// (Word's, and OpenDocument's letter sync) aa, bb, ... instead.
pub(crate) fn letters(n: u32, upper: bool, sync: bool) -> String {
    if n == 0 {
        return "0".to_owned();
    }
    let base = if upper { b'A' } else { b'a' };
    if sync {
        let letter = (base + ((n - 1) % 26) as u8) as char;
        return std::iter::repeat_n(letter, ((n - 1) / 26 + 1).min(10) as usize).collect();
    }
    let mut n = n;
    let mut out = Vec::new();
    while n > 0 {
        n -= 1;
        out.push((base + (n % 26) as u8) as char);
        n /= 26;
    }
    out.iter().rev().collect()
}

/// Roman numerals (i, iv, xl, ...); the number itself from 4000 on.
pub(crate) fn roman(n: u32, upper: bool) -> String {
    if n == 0 || n >= 4000 {
        return n.to_string();
    }
    let mut n = n;
    let mut out = String::new();
    for (value, symbol) in [
        (1000, "m"),
        (900, "cm"),
        (500, "d"),
        (400, "cd"),
        (100, "c"),
        (90, "xc"),
        (50, "l"),
        (40, "xl"),
        (10, "x"),
        (9, "ix"),
        (5, "v"),
        (4, "iv"),
        (1, "i"),
    ] {
        while n >= value {
            out.push_str(symbol);
            n -= value;
        }
    }
    if upper {
        out.to_ascii_uppercase()
    } else {
        out
    }
}
