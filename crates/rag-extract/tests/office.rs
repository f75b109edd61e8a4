//! Office documents: PPTX slides, DOCX, ODP and ODT as Markdown, and the
//! safety limits on their zip archives and XML.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rag_core::chunking::TextKind;
use rag_core::extraction::{ExtractError, ExtractedDocument};
use rag_extract::Limits;

fn ok(bytes: &[u8], name: &str) -> ExtractedDocument {
    extract(bytes, name).unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

fn corrupt_detail(result: Result<ExtractedDocument, ExtractError>, format: &str) -> String {
    match result {
        Err(ExtractError::Corrupt { format: f, detail }) if f == format => detail,
        other => panic!("expected a corrupt {format}: {other:?}"),
    }
}

#[test]
fn pptx_slides_in_presentation_order_with_titles_bullets_tables_notes_and_images() {
    let extraction = extract_noted(&deck(), "decks/q3.pptx").unwrap_or_else(|e| panic!("{e:?}"));
    let doc = &extraction.document;
    assert_eq!((doc.kind, doc.format), (TextKind::Markdown, "pptx"));
    let numbers: Vec<Option<u32>> = doc.pages.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [Some(1), Some(2), Some(3)]);
    assert_eq!(
        doc.pages[0].text,
        "## Quarterly results\n\n\
         - Revenue grew 12%\n  - Mostly in & around Europe\n\n\
         Plain line\n\n\
         | Region | Sales |\n| --- | --- |\n| EMEA | 4 \\| 5 |\n| APAC | 3 |\n\n\
         [image: Bar chart of sales by region]\n\n\
         Notes:\nMention the EMEA launch.\n\nKeep it short."
    );
    assert_eq!(
        doc.pages[1].text,
        "## Next steps\n\nHire two engineers\n\nOpen an office\n\n- Bulleted on two lines\n\nChosen text"
    );
    assert_eq!(doc.pages[2].text, "");
    assert_eq!(extraction.notes, ["slide 3: missing from the file"]);
}

