//! Office documents: PPTX slides, DOCX, ODP and ODT as Markdown, legacy
//! .doc/.ppt through LibreOffice, embedded images, and the safety limits on
//! their zip archives and XML.
//!
//! The files under tests/fixtures/office/ come from real producers
//! (python-docx, python-pptx, LibreOffice): tests/fixtures/make_office.py
//! makes them.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rag_core::ingest::chunking::TextKind;
use rag_core::ports::Extractor;
use rag_core::ports::{ExtractError, ExtractInput, ExtractedDocument, ExtractedImage};
use rag_extract::{FileExtractor, Limits, SOFFICE_ENV};

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
         ![Bar chart of sales by region](Picture4)\n\n\
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
    assert_eq!(texts(&extraction), ["kept", ""]);
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
         Badges are issued on day one. (Desk 4)\n\n![Office floor plan](Picture1)\n\n\
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
                 ![Company logo in blue](1.png)\n\nNotes:\nSay hello."
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
        "# Minutes\n\nAttendees: Ana, Bo and [Cy](https://example.com/cy).[^1]\n\n## Actions\n\n- Ship it\n\n\
         | Owner | Due |\n| --- | --- |\n| Ana | Friday |\n\nLine one\nline two\n\n\
         # Footnotes\n\n[^1]: FOOTNOTE"
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

/// `report-locked.docx` is `report.docx` encrypted by Office's agile
/// scheme: `msoffcrypto-tool -e -p s3cret-Pass report.docx report-locked.docx`.
#[test]
fn a_password_protected_docx_opens_with_its_password_only() {
    let locked = fixture("report-locked.docx");
    let with = |password: Option<&str>| {
        FileExtractor::default().extract(ExtractInput {
            password,
            ..ExtractInput::new(&locked, "report-locked.docx", None)
        })
    };
    assert_eq!(with(None), Err(ExtractError::Encrypted));
    assert_eq!(with(Some("wrong")), Err(ExtractError::Encrypted));
    let opened = with(Some("s3cret-Pass")).expect("opens with the password");
    let plain = ok(&fixture("report.docx"), "report.docx");
    assert_eq!(opened.full_text(), plain.full_text());
    assert!(!opened.full_text().trim().is_empty());
}

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
    // Legacy Word and PowerPoint files are OLE files too: without
    // LibreOffice refused, with it not convertible (here: all zeros).
    let without = FileExtractor::default().with_libreoffice(false);
    for (name, needle) in [
        ("old.doc", "legacy Word 97-2003 documents"),
        ("old.ppt", "legacy PowerPoint 97-2003 presentations"),
    ] {
        match without.extract(ExtractInput::new(&ole, name, None)) {
            Err(ExtractError::Unsupported(m)) => assert!(m.contains(needle), "{name}: {m}"),
            other => panic!("{name}: {other:?}"),
        }
        if soffice_available() {
            let format = if name.ends_with("doc") { "DOC" } else { "PPT" };
            let detail = corrupt_detail(extract(&ole, name), format);
            assert!(
                detail.contains("LibreOffice could not convert it"),
                "{detail}"
            );
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

// ---------------------------------------------------------------- real producers

/// One part of a committed fixture's zip.
fn part_of(fixture_name: &str, part: &str) -> Vec<u8> {
    unzip(&fixture(fixture_name))
        .into_iter()
        .find(|(name, _)| name == part)
        .map(|(_, data)| data)
        .unwrap_or_else(|| panic!("no {part} in {fixture_name}"))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/office/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Whether LibreOffice is there to convert legacy files (as the extractor
/// finds it). Tests that need it say so and pass without it, unless
/// `RAG_REQUIRE_SOFFICE` is set (scripts/sysdeps.sh installs it).
fn soffice_available() -> bool {
    let executable = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = match std::env::var_os(SOFFICE_ENV).filter(|v| !v.is_empty()) {
        Some(program) => executable(std::path::Path::new(&program)),
        None => std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| executable(&dir.join("soffice")))
        }),
    };
    if !found {
        assert!(
            std::env::var_os("RAG_REQUIRE_SOFFICE").is_none(),
            "LibreOffice (soffice) is required but not found"
        );
        eprintln!("LibreOffice (soffice) not found: legacy conversion not tested");
    }
    found
}

/// The text just before an image's offset, and checks that the offset is
/// a char boundary of its page.
fn before<'d>(doc: &'d ExtractedDocument, image: &ExtractedImage) -> &'d str {
    let text = &doc.pages[image.page_index].text;
    assert!(text.is_char_boundary(image.offset), "{image:?}");
    &text[..image.offset]
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG: &[u8] = b"\xFF\xD8\xFF";

