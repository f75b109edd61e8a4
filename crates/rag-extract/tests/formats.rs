//! Text, HTML, CSV and JSON extraction, and refusals.

mod common;

use common::*;
use rag_core::ingest::chunking::TextKind;
use rag_core::ports::Extractor;
use rag_core::ports::{ExtractError, ExtractInput};
use rag_extract::{FileExtractor, Limits};

// ---------------------------------------------------------------- encodings

#[test]
fn utf8_text_and_markdown_kinds() {
    let doc = extract("# Notes\n\nplain *text* ✓".as_bytes(), "dir/notes.md")
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((doc.kind, doc.format), (TextKind::Markdown, "markdown"));
    assert_eq!(doc.pages[0].text, "# Notes\n\nplain *text* ✓");
    let code = extract(
        b"fn main() {\r\n    println!(\"hi\");\r\n}\r\n",
        "src/main.rs",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((code.kind, code.format), (TextKind::Plain, "text"));
    assert_eq!(
        code.pages[0].text,
        "fn main() {\n    println!(\"hi\");\n}\n"
    );
    assert_eq!(text_of(b"all: build\n", "Makefile"), "all: build\n");
    assert_eq!(text_of(b"key: value\n", "config.yaml"), "key: value\n");
}

#[test]
fn utf8_with_bom() {
    assert_eq!(text_of(b"\xEF\xBB\xBFhello", "a.txt"), "hello");
}

#[test]
fn utf16_with_bom() {
    let text = "Grüße, 世界! Ünïcödé line\nsecond line";
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(text_of(&le, "utf16le.txt"), text);
    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    assert_eq!(text_of(&be, "utf16be.log"), text);
}

#[test]
fn windows_1252() {
    // "café naïve – “quoted” €5" in Windows-1252.
    let bytes = b"caf\xe9 na\xefve \x96 \x93quoted\x94 \x805";
    assert_eq!(text_of(bytes, "legacy.txt"), "café naïve – “quoted” €5");
}

#[test]
fn shift_jis() {
    let text = "日本語のテキストです。これはシフトJISで保存された文書で、検索できるように正しく読み込まれる必要があります。";
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&bytes).is_err());
    assert_eq!(text_of(&bytes, "japanese.txt"), text);
}

#[test]
fn declared_charset_is_used_when_detection_is_ambiguous() {
    // Windows-1251 Cyrillic, declared by the MIME type.
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode("Привет, мир");
    let doc = extract_typed(&bytes, "greeting.txt", "text/plain; charset=windows-1251")
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.pages[0].text, "Привет, мир");
}

// ---------------------------------------------------------------- HTML

const PAGE: &str = r#"<!DOCTYPE html>
<html><head><title>Ignored Title</title><style>body { color: red }</style>
<script>var tracking = "SCRIPT_TEXT";</script></head>
<body>
<header><nav><a href="/home">Home</a> | <a href="/about">About</a></nav></header>
<nav class="sidebar"><ul><li>NAV_ITEM</li></ul></nav>
<main>
  <h1>Release notes</h1>
  <p>Version <strong>2.0</strong> adds <a href="https://example.com/search">hybrid search</a>.</p>
  <h2>Fixes</h2>
  <ul><li>First fix</li><li>Second fix</li></ul>
  <form><input name="q"><button>SEARCH_BUTTON</button></form>
</main>
<aside>ASIDE_TEXT</aside>
<footer>FOOTER_TEXT &copy; 2024</footer>
</body></html>"#;

#[test]
fn html_main_content_as_markdown() {
    let doc = extract(PAGE.as_bytes(), "site/release.html").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((doc.kind, doc.format), (TextKind::Markdown, "html"));
    let md = &doc.pages[0].text;
    assert!(md.starts_with("# Release notes\n\n"), "{md}");
    assert!(
        md.contains("Version **2.0** adds [hybrid search](https://example.com/search)."),
        "{md}"
    );
    assert!(md.contains("## Fixes"), "{md}");
    assert!(
        md.contains("First fix") && md.contains("Second fix"),
        "{md}"
    );
    for dropped in [
        "SCRIPT_TEXT",
        "color: red",
        "NAV_ITEM",
        "Home",
        "ASIDE_TEXT",
        "FOOTER_TEXT",
        "SEARCH_BUTTON",
        "Ignored Title",
    ] {
        assert!(!md.contains(dropped), "{dropped} kept in:\n{md}");
    }
}

