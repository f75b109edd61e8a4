//! Tidying extracted page text, the same for both engines: what a reader
//! or a search needs, not how the PDF happened to draw it.

/// Tidies either engine's page text: ligatures spelled out, control and
/// private-use characters dropped, runs of spaces collapsed, words
/// hyphenated across lines joined, and at most one blank line between
/// paragraphs.
pub(super) fn clean(raw: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in raw.split(['\n', '\r']) {
        let mut cleaned = String::with_capacity(line.len());
        for word in line.split(|c: char| c.is_whitespace() || c.is_control()) {
            let mark = cleaned.len();
            let separator = usize::from(mark > 0);
            if separator > 0 {
                cleaned.push(' ');
            }
            push_expanded(&mut cleaned, word);
            if cleaned.len() == mark + separator {
                // Nothing left of the word (empty, or only dropped characters).
                cleaned.truncate(mark);
            }
        }
        lines.push(cleaned);
    }

    let mut out = String::with_capacity(raw.len());
    let mut blank_run = 0;
    let mut joining = false;
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if joining {
            // "exam-" + "ple": the hyphen was a line-break hyphen.
            out.pop();
        } else if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(line);
        let next_starts_lower = lines
            .get(i + 1)
            .and_then(|n| n.chars().next())
            .is_some_and(char::is_lowercase);
        joining = next_starts_lower && ends_with_word_hyphen(line);
    }
    out
}

fn ends_with_word_hyphen(line: &str) -> bool {
    let mut chars = line.chars().rev();
    matches!(chars.next(), Some('-' | '\u{00AD}')) && chars.next().is_some_and(char::is_alphabetic)
}

fn push_expanded(out: &mut String, word: &str) {
    for c in word.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            '\u{00AD}' => {} // a soft hyphen is invisible unless it ends the line
            // Replacement characters and private-use code points (icon
            // fonts, unmapped glyphs) mean nothing to a reader or a search.
            '\u{FFFD}' | '\u{FEFF}' | '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{10FFFF}' => {}
            c => out.push(c),
        }
    }
    if word.ends_with('\u{00AD}') {
        out.push('-');
    }
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn cleans_layout_noise() {
        assert_eq!(
            clean("  An   exam-\nple of\u{FB01}le   text\n\n\n\n\nNext  para"),
            "An example offile text\n\nNext para"
        );
        assert_eq!(clean("well-\nKnown\n"), "well-\nKnown");
        assert_eq!(clean("a-\n\nb"), "a-\n\nb");
        assert_eq!(clean("\n\n  \n"), "");
        assert_eq!(
            clean("Austria \u{F03A8} France\u{FB01}"),
            "Austria Francefi"
        );
    }
}