#[test]
fn docx_from_python_docx_with_numbered_lists_comments_images_and_headers() {
    let extraction =
        extract_noted(&fixture("report.docx"), "report.docx").unwrap_or_else(|e| panic!("{e:?}"));
    let doc = &extraction.document;
    assert_eq!((doc.format, doc.pages.len()), ("docx", 1));
    assert_eq!(
        doc.pages[0].text,
        "# Quarterly report\n\n# Summary\n\n\
         Sales grew and revenue rose 8%. See the [dashboard](https://example.com/dashboard) for details.\n\n\
         ## Highlights\n\n- Revenue up\n  - Mostly in Europe\n- Costs flat\n\n\
         ## Plan\n\n1. Collect data\n2. Clean data\n   1. Drop duplicates\n   2. Fill gaps\n3. Train model\n\n\
         | Region | Q1 | Q2 |\n| --- | --- | --- |\n| EMEA | 4.5 | 5.25 |\n| APAC | 3 | 3.5 |\n\n\
         ![Revenue by quarter](Picture1.png)\n\n\
         Team photo: ![Team at the offsite](Picture2.jpg) (May).\n\n\
         The end.\n\n\
         # Comments\n\n- Ana Lima, on \"revenue rose 8%\": Is this audited?\n\n\
         # Header\n\nACME Confidential\n\n# Footer\n\nInternal use only"
    );
    assert_eq!(extraction.notes, Vec::<String>::new());

    // Three pictures, in text order, each where it sits.
    let images = &doc.images;
    let summary: Vec<_> = images
        .iter()
        .map(|i| {
            (
                i.page_index,
                i.width,
                i.height,
                i.alt.as_deref(),
                i.media_type.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (0, 120, 60, Some("Revenue by quarter"), "image/png"),
            (0, 64, 48, Some("Team at the offsite"), "image/jpeg"),
            (0, 16, 16, None, "image/png"),
        ]
    );
    assert!(before(doc, &images[0])
        .ends_with("| APAC | 3 | 3.5 |\n\n![Revenue by quarter](Picture1.png)"));
    assert!(before(doc, &images[1]).ends_with("Team photo: ![Team at the offsite](Picture2.jpg)"));
    // The picture without alt text had a paragraph of its own: it sits at
    // the end of the block before.
    assert!(before(doc, &images[2])
        .ends_with("Team photo: ![Team at the offsite](Picture2.jpg) (May)."));
    assert!(images[0].data.starts_with(PNG) && images[2].data.starts_with(PNG));
    assert!(images[1].data.starts_with(JPEG));
}

/// notes.docx and notes.odt (the same LibreOffice document saved both
/// ways) as Markdown: the Word and OpenDocument readers agree.
const FIELD_NOTES: &str = "# Field notes\n\n\
     The survey covered 40 sites[^1] and took three weeks[^i].\n\n\
     Water levels rose by 12 cm during the survey[^2].\n\n\
     Results are on the [project page](https://example.org/falcon).\n\n\
     1. Collect samples\n2. Label jars\n   a. Use waterproof ink\n   b. Add the date\n3. Ship to the lab\n\n\
     | Site | Depth |\n| --- | --- |\n| North | 3.2 m |\n| South | 4.8 m |\n\n\
     Map: ![Map of the survey sites](Map.png) (north is up).\n\n\
     # Footnotes\n\n[^1]: Sites in the northern region only.\n[^2]: Measured at noon.\n\n\
     # Endnotes\n\n[^i]: Including travel days.\n\n\
     # Comments\n\n- Bo Chen, on \"12 cm\": Needs a source.\n\n\
     # Header\n\nProject Falcon\n\n# Footer\n\nField team";

#[test]
fn docx_from_libreoffice_with_footnotes_endnotes_comments_and_nested_numbering() {
    let doc = ok(&fixture("notes.docx"), "notes.docx");
    assert_eq!(doc.pages[0].text, FIELD_NOTES);
    assert_eq!(doc.images.len(), 1);
    let map = &doc.images[0];
    assert_eq!(
        (
            map.width,
            map.height,
            map.alt.as_deref(),
            map.media_type.as_str()
        ),
        (160, 80, Some("Map of the survey sites"), "image/png")
    );
    assert!(before(&doc, map).ends_with("Map: ![Map of the survey sites](Map.png)"));
}

#[test]
fn pptx_from_python_pptx_with_charts_tables_notes_and_pictures() {
    let doc = ok(&fixture("deck.pptx"), "deck.pptx");
    let pages: Vec<(Option<u32>, &str)> = doc
        .pages
        .iter()
        .map(|p| (p.number, p.text.as_str()))
        .collect();
    assert_eq!(
        pages,
        [
            (Some(1), "## Falcon review\n\nQ3 2024"),
            (
                Some(2),
                "## Findings\n\n- Water rose 12 cm\n  - Mostly in spring\n- Sites stable\n\n\
                 Notes:\nStress the spring data."
            ),
            (
                Some(3),
                "## Sales\n\n### Chart: Sales by region\n\n\
                 | Category | EMEA | APAC |\n| --- | --- | --- |\n\
                 | Q1 | 4.5 | 3 |\n| Q2 | 5.25 | 3.5 |\n| Q3 | 6 | 4.25 |\n\n\
                 ![Falcon logo](Picture3.png)\n\nNotes:\nEMEA leads every quarter."
            ),
            (
                Some(4),
                "## Details\n\n| Site | Depth |\n| --- | --- |\n| North | 3.2 m |\n| South | 4.8 m |\n\n\
                 ### Chart: Transport mix\n\n| Category | Share |\n| --- | --- |\n| Boats | 0.6 |\n| Trucks | 0.4 |"
            ),
        ]
    );
    assert_eq!(doc.images.len(), 1);
    let logo = &doc.images[0];
    assert_eq!(
        (
            logo.page_index,
            logo.width,
            logo.height,
            logo.alt.as_deref()
        ),
        (2, 120, 60, Some("Falcon logo"))
    );
    assert!(before(&doc, logo).ends_with("| Q3 | 6 | 4.25 |\n\n![Falcon logo](Picture3.png)"));
    assert!(logo.data.starts_with(PNG));
}

#[test]
fn odt_and_odp_pictures_are_placed_too() {
    let odt = ok(&fixture("notes.odt"), "notes.odt");
    assert_eq!(odt.images.len(), 1);
    assert!(before(&odt, &odt.images[0]).ends_with("Map: ![Map of the survey sites](Map.png)"));
    assert_eq!((odt.images[0].width, odt.images[0].height), (160, 80));

    // LibreOffice's copy of the deck: the chart and the table keep their
    // replacement pictures to themselves.
    let odp = ok(&fixture("deck.odp"), "deck.odp");
    assert_eq!(odp.pages.len(), 4);
    assert_eq!(odp.images.len(), 1);
    let logo = &odp.images[0];
    assert_eq!(
        (logo.page_index, logo.alt.as_deref()),
        (2, Some("Falcon logo"))
    );
    assert!(before(&odp, logo).ends_with("| Q3 | 6 | 4.25 |\n\n![Falcon logo](Picture3.png)"));
}

/// notes.odt is notes.docx as LibreOffice saves it in its own format: the
/// same Markdown, numbered list, notes, comment, header and footer included.
#[test]
fn odt_from_libreoffice_reads_like_the_same_docx() {
    let extraction =
        extract_noted(&fixture("notes.odt"), "notes.odt").unwrap_or_else(|e| panic!("{e:?}"));
    let doc = &extraction.document;
    assert_eq!((doc.format, doc.pages.len()), ("odt", 1));
    assert_eq!(doc.pages[0].text, FIELD_NOTES);
    assert_eq!(extraction.notes, Vec::<String>::new());
}

#[test]
fn odt_numbered_lists_follow_their_list_style() {
    // "Numbered" (styles.xml): level 1 `1` + ".", level 2 `a` + "."; the
    // nested level counts afresh under each item and is indented to its
    // parent's text.
    let doc = ok(&fixture("notes.odt"), "notes.odt");
    assert!(
        doc.pages[0].text.contains(
            "\n\n1. Collect samples\n2. Label jars\n   a. Use waterproof ink\n   b. Add the date\n3. Ship to the lab\n\n"
        ),
        "{}",
        doc.pages[0].text
    );
    // Lists without a known style stay bulleted (MINUTES, TALK above).
}

#[test]
fn odt_footnotes_and_endnotes_are_marked_and_listed_at_the_end() {
    let doc = ok(&fixture("notes.odt"), "notes.odt");
    let text = &doc.pages[0].text;
    for expected in [
        "The survey covered 40 sites[^1] and took three weeks[^i].\n\n",
        "Water levels rose by 12 cm during the survey[^2].\n\n",
        "\n\n# Footnotes\n\n[^1]: Sites in the northern region only.\n[^2]: Measured at noon.\n\n\
         # Endnotes\n\n[^i]: Including travel days.\n\n",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    // The notes' own text stays out of the running text.
    assert_eq!(text.matches("Measured at noon").count(), 1);
}

#[test]
fn odt_comments_with_their_author_and_anchored_text() {
    let doc = ok(&fixture("notes.odt"), "notes.odt");
    let text = &doc.pages[0].text;
    assert!(
        text.contains("\n\n# Comments\n\n- Bo Chen, on \"12 cm\": Needs a source.\n\n"),
        "{text}"
    );
    // Neither the comment nor its date is in the running text.
    assert_eq!(text.matches("Needs a source").count(), 1);
    assert!(!text.contains("2024-05-01"), "{text}");
}

#[test]
fn odp_charts_read_from_their_embedded_chart_documents() {
    // deck.odp is deck.pptx converted by LibreOffice: each chart is an
    // embedded "Object N/" chart document holding its data table.
    let odp = extract_noted(&fixture("deck.odp"), "deck.odp").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(odp.notes, Vec::<String>::new());
    let pptx = ok(&fixture("deck.pptx"), "deck.pptx");
    let texts = |doc: &ExtractedDocument| -> Vec<String> {
        doc.pages.iter().map(|p| p.text.clone()).collect()
    };
    // Every page reads as the PPTX's: the column chart with two series on
    // page 3, the pie chart after the table on page 4.
    assert_eq!(texts(&odp.document), texts(&pptx));
    assert!(odp.document.pages[2].text.contains(
        "### Chart: Sales by region\n\n| Category | EMEA | APAC |\n| --- | --- | --- |\n\
         | Q1 | 4.5 | 3 |\n| Q2 | 5.25 | 3.5 |\n| Q3 | 6 | 4.25 |"
    ));
    assert!(odp.document.pages[3].text.ends_with(
        "### Chart: Transport mix\n\n| Category | Share |\n| --- | --- |\n| Boats | 0.6 |\n| Trucks | 0.4 |"
    ));
}

#[test]
fn odt_charts_follow_the_paragraph_they_are_drawn_in() {
    // The chart document LibreOffice wrote into deck.odp, embedded in a
    // text document's paragraph (as Writer anchors it): shown after the
    // paragraph, as a Word document's chart is.
    let chart = part_of("deck.odp", "Object 1/content.xml");
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS} office:version="1.3"><office:body><office:text><text:p>Sales: <draw:frame draw:name="Object1"><draw:object xlink:href="./Object 1"/><draw:image xlink:href="./ObjectReplacements/Object 1"/></draw:frame>see below.</text:p><text:p>After.</text:p></office:text></office:body></office:document-content>"#
    );
    let bytes = zip_of(&[
        ("mimetype", &b"application/vnd.oasis.opendocument.text"[..]),
        ("content.xml", content.as_bytes()),
        ("Object 1/content.xml", &chart),
        ("ObjectReplacements/Object 1", &b"not a picture"[..]),
    ]);
    let doc = ok(&bytes, "chart.odt");
    assert_eq!(
        doc.pages[0].text,
        "Sales: see below.\n\nChart: Sales by region\n\n\
         | Category | EMEA | APAC |\n| --- | --- | --- |\n\
         | Q1 | 4.5 | 3 |\n| Q2 | 5.25 | 3.5 |\n| Q3 | 6 | 4.25 |\n\nAfter."
    );
    assert!(doc.images.is_empty());
}