#[test]
fn html_title_becomes_heading_when_there_is_no_h1() {
    let html = "<html><head><title>  Quarterly\n report </title></head><body><p>Revenue grew.</p>\
                <nav>menu</nav><article><header><h2>Kept header</h2></header><p>Body text.</p></article></body></html>";
    let md = text_of(html.as_bytes(), "q.htm");
    assert_eq!(md, "# Quarterly report\n\n## Kept header\n\nBody text.");
}

#[test]
fn html_without_main_keeps_the_body_and_decodes_meta_charset() {
    let mut bytes = b"<html><head><meta charset=\"windows-1252\"></head><body><h1>Men\xfa</h1><p>Cr\xe8me br\xfbl\xe9e</p>\
                      <script>x()</script></body></html>"
        .to_vec();
    bytes.extend_from_slice(b"<!-- comment -->");
    let md = text_of(&bytes, "menu.html");
    assert_eq!(md, "# Menú\n\nCrème brûlée");
}

#[test]
fn html_by_mime_type() {
    let doc = extract_typed(
        b"<p>Hi <a href=\"x.html\">there</a></p>",
        "page",
        "text/html; charset=utf-8",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.pages[0].text, "Hi [there](x.html)");
}

// ---------------------------------------------------------------- CSV

#[test]
fn csv_quoted_comma_and_pipe() {
    let csv = "name,description,price\n\"Widget, large\",\"has a | pipe\",9.99\nGadget,\"multi\nline\",5\n";
    let doc = extract(csv.as_bytes(), "products.csv").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((doc.kind, doc.format), (TextKind::Markdown, "csv"));
    assert_eq!(
        doc.pages[0].text,
        "| name | description | price |\n| --- | --- | --- |\n| Widget, large | has a \\| pipe | 9.99 |\n| Gadget | multi line | 5 |\n"
    );
}

#[test]
fn tsv_and_semicolon_csv() {
    let tsv = "city\tcountry\nParis, Texas\tUSA\nLyon\tFrance\n";
    assert_eq!(
        text_of(tsv.as_bytes(), "cities.tsv"),
        "| city | country |\n| --- | --- |\n| Paris, Texas | USA |\n| Lyon | France |\n"
    );
    // European CSV: semicolons, decimal commas, Windows-1252.
    let semi = b"Produkt;Preis;Menge\nK\xe4se;3,50;2\nBrot;2,20;1\n";
    assert_eq!(
        text_of(semi, "einkauf.csv"),
        "| Produkt | Preis | Menge |\n| --- | --- | --- |\n| Käse | 3,50 | 2 |\n| Brot | 2,20 | 1 |\n"
    );
}

#[test]
fn ragged_csv_rows_are_padded() {
    assert_eq!(
        text_of(b"a,b\n1\n1,2,3\n", "r.csv"),
        "| a | b |  |\n| --- | --- | --- |\n| 1 |  |  |\n| 1 | 2 | 3 |\n"
    );
}

// ---------------------------------------------------------------- JSON

