//! Spreadsheets (XLSX, ODS, XLS) as one Markdown table per sheet, and the
//! limits and refusals around them.

mod common;

use common::*;
use rag_core::domain::job::PageRange;
use rag_core::ingest::chunking::TextKind;
use rag_core::ports::{ExtractError, ExtractInput, ExtractedDocument, Extractor};
use rag_extract::Limits;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, XlsxError};

/// Two named sheets with data around an empty one, a fourth empty sheet.
fn sales_workbook() -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");

    let sales = workbook.add_worksheet();
    sales.set_name("Sales 2024")?;
    // Row 0 and column 0 stay empty: the used range starts at B2.
    for (col, header) in ["Item", "Units", "Price", "Note", "Shipped", "Paid"]
        .iter()
        .enumerate()
    {
        sales.write_string(1, col as u16 + 1, *header)?;
    }
    sales.write_string(2, 1, "Widget")?;
    sales.write_number(2, 2, 3)?;
    sales.write_number(2, 3, 2.5)?;
    sales.write_string(2, 4, "a|b\nsecond line")?;
    sales.write_datetime_with_format(2, 5, ExcelDateTime::from_ymd(2024, 3, 15)?, &date)?;
    sales.write_boolean(2, 6, true)?;
    // An empty row between the data rows is dropped.
    sales.write_string(4, 1, "Gadget")?;
    sales.write_number(4, 2, -40)?;
    sales.write_number(4, 3, 1234567.0)?;
    sales.write_boolean(4, 6, false)?;

    workbook.add_worksheet().set_name("Empty")?;

    let people = workbook.add_worksheet();
    people.set_name("People")?;
    people.write_string(0, 0, "Name")?;
    people.write_string(0, 1, "Age")?;
    people.write_string(1, 0, "Ada")?;
    people.write_number(1, 1, 36)?;

    workbook.add_worksheet().set_name("Blank too")?;
    workbook.save_to_buffer()
}

fn sales() -> Vec<u8> {
    sales_workbook().unwrap_or_else(|e| panic!("xlsx: {e}"))
}