#[test]
fn pptx_by_mime_type() {
    let bytes = simple_pptx(&["one", "two", "three"]);
    let doc = extract_typed(
        &bytes,
        "upload",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let pages: Vec<(Option<u32>, &str)> = doc
        .pages
        .iter()
        .map(|p| (p.number, p.text.as_str()))
        .collect();
    assert_eq!(
        pages,
        [(Some(1), "one"), (Some(2), "two"), (Some(3), "three")]
    );
}

#[test]
fn pptx_slide_limit_and_empty_presentations() {
    let bytes = simple_pptx(&["a", "b", "c"]);
    let limits = Limits {
        max_pages: 2,
        ..Limits::default()
    };
    assert!(limit_message(with_limits(limits, &bytes, "x.pptx")).contains("3 slides"));
    assert_eq!(
        extract(&simple_pptx(&[]), "none.pptx"),
        Err(ExtractError::Empty)
    );
}

#[test]
fn pptx_with_a_broken_slide_keeps_the_others() {
    let kept = slide_xml("p:sld", &shape("", &para("kept")));
    let broken = "<p:sld><p:cSld></p:sld>".to_owned();
    let extraction =
        extract_noted(&pptx_of(&[kept, broken]), "broken.pptx").unwrap_or_else(|e| panic!("{e:?}"));
    let texts: Vec<&str> = extraction
        .document
        .pages
        .iter()
        .map(|p| p.text.as_str())
        .collect();
    assert_eq!(texts, ["kept", ""]);
    assert_eq!(extraction.notes.len(), 1);
    assert!(
        extraction.notes[0].starts_with("slide 2: skipped, ppt/slides/slide2.xml: invalid XML"),
        "{:?}",
        extraction.notes
    );
}

// ---------------------------------------------------------------- DOCX

#[test]
fn docx_headings_lists_tables_links_and_images() {
    let doc = ok(&handbook(), "handbook.docx");
    assert_eq!((doc.kind, doc.format), (TextKind::Markdown, "docx"));
    assert_eq!(doc.pages.len(), 1);
    assert_eq!(doc.pages[0].number, None);
    assert_eq!(
        doc.pages[0].text,
        "# Employee handbook\n\n# Getting started\n\nWelcome aboard.\n\n\
         Read the [security policy](https://intranet.example.com/security%20policy) and the FAQ.\n\n\
         ## Your first week\n\n- Meet your team\n  - Book a lunch\n- Set up your laptop\n\n\
         Badges are issued on day one. (Desk 4)\n\n[image: Office floor plan]\n\n\
         | Day | Task | Owner |\n| --- | --- | --- |\n| Monday | Orientation |  |\n| Tuesday | Training | HR |"
    );
}

#[test]
fn docx_styles_by_name_and_main_part_from_package_relationships() {
    // Localized style ids, a custom heading based on one, a list style;
    // the main part is not at the usual path.
    let styles = format!(
        r#"<?xml version="1.0"?><w:styles {WML}>
<w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/></w:style>
<w:style w:type="paragraph" w:styleId="Kapitel"><w:name w:val="Kapitel"/><w:basedOn w:val="berschrift1"/></w:style>
<w:style w:type="paragraph" w:styleId="Titel"><w:name w:val="Title"/></w:style>
<w:style w:type="paragraph" w:styleId="Zwischen"><w:name w:val="Zwischen"/><w:pPr><w:outlineLvl w:val="2"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="Aufzhlung"><w:name w:val="List Bullet"/><w:pPr><w:numPr><w:numId w:val="1"/></w:numPr></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="Aufzhlung2"><w:name w:val="List Bullet 2"/><w:pPr><w:numPr><w:numId w:val="2"/></w:numPr></w:pPr></w:style>
</w:styles>"#
    );
    let body = [
        styled("Titel", "Handbuch"),
        styled("berschrift1", "Einleitung"),
        styled("Kapitel", "Kapitel eins"),
        styled("Zwischen", "Abschnitt"),
        styled("Aufzhlung", "Punkt"),
        styled("Aufzhlung2", "Unterpunkt"),
        // Numbering turned off on a list-styled paragraph.
        w_para(
            r#"<w:pStyle w:val="Aufzhlung"/><w:numPr><w:numId w:val="0"/></w:numPr>"#,
            "Kein Punkt",
        ),
    ]
    .concat();
    let document = document_xml(&body);
    let files: [(&str, String); 4] = [
        (
            "_rels/.rels",
            rels(&[("rId1", "officeDocument", "word/main.xml")]),
        ),
        ("word/main.xml", document),
        (
            "word/_rels/main.xml.rels",
            rels(&[("rId1", "styles", "styles.xml")]),
        ),
        ("word/styles.xml", styles),
    ];
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, x)| (*n, x.as_bytes())).collect();
    assert_eq!(
        ok(&zip_of(&files), "de.docx").pages[0].text,
        "# Handbuch\n\n# Einleitung\n\n# Kapitel eins\n\n### Abschnitt\n\n- Punkt\n  - Unterpunkt\n\nKein Punkt"
    );
}

#[test]
fn docx_without_text_extracts_as_empty_and_wrong_packages_are_corrupt() {
    let doc = ok(&simple_docx(&[]), "blank.docx");
    assert!(doc.is_empty());
    assert_eq!(
        ok(&simple_docx(&["a &lt; b"]), "x.docx").full_text(),
        "a < b"
    );
    // A presentation named .docx, and the other way round.
    let detail = corrupt_detail(extract(&simple_pptx(&["x"]), "x.docx"), "DOCX");
    assert!(detail.contains("not a Word document"), "{detail}");
    let detail = corrupt_detail(extract(&simple_docx(&["x"]), "x.pptx"), "PPTX");
    assert!(detail.contains("not a PowerPoint presentation"), "{detail}");
}

// ---------------------------------------------------------------- OpenDocument

#[test]
fn odp_pages_with_titles_lists_tables_images_and_notes() {
    let doc = ok(
        &odf(
            "application/vnd.oasis.opendocument.presentation",
            TALK,
            None,
        ),
        "talk.odp",
    );
    assert_eq!((doc.kind, doc.format), (TextKind::Markdown, "odp"));
    let pages: Vec<(Option<u32>, &str)> = doc
        .pages
        .iter()
        .map(|p| (p.number, p.text.as_str()))
        .collect();
    assert_eq!(
        pages,
        [
            (
                Some(1),
                "## Roadmap 2025\n\n- Point one\n  - Detail\n\n| Q1 | Beta |\n| --- | --- |\n| Q2 | Launch |\n\n\
                 [image: Company logo in blue]\n\nNotes:\nSay hello."
            ),
            (Some(2), "Questions?")
        ]
    );
}

