//! CSV and TSV files as Markdown tables, so a chunk keeps cells apart and the
//! header row tells what each column is.

use rag_core::ports::ExtractError;

/// Delimiters tried when the file does not say (a `.tsv` name does).
const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
/// Records looked at to pick the delimiter.
const SNIFF_RECORDS: usize = 20;

/// Renders delimited text as a Markdown table: the first row as the header,
/// a separator line, then every row; short rows are padded.
pub(crate) fn to_markdown(text: &str, tab_separated: bool) -> Result<String, ExtractError> {
    let delimiter = if tab_separated {
        b'\t'
    } else {
        sniff_delimiter(text)
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows: Vec<Vec<String>> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ExtractError::Corrupt {
            format: "CSV",
            detail: e.to_string(),
        })?;
        let row: Vec<String> = record.iter().map(cell).collect();
        if row.iter().all(String::is_empty) {
            continue;
        }
        rows.push(row);
    }
    Ok(rows_to_markdown(&rows))
}

/// Rows of cells (already one line each, `|` escaped) as a Markdown table:
/// the first row as the header, short rows padded.
pub(crate) fn rows_to_markdown(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let size: usize = rows.iter().flatten().map(|c| c.len() + 3).sum();
    let mut out = String::with_capacity(size + 4 * width + 2 * rows.len());
    for (i, row) in rows.iter().enumerate() {
        push_row(&mut out, row.iter().map(String::as_str), width);
        if i == 0 {
            push_row(&mut out, std::iter::repeat_n("---", width), width);
        }
    }
    out
}

/// The candidate that splits the first records into the same number (> 1)
/// of fields most consistently; `,` when none does.
fn sniff_delimiter(text: &str) -> u8 {
    let mut best = (b',', 0usize, 0usize);
    for delimiter in CANDIDATES {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let counts: Vec<usize> = reader
            .records()
            .take(SNIFF_RECORDS)
            .map_while(Result::ok)
            .map(|r| r.len())
            .collect();
        let Some(&first) = counts.first() else {
            continue;
        };
        if first < 2 {
            continue;
        }
        let consistent = counts.iter().filter(|&&c| c == first).count();
        if (consistent, first) > (best.1, best.2) {
            best = (delimiter, consistent, first);
        }
    }
    best.0
}

/// A cell as Markdown table text: one line, whitespace collapsed, `|` escaped.
pub(crate) fn cell(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for word in raw.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.replace('|', "\\|")
}

fn push_row<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>, width: usize) {
    out.push('|');
    let mut n = 0;
    for c in cells {
        out.push(' ');
        out.push_str(c);
        out.push_str(" |");
        n += 1;
    }
    for _ in n..width {
        out.push_str("  |");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_delimiters() {
        assert_eq!(sniff_delimiter("a;b;c\n1;2,5;3\n"), b';');
        assert_eq!(sniff_delimiter("a,b\n\"x;y\",2\n"), b',');
        assert_eq!(sniff_delimiter("a\tb\tc\n1\t2\t3\n"), b'\t');
        assert_eq!(sniff_delimiter("a|b\n1|2\n"), b'|');
        assert_eq!(sniff_delimiter("just one column\n"), b',');
    }

    #[test]
    fn pads_ragged_rows() {
        let md = to_markdown("a,b,c\n1\n1,2,3,4\n", false).unwrap_or_default();
        assert_eq!(
            md,
            "| a | b | c |  |\n| --- | --- | --- | --- |\n| 1 |  |  |  |\n| 1 | 2 | 3 | 4 |\n"
        );
    }
}
