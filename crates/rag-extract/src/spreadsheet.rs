//! Spreadsheets (XLSX, XLSM, XLSB, legacy XLS, ODS) as Markdown: one page
//! per sheet, the sheet's name as a `##` heading over a Markdown table of
//! its used cells (the first non-empty row as the header; empty rows and
//! columns dropped).
//!
//! Zip-based workbooks are checked under the archive [`Limits`] first, by
//! unzipping every entry through [`Package`] (entry count, total unzipped
//! size, compression ratio, enforced on the bytes actually unzipped): only
//! then does calamine, which has no such limits, read them. XLSX and XLSB
//! sheets are streamed cell by cell, so a sheet whose two cells lie at
//! opposite corners is never laid out as a dense grid.

use std::collections::BTreeSet;
use std::io::Cursor;

use calamine::{
    CellErrorType, Data, DataRef, ExcelDateTime, Ods, Reader as _, SheetType, Xls, XlsError, Xlsb,
    Xlsx,
};
use rag_core::domain::classify::extension;
use rag_core::domain::job::PageRange;
use rag_core::ingest::chunking::TextKind;
use rag_core::ports::{ExtractError, ExtractInput, ExtractedDocument, ExtractedPage};
use zip::ZipArchive;

use crate::office::{self, Package};
use crate::{mime_type, table, too_many_chars, Extraction, Limits};

/// The kinds of workbook calamine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Xlsx,
    Xlsb,
    Xls,
    Ods,
}

impl Kind {
    /// The name in [`ExtractError::Corrupt`].
    fn label(self) -> &'static str {
        match self {
            Kind::Xlsx => "XLSX",
            Kind::Xlsb => "XLSB",
            Kind::Xls => "XLS",
            Kind::Ods => "ODS",
        }
    }

    /// The document's format.
    fn format(self) -> &'static str {
        match self {
            Kind::Xlsx => "xlsx",
            Kind::Xlsb => "xlsb",
            Kind::Xls => "xls",
            Kind::Ods => "ods",
        }
    }

    /// What the file claims to be, by extension, else MIME type.
    fn claimed(ext: &str, mime: &str) -> Self {
        match ext {
            "xls" => Kind::Xls,
            "xlsb" => Kind::Xlsb,
            "ods" | "ots" => Kind::Ods,
            "" if mime == "application/vnd.ms-excel" => Kind::Xls,
            "" if mime.contains("opendocument") => Kind::Ods,
            "" if mime.contains(".binary.") => Kind::Xlsb,
            _ => Kind::Xlsx,
        }
    }
}

/// One non-empty cell: row, column, Markdown cell text.
type Cell = (u32, u32, String);

/// Streams every worksheet of an XLSX or XLSB workbook cell by cell into
/// `book`. A macro because calamine's two cell readers share no trait.
macro_rules! stream_sheets {
    ($book:ident, $workbook:ident, $corrupt:ident) => {{
        let mut workbook = $workbook;
        for (number, name) in $book.sheets(workbook.sheets_metadata())? {
            let mut reader = workbook
                .worksheet_cells_reader(&name)
                .map_err(|e| $corrupt(format!("sheet '{name}': {e}")))?;
            let mut cells = Vec::new();
            while let Some(cell) = reader
                .next_cell()
                .map_err(|e| $corrupt(format!("sheet '{name}': {e}")))?
            {
                let (row, col) = cell.get_position();
                $book.push(&mut cells, row, col, data_ref_text(cell.get_value()))?;
            }
            drop(reader);
            $book.page(number, &name, cells)?;
        }
    }};
}