#[test]
fn xlsx_sheets_become_markdown_tables() {
    let doc = extract(&sales(), "reports/sales.xlsx").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.kind, TextKind::Markdown);
    assert_eq!(doc.format, "xlsx");
    let numbers: Vec<Option<u32>> = doc.pages.iter().map(|p| p.number).collect();
    // Every sheet has its page, the empty ones (2 and 4) without text, so
    // that page ranges of a split workbook cover every sheet.
    assert_eq!(numbers, [Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(
        (doc.pages[1].text.as_str(), doc.pages[3].text.as_str()),
        ("", "")
    );
    let doc = ExtractedDocument {
        pages: doc
            .pages
            .into_iter()
            .filter(|p| !p.text.is_empty())
            .collect(),
        ..doc
    };
    assert_eq!(
        doc.pages[0].text,
        "## Sales 2024\n\n\
         | Item | Units | Price | Note | Shipped | Paid |\n\
         | --- | --- | --- | --- | --- | --- |\n\
         | Widget | 3 | 2.5 | a\\|b second line | 2024-03-15 | TRUE |\n\
         | Gadget | -40 | 1234567 |  |  | FALSE |"
    );
    assert_eq!(
        doc.pages[1].text,
        "## People\n\n| Name | Age |\n| --- | --- |\n| Ada | 36 |"
    );
}

#[test]
fn spreadsheets_route_by_mime_type_too() {
    let doc = extract_typed(
        &sales(),
        "upload",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.pages.iter().filter(|p| !p.text.is_empty()).count(), 2);
}

#[test]
fn ods_sheets_become_markdown_tables() {
    let cell = |kind: &str, value: &str, text: &str| {
        format!(
            r#"<table:table-cell office:value-type="{kind}" {value}><text:p>{text}</text:p></table:table-cell>"#
        )
    };
    let row = |cells: &[String]| format!("<table:table-row>{}</table:table-row>", cells.concat());
    let body = format!(
        r#"<office:spreadsheet><table:table table:name="Budget">{}{}</table:table><table:table table:name="Nothing"><table:table-row><table:table-cell/></table:table-row></table:table></office:spreadsheet>"#,
        row(&[cell("string", "", "Item"), cell("string", "", "Cost")]),
        row(&[
            cell("string", "", "Rent"),
            cell("float", r#"office:value="1200""#, "1200"),
        ]),
    );
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    let bytes = odf(
        "application/vnd.oasis.opendocument.spreadsheet",
        &body,
        Some(manifest),
    );
    let doc = extract(&bytes, "budget.ods").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.format, "ods");
    // The empty second sheet is a page without text.
    assert_eq!(doc.pages.len(), 2);
    assert_eq!(doc.pages[0].number, Some(1));
    assert_eq!(
        (doc.pages[1].number, doc.pages[1].text.as_str()),
        (Some(2), "")
    );
    assert_eq!(
        doc.pages[0].text,
        "## Budget\n\n| Item | Cost |\n| --- | --- |\n| Rent | 1200 |"
    );
}

#[test]
fn xlsx_zip_bombs_are_refused_before_parsing() {
    // A 4 MiB part of zeros deflates some 1000:1.
    let mut files = unzip(&sales());
    files.push(("xl/media/padding.bin".to_owned(), vec![0u8; 4 << 20]));
    let parts: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let bomb = zip_of(&parts);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let message = limit_message(extract(&bomb, "bomb.xlsx"));
    assert!(
        message.contains("xl/media/padding.bin is compressed more than 100:1"),
        "{message}"
    );
    // The total unzipped size is limited too.
    let small = Limits {
        max_archive_bytes: 1_000,
        ..Limits::default()
    };
    assert!(limit_message(with_limits(small, &sales(), "s.xlsx")).contains("more than 1000 bytes"));
}

#[test]
fn garbage_named_xlsx_is_corrupt() {
    for (name, format) in [
        ("junk.xlsx", "XLSX"),
        ("junk.xls", "XLS"),
        ("junk.ods", "ODS"),
    ] {
        match extract(b"this is not a workbook at all", name) {
            Err(ExtractError::Corrupt { format: f, .. }) => assert_eq!(f, format, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // A zip without a workbook part.
    let zip = zip_of(&[("hello.txt", b"hi".as_slice())]);
    assert!(matches!(
        extract(&zip, "empty.xlsx"),
        Err(ExtractError::Corrupt { format: "XLSX", .. })
    ));
}

#[test]
fn ole_named_xlsx_is_encrypted_but_ole_xls_is_read_as_legacy() {
    let mut ole = OLE_MAGIC.to_vec();
    ole.extend_from_slice(&[0u8; 504]);
    assert_eq!(
        extract(&ole, "secret.xlsx").map(|d| d.pages.len()),
        Err(ExtractError::Encrypted)
    );
    assert_eq!(
        extract(&ole, "secret.xlsm").map(|d| d.pages.len()),
        Err(ExtractError::Encrypted)
    );
    // A legacy workbook is an OLE file: this truncated one is corrupt, not
    // encrypted.
    assert!(matches!(
        extract(&ole, "legacy.xls"),
        Err(ExtractError::Corrupt { format: "XLS", .. })
    ));
}

#[test]
fn sheet_and_cell_counts_are_limited() {
    let two_sheets = Limits {
        max_pages: 3,
        ..Limits::default()
    };
    assert!(limit_message(with_limits(two_sheets, &sales(), "s.xlsx"))
        .contains("4 sheets, more than the 3 allowed"));
    let four = Limits {
        max_pages: 4,
        ..Limits::default()
    };
    assert_eq!(
        with_limits(four, &sales(), "s.xlsx").map(|d| d.pages.len()),
        Ok(4)
    );
    let few_cells = Limits {
        max_cells: 10,
        ..Limits::default()
    };
    assert!(
        limit_message(with_limits(few_cells, &sales(), "s.xlsx")).contains("more than 10 cells")
    );
    let few_chars = Limits {
        max_chars: 20,
        ..Limits::default()
    };
    assert!(limit_message(with_limits(few_chars, &sales(), "s.xlsx")).contains("characters"));
}

/// A page-range job of a split workbook: only its sheets are parsed, so
/// the limits hold per range; the page count stays the workbook's.
#[test]
fn a_page_range_reads_only_its_sheets() {
    let read = |first: u32, last: u32, limits: Limits| {
        rag_extract::FileExtractor::new(limits).extract(ExtractInput {
            pages: Some(PageRange { first, last }),
            ..ExtractInput::new(&sales(), "s.xlsx", None)
        })
    };
    let doc = read(3, 4, Limits::default()).unwrap_or_else(|e| panic!("{e:?}"));
    let texts: Vec<(Option<u32>, bool)> = doc
        .pages
        .iter()
        .map(|p| (p.number, p.text.is_empty()))
        .collect();
    assert_eq!(
        texts,
        [
            (Some(1), true),
            (Some(2), true),
            (Some(3), false),
            (Some(4), true)
        ]
    );
    assert!(doc.pages[2].text.starts_with("## People"));
    // Sheet 1 alone holds more than 10 cells: over the limit whole, and in
    // the range that holds it; not in the range that does not.
    let few_cells = || Limits {
        max_cells: 10,
        ..Limits::default()
    };
    assert!(limit_message(read(1, 2, few_cells())).contains("more than 10 cells"));
    assert!(read(3, 4, few_cells()).is_ok());
}