#[test]
fn odp_chart_objects_are_read_under_the_archive_limits() {
    let bytes = fixture("deck.odp");
    // A budget that holds the presentation but not its charts' parts.
    let content = unzip(&bytes)
        .into_iter()
        .filter(|(name, _)| {
            ["content.xml", "styles.xml", "META-INF/manifest.xml"].contains(&name.as_str())
        })
        .map(|(_, data)| data.len() as u64)
        .sum::<u64>();
    let tight = Limits {
        max_archive_bytes: content + 1_000,
        ..Limits::default()
    };
    assert!(
        limit_message(with_limits(tight, &bytes, "deck.odp")).contains("bytes of unzipped content")
    );
    // A chart document that is not XML is left out with a note.
    let files: Vec<(String, Vec<u8>)> = unzip(&bytes)
        .into_iter()
        .map(|(name, data)| {
            let data = if name == "Object 1/content.xml" {
                b"<a><b></a>".to_vec()
            } else {
                data
            };
            (name, data)
        })
        .collect();
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let broken = extract_noted(&zip_of(&files), "broken.odp").unwrap_or_else(|e| panic!("{e:?}"));
    assert!(!broken.document.pages[2].text.contains("Sales by region"));
    assert!(broken.document.pages[3]
        .text
        .contains("### Chart: Transport mix"));
    assert_eq!(broken.notes.len(), 1, "{:?}", broken.notes);
    assert!(
        broken.notes[0].starts_with("chart left out: Object 1/content.xml: invalid XML"),
        "{:?}",
        broken.notes
    );
}