/// Reads a workbook: one page per sheet, numbered by its position in the
/// workbook (from 1), empty for a sheet without cells and for those outside
/// the wanted range ([`ExtractInput::pages`]), whose cells are not read (so
/// the cell and text limits hold per range). The archive check still
/// inflates every part, and calamine's XLS and ODS readers parse every
/// sheet when the file is opened; XLSX and XLSB stream only the sheets read.
pub(crate) fn extract(
    input: ExtractInput<'_>,
    limits: &Limits,
) -> Result<Extraction, ExtractError> {
    let bytes = input.bytes;
    let claimed = Kind::claimed(&extension(input.file_name), &mime_type(input.content_type));
    let kind = if office::is_ole(bytes) {
        Kind::Xls
    } else {
        check_archive(bytes, claimed, limits)?
    };
    let corrupt = |detail: String| ExtractError::Corrupt {
        format: kind.label(),
        detail,
    };
    let mut book = Book {
        limits,
        wanted: input.pages,
        cells: 0,
        chars: 0,
        pages: Vec::new(),
    };
    let cursor = Cursor::new(bytes);
    match kind {
        Kind::Xlsx => {
            let workbook =
                Xlsx::new(cursor).map_err(|e| corrupt(format!("not a readable workbook ({e})")))?;
            stream_sheets!(book, workbook, corrupt);
        }
        Kind::Xlsb => {
            let workbook =
                Xlsb::new(cursor).map_err(|e| corrupt(format!("not a readable workbook ({e})")))?;
            stream_sheets!(book, workbook, corrupt);
        }
        Kind::Xls => {
            let mut workbook = Xls::new(cursor).map_err(|e| match e {
                XlsError::Password => ExtractError::Encrypted,
                e => corrupt(format!("not a readable workbook ({e})")),
            })?;
            for (number, name) in book.sheets(workbook.sheets_metadata())? {
                let range = workbook.worksheet_range(&name).map_err(|e| match e {
                    XlsError::Password => ExtractError::Encrypted,
                    e => corrupt(format!("sheet '{name}': {e}")),
                })?;
                let mut cells = Vec::new();
                for (row, col, value) in range.used_cells() {
                    book.push(&mut cells, row as u32, col as u32, data_text(value))?;
                }
                book.page(number, &name, cells)?;
            }
        }
        Kind::Ods => {
            let mut workbook =
                Ods::new(cursor).map_err(|e| corrupt(format!("not a readable workbook ({e})")))?;
            for (number, name) in book.sheets(workbook.sheets_metadata())? {
                let range = workbook
                    .worksheet_range(&name)
                    .map_err(|e| corrupt(format!("sheet '{name}': {e}")))?;
                let mut cells = Vec::new();
                for (row, col, value) in range.used_cells() {
                    book.push(&mut cells, row as u32, col as u32, data_text(value))?;
                }
                book.page(number, &name, cells)?;
            }
        }
    }
    // Sheets without cells and outside the range were set down first.
    book.pages.sort_by_key(|p| p.number);
    Ok(Extraction {
        document: ExtractedDocument {
            pages: book.pages,
            kind: TextKind::Markdown,
            format: kind.format(),
            images: Vec::new(),
        },
        notes: Vec::new(),
    })
}

/// Unzips every entry of a zip workbook under the archive limits (and so
/// refuses a zip bomb before calamine inflates anything), then tells which
/// kind of workbook it is by its parts.
fn check_archive(bytes: &[u8], claimed: Kind, limits: &Limits) -> Result<Kind, ExtractError> {
    // Legacy XLS is an OLE file; a zip named .xls is one of the others.
    let label = if claimed == Kind::Xls && bytes.starts_with(b"PK") {
        Kind::Xlsx
    } else {
        claimed
    };
    let mut package = Package::open(bytes, label.label(), limits)?;
    let archive =
        ZipArchive::new(Cursor::new(bytes)).map_err(|e| package.corrupt(e.to_string()))?;
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.map(|n| n.to_string()))
        .collect::<Result<_, _>>()
        .map_err(|e| package.corrupt(e.to_string()))?;
    let distinct: BTreeSet<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    if distinct.len() != names.len() {
        return Err(package.corrupt("the archive lists a part twice"));
    }
    for name in &names {
        // Reading counts the part against the limits; its text is dropped.
        package.read(name)?;
    }
    Ok(if package.contains("xl/workbook.bin") {
        Kind::Xlsb
    } else if package.contains("xl/workbook.xml") {
        Kind::Xlsx
    } else if package.contains("content.xml") {
        Kind::Ods
    } else {
        return Err(package.corrupt("no workbook part in the archive"));
    })
}

/// The page of a sheet without cells (empty, a chart or macro sheet): no
/// text, but there, so that pages are numbered 1..=sheets and a split
/// workbook's page ranges cover every sheet.
fn blank(number: u32) -> ExtractedPage {
    ExtractedPage {
        number: Some(number),
        text: String::new(),
    }
}

/// The pages read so far and what they count against the limits.
struct Book<'l> {
    limits: &'l Limits,
    /// The sheets to read ([`ExtractInput::pages`]), by position.
    wanted: Option<PageRange>,
    cells: usize,
    chars: usize,
    pages: Vec<ExtractedPage>,
}