#[test]
fn json_is_pretty_printed() {
    let doc = extract(br#"{"title":"Guide","tags":["a","b"],"n":1}"#, "doc.json")
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((doc.kind, doc.format), (TextKind::Plain, "json"));
    assert_eq!(
        doc.pages[0].text,
        "{\n  \"title\": \"Guide\",\n  \"tags\": [\n    \"a\",\n    \"b\"\n  ],\n  \"n\": 1\n}"
    );
}

#[test]
fn invalid_json_is_corrupt() {
    match extract(b"{\"title\": \"Guide\",", "doc.json") {
        Err(ExtractError::Corrupt {
            format: "JSON",
            detail,
        }) => assert!(detail.contains("line 1"), "{detail}"),
        other => panic!("{other:?}"),
    }
    match extract(b"{\"a\":1}\n\n{\"b\":2}\nnot json\n", "events.jsonl") {
        Err(ExtractError::Corrupt {
            format: "JSON",
            detail,
        }) => assert!(detail.starts_with("line 4:"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_lines_one_document_each() {
    let doc = extract(
        b"{\"event\":\"login\",\"user\":\"ana\"}\n\n[1,2]\n\"plain\"\n",
        "events.jsonl",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.format, "jsonl");
    assert_eq!(
        doc.pages[0].text,
        "{\n  \"event\": \"login\",\n  \"user\": \"ana\"\n}\n\n[\n  1,\n  2\n]\n\nplain"
    );
}

// ---------------------------------------------------------------- refusals

#[test]
fn refusals_name_the_problem() {
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00some zipped bytes";
    match extract(zip, "x.zip") {
        Err(ExtractError::Unsupported(m)) => {
            assert!(m.contains("x.zip") && m.contains("archive"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    match extract(b"binary\x00\x01\x02\x03 stuff\x00\x00\x07", "x.txt") {
        Err(ExtractError::Unsupported(m)) => assert!(m.contains("binary content"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A zip under a legacy Word name is read as the DOCX it would be
    // (legacy files themselves: tests/office.rs).
    assert!(matches!(
        extract(zip, "report.doc"),
        Err(ExtractError::Corrupt { format: "DOCX", .. })
    ));
    assert!(matches!(
        extract(zip, "sheet.xlsx"),
        Err(ExtractError::Corrupt { format: "XLSX", .. })
    ));
    assert!(matches!(
        extract(zip, "report.docx"),
        Err(ExtractError::Corrupt { format: "DOCX", .. })
    ));
    match extract_typed(b"\0\0\0\x18ftypheic", "upload", "image/heic") {
        Err(ExtractError::Unsupported(m)) => assert!(m.contains("image/heic"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A PNG cut inside its signature (images: tests/images.rs).
    assert!(matches!(
        extract_typed(b"\x89PNG\r\n", "upload", "image/png"),
        Err(ExtractError::Corrupt {
            format: "image",
            ..
        })
    ));
    for name in [
        "empty.txt",
        "empty.pdf",
        "empty.html",
        "empty.zip",
        "empty.docx",
        "empty.pptx",
        "empty",
    ] {
        assert_eq!(extract(b"", name), Err(ExtractError::Empty), "{name}");
    }
}

#[test]
fn whitespace_only_text_extracts_as_empty() {
    let doc = extract(b"  \n\n  ", "blank.txt").unwrap_or_else(|e| panic!("{e:?}"));
    assert!(doc.is_empty());
}

#[test]
fn character_limit_applies_to_every_format() {
    let small = FileExtractor::new(Limits {
        max_chars: 10,
        ..Limits::default()
    });
    for (bytes, name) in [
        (&b"eleven char"[..], "a.txt"),
        (b"<p>more than ten</p>", "a.html"),
        (b"a,b\n1,2\n", "a.csv"),
        (b"[1, 2, 3, 4]", "a.json"),
    ] {
        let result = small.extract(ExtractInput::new(bytes, name, None));
        assert!(
            matches!(result, Err(ExtractError::LimitExceeded(_))),
            "{name}: {result:?}"
        );
    }
    let ok = small.extract(ExtractInput::new(b"ten chars.", "a.txt", None));
    assert_eq!(ok.map(|d| d.full_text()), Ok("ten chars.".to_owned()));
}

#[test]
fn nul_characters_never_reach_the_text() {
    // UTF-16 text can encode U+0000; PostgreSQL text cannot store it.
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend("a\0b".encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(text_of(&bytes, "nul.txt"), "ab");
}