#[test]
fn odt_headings_lists_tables_and_links() {
    let doc = ok(
        &odf("application/vnd.oasis.opendocument.text", MINUTES, None),
        "minutes.odt",
    );
    assert_eq!(
        (doc.format, doc.pages.len(), doc.pages[0].number),
        ("odt", 1, None)
    );
    assert_eq!(
        doc.pages[0].text,
        "# Minutes\n\nAttendees: Ana, Bo and [Cy](https://example.com/cy).\n\n## Actions\n\n- Ship it\n\n\
         | Owner | Due |\n| --- | --- |\n| Ana | Friday |\n\nLine one\nline two"
    );
}

#[test]
fn encrypted_opendocument_is_reported_as_encrypted() {
    let manifest = r#"<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"><manifest:encryption-data manifest:checksum-type="SHA1/1K"/></manifest:file-entry></manifest:manifest>"#;
    let bytes = odf(
        "application/vnd.oasis.opendocument.text",
        "",
        Some(manifest),
    );
    assert_eq!(extract(&bytes, "secret.odt"), Err(ExtractError::Encrypted));
}

// ---------------------------------------------------------------- safety

#[test]
fn ole_containers_are_encrypted_ooxml_or_legacy_formats() {
    let mut ole = OLE_MAGIC.to_vec();
    ole.resize(1536, 0);
    for name in ["secret.docx", "secret.PPTX", "secret.xlsx", "secret.docm"] {
        assert_eq!(extract(&ole, name), Err(ExtractError::Encrypted), "{name}");
    }
    assert_eq!(
        extract_typed(
            &ole,
            "upload",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        ),
        Err(ExtractError::Encrypted)
    );
    for (name, needle) in [
        (
            "old.doc",
            "legacy Word 97-2003 documents are not supported yet",
        ),
        (
            "old.ppt",
            "legacy PowerPoint 97-2003 presentations are not supported yet",
        ),
    ] {
        match extract(&ole, name) {
            Err(ExtractError::Unsupported(m)) => assert!(m.contains(needle), "{name}: {m}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // A legacy Excel workbook is an OLE file, read (here: a broken one).
    corrupt_detail(extract(&ole, "old.xls"), "XLS");
    // Not an OOXML name: an OLE file is no OpenDocument either.
    corrupt_detail(extract(&ole, "x.odt"), "ODT");
}

#[test]
fn encrypted_zip_entries_are_reported_as_encrypted() {
    let mut bytes = simple_docx(&["secret"]);
    // Set the "encrypted" flag (bit 0 of the general purpose flags) in the
    // local header and the central directory entry.
    for (signature, flags_at) in [(&b"PK\x03\x04"[..], 6), (&b"PK\x01\x02"[..], 8)] {
        let at = bytes
            .windows(4)
            .position(|w| w == signature)
            .unwrap_or_else(|| panic!("no header"));
        bytes[at + flags_at] |= 1;
    }
    assert_eq!(extract(&bytes, "x.docx"), Err(ExtractError::Encrypted));
}

#[test]
fn truncated_and_non_zip_files_are_corrupt() {
    let bytes = deck();
    for cut in [bytes.len() / 2, bytes.len() - 10, 30] {
        let detail = corrupt_detail(extract(&bytes[..cut], "cut.pptx"), "PPTX");
        assert!(detail.contains("zip"), "{cut}: {detail}");
    }
    corrupt_detail(extract(b"just some text", "notes.docx"), "DOCX");
    corrupt_detail(
        extract(b"PK\x03\x04\x14\x00\x00\x00\x08\x00junk", "x.odp"),
        "ODP",
    );
    assert_eq!(extract(b"", "empty.pptx"), Err(ExtractError::Empty));
}

#[test]
fn zip_bombs_are_refused_by_compression_ratio() {
    // A 4 MiB slide of whitespace deflates some 1000:1.
    let mut slide = slide_xml("p:sld", "");
    slide.insert_str(slide.len() - "</p:sld>".len(), &" ".repeat(4 << 20));
    let presentation = format!(
        r#"<p:presentation {PML}><p:sldIdLst><p:sldId id="256" r:id="rId1"/></p:sldIdLst></p:presentation>"#
    );
    let rels_xml = rels(&[("rId1", "slide", "slides/slide1.xml")]);
    let bomb = zip_of(&[
        ("ppt/presentation.xml", presentation.as_bytes()),
        ("ppt/_rels/presentation.xml.rels", rels_xml.as_bytes()),
        ("ppt/slides/slide1.xml", slide.as_bytes()),
    ]);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let message = limit_message(extract(&bomb, "bomb.pptx"));
    assert!(
        message.contains("ppt/slides/slide1.xml is compressed more than 100:1"),
        "{message}"
    );
    // The same part is fine with a higher ratio allowed.
    let lenient = Limits {
        max_compression_ratio: 10_000,
        ..Limits::default()
    };
    assert_eq!(
        with_limits(lenient, &bomb, "bomb.pptx").map(|d| d.pages.len()),
        Ok(1)
    );
}

#[test]
fn total_unzipped_size_is_limited() {
    let bytes = simple_docx(&[&"word ".repeat(1000)]);
    let small = Limits {
        max_archive_bytes: 2_000,
        ..Limits::default()
    };
    assert!(limit_message(with_limits(small, &bytes, "big.docx")).contains("more than 2000 bytes"));
    let enough = Limits {
        max_archive_bytes: 20_000,
        ..Limits::default()
    };
    assert!(with_limits(enough, &bytes, "big.docx").is_ok());
}

#[test]
fn entries_larger_than_declared_are_not_read_past_their_size() {
    // The headers declare 100 bytes; the entry holds 5,000.
    let mut bytes = simple_docx(&[&"word ".repeat(1000)]);
    for (signature, size_at) in [(&b"PK\x03\x04"[..], 22), (&b"PK\x01\x02"[..], 24)] {
        let at = bytes
            .windows(4)
            .position(|w| w == signature)
            .unwrap_or_else(|| panic!("no header"));
        bytes[at + size_at..at + size_at + 4].copy_from_slice(&100u32.to_le_bytes());
    }
    let detail = corrupt_detail(extract(&bytes, "liar.docx"), "DOCX");
    assert!(detail.contains("word/document.xml"), "{detail}");
}

#[test]
fn entry_count_is_limited() {
    let names: Vec<String> = (0..30)
        .map(|i| format!("word/media/image{i}.png"))
        .collect();
    let document = document_xml("<w:p><w:r><w:t>hi</w:t></w:r></w:p>");
    let mut files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"png"[..])).collect();
    files.push(("word/document.xml", document.as_bytes()));
    let bytes = zip_of(&files);
    let few = Limits {
        max_archive_entries: 20,
        ..Limits::default()
    };
    assert!(limit_message(with_limits(few, &bytes, "many.docx")).contains("31 files"));
    assert_eq!(ok(&bytes, "many.docx").full_text(), "hi");
}

#[test]
fn entity_bombs_and_external_entities_are_refused_without_expansion() {
    let laughs = (1..10).fold(String::from(r#"<!ENTITY lol0 "lol">"#), |mut dtd, i| {
        let refs = format!("&lol{};", i - 1).repeat(10);
        dtd.push_str(&format!(r#"<!ENTITY lol{i} "{refs}">"#));
        dtd
    });
    let billion = format!(
        r#"<?xml version="1.0"?><!DOCTYPE w:document [{laughs}]><w:document {WML}><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"#
    );
    let external = format!(
        r#"<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><w:document {WML}><w:body><w:p><w:r><w:t>&xxe;</w:t></w:r></w:p></w:body></w:document>"#
    );
    let started = Instant::now();
    for xml in [billion, external] {
        let bytes = zip_of(&[("word/document.xml", xml.as_bytes())]);
        let detail = corrupt_detail(extract(&bytes, "laughs.docx"), "DOCX");
        assert!(
            detail.contains("word/document.xml") && detail.contains("DOCTYPE"),
            "{detail}"
        );
    }
    // In a presentation's relationships too.
    let rels_xml = format!(
        r#"<?xml version="1.0"?><!DOCTYPE Relationships [{laughs}]><Relationships xmlns="{RELS_NS}"><Relationship Id="&lol9;" Type="{REL}/slide" Target="slides/slide1.xml"/></Relationships>"#
    );
    let slide = slide_xml("p:sld", "");
    let presentation = format!(
        r#"<p:presentation {PML}><p:sldIdLst><p:sldId id="256" r:id="rId1"/></p:sldIdLst></p:presentation>"#
    );
    let bytes = zip_of(&[
        ("ppt/presentation.xml", presentation.as_bytes()),
        ("ppt/_rels/presentation.xml.rels", rels_xml.as_bytes()),
        ("ppt/slides/slide1.xml", slide.as_bytes()),
    ]);
    let detail = corrupt_detail(extract(&bytes, "laughs.pptx"), "PPTX");
    assert!(detail.contains("DOCTYPE"), "{detail}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