impl Book<'_> {
    /// The worksheets to read, with their positions from 1 (chart, dialog
    /// and macro sheets have no cells); refuses a workbook with more sheets
    /// than [`Limits::max_pages`].
    /// Only those in the wanted range are returned: the others become
    /// empty pages, so a page-range job reads the cells of its own sheets.
    fn sheets(&mut self, sheets: &[calamine::Sheet]) -> Result<Vec<(u32, String)>, ExtractError> {
        crate::check_page_count(sheets.len(), self.wanted, self.limits, "sheets")?;
        let mut read = Vec::new();
        for (sheet, number) in sheets.iter().zip(1u32..) {
            match crate::unwanted(self.wanted, number) {
                Some(skipped) => self.pages.push(skipped),
                None if sheet.typ != SheetType::WorkSheet => self.pages.push(blank(number)),
                None => read.push((number, sheet.name.clone())),
            }
        }
        Ok(read)
    }

    /// Keeps a cell unless it is blank; refuses a workbook with more cells
    /// than [`Limits::max_cells`] or more text than [`Limits::max_chars`].
    fn push(
        &mut self,
        cells: &mut Vec<Cell>,
        row: u32,
        col: u32,
        raw: String,
    ) -> Result<(), ExtractError> {
        let text = table::cell(&raw);
        if text.is_empty() {
            return Ok(());
        }
        self.cells += 1;
        if self.cells > self.limits.max_cells {
            return Err(ExtractError::LimitExceeded(format!(
                "more than {} cells",
                self.limits.max_cells
            )));
        }
        self.chars += text.chars().count();
        if self.chars > self.limits.max_chars {
            return Err(too_many_chars(self.limits));
        }
        cells.push((row, col, text));
        Ok(())
    }

    /// Adds a sheet's page: its name as a heading over its cells as a table
    /// of the rows and columns that have any; nothing for an empty sheet.
    fn page(&mut self, number: u32, name: &str, mut cells: Vec<Cell>) -> Result<(), ExtractError> {
        if cells.is_empty() {
            self.pages.push(blank(number));
            return Ok(());
        }
        cells.sort_unstable_by_key(|&(row, col, _)| (row, col));
        let columns: Vec<u32> = cells
            .iter()
            .map(|&(_, col, _)| col)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut current = None;
        for (row, col, text) in cells {
            if current != Some(row) {
                current = Some(row);
                rows.push(vec![String::new(); columns.len()]);
            }
            if let (Ok(i), Some(last)) = (columns.binary_search(&col), rows.last_mut()) {
                last[i] = text;
            }
        }
        let heading = office::one_line(name);
        let heading = if heading.is_empty() {
            format!("Sheet {number}")
        } else {
            heading
        };
        let text = format!("## {heading}\n\n{}", table::rows_to_markdown(&rows));
        self.chars += heading.chars().count();
        if self.chars > self.limits.max_chars {
            return Err(too_many_chars(self.limits));
        }
        self.pages.push(ExtractedPage {
            number: Some(number),
            text: text.trim_end().to_owned(),
        });
        Ok(())
    }
}

/// A cell's text as the workbook shows it, near enough.
fn data_text(value: &Data) -> String {
    match value {
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number(*f),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Bool(b) => boolean(*b),
        Data::DateTime(d) => date_time(d),
        Data::Error(e) => error(e),
        Data::Empty => String::new(),
    }
}

fn data_ref_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number(*f),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Bool(b) => boolean(*b),
        DataRef::DateTime(d) => date_time(d),
        DataRef::Error(e) => error(e),
        DataRef::Empty => String::new(),
    }
}

/// A number without a spurious `.0`: `3`, `2.5`, `1e300`.
fn number(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    let magnitude = f.abs();
    if f.fract() == 0.0 && magnitude < 1e15 {
        format!("{}", f as i64)
    } else if magnitude >= 1e15 || magnitude < 1e-6 && f != 0.0 {
        format!("{f:e}")
    } else {
        f.to_string()
    }
}

fn boolean(b: bool) -> String {
    if b { "TRUE" } else { "FALSE" }.to_owned()
}

fn error(_: &CellErrorType) -> String {
    "#ERR".to_owned()
}

/// A date as ISO 8601: `2024-03-15`, `2024-03-15T12:30:00`, or a time of
/// day alone as `12:30:00`; a duration as hours, minutes and seconds.
fn date_time(d: &ExcelDateTime) -> String {
    let serial = d.as_f64();
    if d.is_duration() {
        let seconds = (serial * 86_400.0).round();
        if !seconds.is_finite() || seconds.abs() > 1e15 {
            return number(serial);
        }
        let total = seconds.abs() as u64;
        let sign = if seconds < 0.0 { "-" } else { "" };
        return format!(
            "{sign}{}:{:02}:{:02}",
            total / 3600,
            total / 60 % 60,
            total % 60
        );
    }
    let (year, month, day, hour, minute, second, _) = d.to_ymd_hms_milli();
    let date = format!("{year:04}-{month:02}-{day:02}");
    let time = format!("{hour:02}:{minute:02}:{second:02}");
    if (0.0..1.0).contains(&serial) {
        time
    } else if (hour, minute, second) == (0, 0, 0) {
        date
    } else {
        format!("{date}T{time}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    #[test]
    fn numbers_without_spurious_fractions() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(-42.0), "-42");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(1e300), "1e300");
        assert_eq!(number(0.0), "0");
    }

    #[test]
    fn dates_as_iso() {
        let dt = |v| ExcelDateTime::new(v, ExcelDateTimeType::DateTime, false);
        assert_eq!(date_time(&dt(45366.0)), "2024-03-15");
        assert_eq!(date_time(&dt(45366.5)), "2024-03-15T12:00:00");
        assert_eq!(date_time(&dt(0.75)), "18:00:00");
        let duration = ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false);
        assert_eq!(date_time(&duration), "36:00:00");
    }
}