#[test]
fn images_past_the_byte_budget_are_left_out_with_a_note() {
    let bytes = fixture("report.docx");
    let full = extract_noted(&bytes, "report.docx").unwrap_or_else(|e| panic!("{e:?}"));
    // Room for the first picture (220 bytes), not the next two.
    let limits = Limits {
        max_image_bytes: 300,
        ..Limits::default()
    };
    let tight = FileExtractor::new(limits)
        .extract_with_notes(ExtractInput::new(&bytes, "report.docx", None))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(tight.document.pages, full.document.pages);
    assert_eq!(tight.document.images, full.document.images[..1]);
    assert_eq!(
        tight.notes,
        ["2 image(s) left out: the images kept already take the 300 bytes allowed"]
    );
}

#[test]
fn legacy_doc_and_ppt_are_read_through_libreoffice() {
    if !soffice_available() {
        return;
    }
    let extraction =
        extract_noted(&fixture("legacy.doc"), "old/legacy.doc").unwrap_or_else(|e| panic!("{e:?}"));
    let doc = &extraction.document;
    assert_eq!((doc.format, doc.pages.len()), ("doc", 1));
    let text = &doc.pages[0].text;
    for expected in [
        "# Quarterly report\n\n# Summary\n\n",
        "See the [dashboard](https://example.com/dashboard) for details.",
        "## Plan\n\n1. Collect data\n2. Clean data\n",
        "| EMEA | 4.5 | 5.25 |",
        "Team photo: (May).",
        "# Comments\n\n- Ana Lima, on \"revenue rose 8%\": Is this audited?",
        "# Header\n\nACME Confidential",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    assert_eq!(
        extraction.notes,
        ["converted from DOC to DOCX with LibreOffice"]
    );
    // Word 97-2003 keeps the pictures (not their alt text).
    let sizes: Vec<(u32, u32)> = doc.images.iter().map(|i| (i.width, i.height)).collect();
    assert_eq!(sizes, [(120, 60), (64, 48), (16, 16)]);

    let deck = ok(&fixture("legacy.ppt"), "legacy.ppt");
    assert_eq!(deck.format, "ppt");
    let pages: Vec<&str> = deck.pages.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(
        pages,
        [
            "## Legacy deck\n\n- Converted by LibreOffice\n  - From PowerPoint 97-2003\n\n\
             Notes:\nOld but readable.",
            "## Numbers\n\n| Year | Units |\n| --- | --- |\n| 1999 | 42 |",
        ]
    );
    assert_eq!(deck.images.len(), 1);
    assert_eq!((deck.images[0].page_index, deck.images[0].width), (1, 120));
}

#[test]
fn legacy_files_without_libreoffice_fail_saying_what_to_do() {
    let without = FileExtractor::default().with_libreoffice(false);
    for (name, content_type, needle) in [
        ("legacy.doc", None, "save the file as .docx"),
        ("legacy.ppt", None, "save the file as .pptx"),
        ("upload", Some("application/msword"), "legacy Word 97-2003"),
        (
            "upload",
            Some("application/vnd.ms-powerpoint"),
            "legacy PowerPoint 97-2003",
        ),
    ] {
        let bytes = fixture(
            if content_type == Some("application/msword") || name.ends_with("doc") {
                "legacy.doc"
            } else {
                "legacy.ppt"
            },
        );
        match without.extract(ExtractInput::new(&bytes, name, content_type)) {
            Err(ExtractError::Unsupported(m)) => {
                assert!(m.contains(needle) && m.contains("LibreOffice"), "{m}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // A DOCX saved under a legacy name is read as what it is.
    let misnamed = without
        .extract(ExtractInput::new(
            &fixture("report.docx"),
            "report.doc",
            None,
        ))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(misnamed.format, "doc");
    assert!(misnamed.pages[0].text.starts_with("# Quarterly report"));
}

/// The compound file with one stream's bytes changed at `at`.
fn patched(bytes: &[u8], stream: &str, at: u64, new: &[u8]) -> Vec<u8> {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = cfb::CompoundFile::open(std::io::Cursor::new(bytes.to_vec()))
        .unwrap_or_else(|e| panic!("{e}"));
    {
        let mut s = file.open_stream(stream).unwrap_or_else(|e| panic!("{e}"));
        s.seek(SeekFrom::Start(at))
            .unwrap_or_else(|e| panic!("{e}"));
        s.write_all(new).unwrap_or_else(|e| panic!("{e}"));
    }
    file.flush().unwrap_or_else(|e| panic!("{e}"));
    file.into_inner().into_inner()
}

#[test]
fn password_protected_legacy_files_are_reported_as_encrypted() {
    // Word: fEncrypted (0x0100) in the FIB's flags, at byte 10.
    let doc = fixture("legacy.doc");
    let flags = {
        let mut file = cfb::CompoundFile::open(std::io::Cursor::new(&doc[..]))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut head = [0u8; 12];
        std::io::Read::read_exact(
            &mut file
                .open_stream("/WordDocument")
                .unwrap_or_else(|e| panic!("{e}")),
            &mut head,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        u16::from_le_bytes([head[10], head[11]])
    };
    assert_eq!(flags & 0x0100, 0);
    let locked = patched(&doc, "/WordDocument", 10, &(flags | 0x0100).to_le_bytes());
    // PowerPoint: the encrypted current-user token.
    let ppt = patched(
        &fixture("legacy.ppt"),
        "/Current User",
        12,
        &0xF3D1_C4DFu32.to_le_bytes(),
    );
    for (bytes, name) in [(&locked, "locked.doc"), (&ppt, "locked.ppt")] {
        // Known before LibreOffice would be asked.
        let without = FileExtractor::default().with_libreoffice(false);
        assert_eq!(
            without.extract(ExtractInput::new(bytes, name, None)),
            Err(ExtractError::Encrypted),
            "{name}"
        );
    }
}

#[test]
fn docx_charts_hyperlink_fields_and_footers_without_page_numbers() {
    // The chart part python-pptx wrote, drawn in a Word paragraph.
    let chart =
        String::from_utf8_lossy(&part_of("deck.pptx", "ppt/charts/chart1.xml")).into_owned();
    let drawing = r#"<w:p><w:r><w:drawing><wp:inline><wp:docPr id="1" name="Chart 1" descr="not an image"/><a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/chart"><c:chart xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" r:id="rId2"/></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"#;
    let field = r#"<w:p><w:r><w:t xml:space="preserve">See </w:t></w:r><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> HYPERLINK "https://example.com/spec" \o "tip" </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>the spec</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r><w:r><w:t>.</w:t></w:r></w:p>"#;
    let body = [
        w_para("", "Before the chart."),
        drawing.to_owned(),
        field.to_owned(),
        r#"<w:sectPr><w:footerReference w:type="default" r:id="rId3"/></w:sectPr>"#.to_owned(),
    ]
    .concat();
    let footer = format!(
        r#"<w:ftr {WML}><w:p><w:r><w:t xml:space="preserve">Page </w:t></w:r><w:fldSimple w:instr=" PAGE "><w:r><w:t>7</w:t></w:r></w:fldSimple><w:r><w:t xml:space="preserve"> of </w:t></w:r><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>NUMPAGES</w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>9</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r><w:r><w:t xml:space="preserve"> - Acme</w:t></w:r></w:p></w:ftr>"#
    );
    let bytes = docx(
        &body,
        &[
            (
                "word/_rels/document.xml.rels",
                rels(&[
                    ("rId2", "chart", "charts/chart1.xml"),
                    ("rId3", "footer", "footer1.xml"),
                ]),
            ),
            ("word/charts/chart1.xml", chart),
            ("word/footer1.xml", footer),
        ],
    );
    let doc = ok(&bytes, "chart.docx");
    assert_eq!(
        doc.pages[0].text,
        "Before the chart.\n\nChart: Sales by region\n\n\
         | Category | EMEA | APAC |\n| --- | --- | --- |\n\
         | Q1 | 4.5 | 3 |\n| Q2 | 5.25 | 3.5 |\n| Q3 | 6 | 4.25 |\n\n\
         See [the spec](https://example.com/spec).\n\n# Footer\n\nPage of - Acme"
    );
    assert!(doc.images.is_empty());
}

/// A picture in a header (a letterhead's crest) is offered to the visuals
/// step like one in the body, placed where the header's text is.
#[test]
fn docx_header_pictures_are_offered_too() {
    let doc = ok(&fixture("letterhead.docx"), "letterhead.docx");
    assert_eq!(doc.images.len(), 1, "{:?}", doc.images);
    let crest = &doc.images[0];
    assert_eq!(crest.alt.as_deref(), Some("Harbour Authority crest"));
    assert!(crest.data.starts_with(PNG));
    assert!(before(&doc, crest).ends_with("# Header\n\n![Harbour Authority crest](Picture1.png)"));
}

/// A page-range job of a split deck reads only its slides: the others are
/// empty pages (the count stays the deck's) and their pictures are not
/// loaded.
#[test]
fn a_pptx_page_range_reads_only_its_slides() {
    use rag_core::domain::job::PageRange;
    use rag_core::ports::{ExtractInput, Extractor};
    let bytes = fixture("deck.pptx");
    let read = |first, last| {
        rag_extract::FileExtractor::default()
            .extract(ExtractInput {
                pages: Some(PageRange { first, last }),
                ..ExtractInput::new(&bytes, "deck.pptx", None)
            })
            .unwrap_or_else(|e| panic!("{e:?}"))
    };
    let whole = ok(&bytes, "deck.pptx");
    let two = read(2, 2);
    assert_eq!(two.pages.len(), whole.pages.len());
    for (page, full) in two.pages.iter().zip(&whole.pages) {
        let expected = if page.number == Some(2) {
            full.text.as_str()
        } else {
            ""
        };
        assert_eq!(page.text, expected, "page {:?}", page.number);
    }
    // The logo is on slide 3.
    assert!(two.images.is_empty());
    assert_eq!(read(3, 4).images.len(), 1);
}
