//! PDF extraction on the real sample files and on PDFs built for a purpose:
//! through `FileExtractor` (PDFium, which `scripts/fetch-pdfium.sh` fetches
//! for the tests), and with each engine pinned where they differ; embedded
//! images, the text-layer check and page rendering.

mod common;

use std::time::Instant;

use common::*;
use lopdf::{
    dictionary, Document, EncryptionState, EncryptionVersion, Object, Permissions, Stream,
};
use rag_core::domain::job::PageRange;
use rag_core::ingest::chunking::TextKind;
use rag_core::ports::Extractor;
use rag_core::ports::{ExtractError, ExtractInput};
use rag_extract::pdf::{
    extract_pdf, pdf_has_text_layer, pdf_page_text_chars, pdfium_library, PdfEngine, PdfRenderer,
    RenderError,
};
use rag_extract::{Extraction, FileExtractor, Limits};

const ENGINES: [PdfEngine; 2] = [PdfEngine::Pdfium, PdfEngine::PureRust];

fn with_engine(
    engine: PdfEngine,
    bytes: &[u8],
    password: Option<&str>,
) -> Result<Extraction, ExtractError> {
    extract_pdf(engine, bytes, password, None, &Limits::default())
}

#[test]
fn pdfium_is_bound_for_the_tests() {
    // Without it every other test here would only exercise the fallback.
    let library = pdfium_library();
    assert!(
        library.is_ok(),
        "run scripts/fetch-pdfium.sh (or set PDFIUM_LIBRARY_PATH): {library:?}"
    );
    assert_eq!(PdfEngine::preferred(), PdfEngine::Pdfium);
}

fn pages_of(name: &str) -> Vec<String> {
    match extract(&sample(name), name) {
        Ok(doc) => {
            assert_eq!((doc.format, doc.kind), ("pdf", TextKind::Plain), "{name}");
            for (i, page) in doc.pages.iter().enumerate() {
                assert_eq!(page.number, Some(i as u32 + 1), "{name}");
            }
            doc.pages.into_iter().map(|p| p.text).collect()
        }
        Err(e) => panic!("{name}: {e:?}"),
    }
}

#[test]
fn a_page_range_reads_only_its_pages_and_keeps_the_page_count() {
    // A page-range job of a split document asks for its pages only; the
    // page count must stay the document's, so that the job can tell the
    // file did not change under it.
    let name = "pdflatex-4-pages.pdf";
    let bytes = sample(name);
    let range = PageRange { first: 2, last: 3 };
    for engine in ENGINES {
        let whole = with_engine(engine, &bytes, None).unwrap_or_else(|e| panic!("{e:?}"));
        let whole = texts(&whole);
        assert_eq!(whole.len(), 4, "{engine:?}");
        assert!(
            whole.iter().all(|t| !t.trim().is_empty()),
            "{engine:?}: {whole:?}"
        );
        let part = extract_pdf(engine, &bytes, None, Some(range), &Limits::default())
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(texts(&part), ["", whole[1], whole[2], ""], "{engine:?}");
    }
    let through_extractor = FileExtractor::default()
        .extract(ExtractInput {
            pages: Some(range),
            ..ExtractInput::new(&bytes, name, None)
        })
        .unwrap_or_else(|e| panic!("{e:?}"));
    let numbered: Vec<(Option<u32>, bool)> = through_extractor
        .pages
        .iter()
        .map(|p| (p.number, p.text.is_empty()))
        .collect();
    assert_eq!(
        numbered,
        [
            (Some(1), true),
            (Some(2), false),
            (Some(3), false),
            (Some(4), true)
        ]
    );
}

#[test]
fn a_range_is_held_to_the_page_limit_and_the_document_to_its_own() {
    let name = "pdflatex-4-pages.pdf";
    let bytes = sample(name);
    let limits = |max_pages, max_document_pages| Limits {
        max_pages,
        max_document_pages,
        ..Limits::default()
    };
    let middle = Some(PageRange { first: 2, last: 3 });
    for engine in ENGINES {
        let read = |wanted, limits: Limits| {
            extract_pdf(engine, &bytes, None, wanted, &limits).map(|e| e.document.pages.len())
        };
        let too_many = |what: &str| Err(ExtractError::LimitExceeded(what.to_owned()));
        // Read whole, all four pages count against the limit; read in a
        // range, only the range's two.
        assert_eq!(
            read(None, limits(2, 100)),
            too_many("4 pages, more than the 2 allowed")
        );
        assert_eq!(read(middle, limits(2, 100)), Ok(4), "{engine:?}");
        // A range past the end holds only the pages that exist.
        let tail = Some(PageRange { first: 3, last: 10 });
        assert_eq!(read(tail, limits(2, 100)), Ok(4), "{engine:?}");
        // Read in ranges, the document is held to its own limit.
        assert_eq!(
            read(middle, limits(2, 3)),
            too_many("4 pages, more than the 3 allowed")
        );
    }
}

#[test]
fn every_sample_has_its_page_count_or_is_refused_as_encrypted() {
    let listing = std::fs::read_to_string(format!("{PDF_DIR}/files.json"))
        .unwrap_or_else(|e| panic!("files.json: {e}"));
    let files: Vec<serde_json::Value> =
        serde_json::from_str(&listing).unwrap_or_else(|e| panic!("files.json: {e}"));
    assert!(files.len() >= 11, "{} files listed", files.len());
    let started = Instant::now();
    for file in &files {
        let name = file["path"].as_str().unwrap_or_default();
        let pages = file["pages"].as_u64().unwrap_or_default() as usize;
        let result = extract(&sample(name), name);
        if file["encrypted"].as_bool() == Some(true) {
            assert_eq!(result, Err(ExtractError::Encrypted), "{name}");
        } else {
            match result {
                Ok(doc) => assert_eq!(doc.pages.len(), pages, "{name}"),
                Err(e) => panic!("{name}: {e:?}"),
            }
        }
    }
    println!(
        "extracted {} sample PDFs in {:?}",
        files.len(),
        started.elapsed()
    );
}

#[test]
fn password_protected_pdf_is_encrypted() {
    let name = "libreoffice-writer-password.pdf";
    assert_eq!(extract(&sample(name), name), Err(ExtractError::Encrypted));
}

#[test]
fn password_protected_sample_opens_with_its_password() {
    // SOURCE.md gives the sample's user password.
    let bytes = sample("libreoffice-writer-password.pdf");
    let extractor = FileExtractor::default();
    for (password, opens) in [
        (None, false),
        (Some("wrong"), false),
        (Some("openpassword"), true),
    ] {
        let input = ExtractInput {
            password,
            ..ExtractInput::new(&bytes, "locked.pdf", None)
        };
        match extractor.extract(input) {
            Ok(doc) if opens => {
                assert_eq!(doc.pages.len(), 1);
                assert!(!doc.is_empty(), "{password:?}: no text");
            }
            Err(ExtractError::Encrypted) if !opens => {}
            other => panic!("{password:?}: {other:?}"),
        }
    }
    // lopdf cannot be given a password: the pure-Rust engine refuses it.
    assert_eq!(
        with_engine(PdfEngine::PureRust, &bytes, Some("openpassword")).map(|_| ()),
        Err(ExtractError::Encrypted)
    );
}

/// A one-page PDF encrypted (RC4, 128 bits) with a user password.
fn user_password_pdf(user: &str) -> Vec<u8> {
    let mut doc =
        Document::load_mem(&simple_pdf(&[&["Locked away text"]])).unwrap_or_else(|e| panic!("{e}"));
    let id = Object::String(
        b"0123456789abcdef".to_vec(),
        lopdf::StringFormat::Hexadecimal,
    );
    doc.trailer.set("ID", vec![id.clone(), id]);
    let version = EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner-secret",
        user_password: user,
        key_length: 128,
        permissions: Permissions::PRINTABLE,
    };
    let state = EncryptionState::try_from(version).unwrap_or_else(|e| panic!("{e}"));
    doc.encrypt(&state).unwrap_or_else(|e| panic!("{e}"));
    save(&mut doc)
}

#[test]
fn user_password_pdf_fails_clearly_or_opens_with_the_password() {
    let bytes = user_password_pdf("s3cret");
    for engine in ENGINES {
        for password in [None, Some(""), Some("wrong")] {
            assert_eq!(
                with_engine(engine, &bytes, password).map(|_| ()),
                Err(ExtractError::Encrypted),
                "{engine:?} {password:?}"
            );
        }
    }
    let read =
        with_engine(PdfEngine::Pdfium, &bytes, Some("s3cret")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&read), ["Locked away text"]);
    let input = ExtractInput {
        password: Some("s3cret"),
        ..ExtractInput::new(&bytes, "locked.pdf", None)
    };
    assert_eq!(
        FileExtractor::default()
            .extract(input)
            .map(|d| d.full_text()),
        Ok("Locked away text".to_owned())
    );
    // The message the user sees says what is wrong with the file.
    assert_eq!(
        extract(&bytes, "locked.pdf").map_err(|e| e.to_string()),
        Err("the document is encrypted or password-protected".to_owned())
    );
}

#[test]
fn latex_pages_each_have_their_text() {
    let pages = pages_of("pdflatex-4-pages.pdf");
    assert_eq!(pages.len(), 4);
    assert!(
        pages[0].starts_with("Hello, here is some text without a meaning."),
        "{}",
        pages[0]
    );
    for (i, page) in pages.iter().enumerate() {
        assert!(
            page.contains("“Huardest gefburn”? Kjift – not at all!"),
            "page {}: {page}",
            i + 1
        );
        assert!(
            page.len() > 2_000,
            "page {} is short: {}",
            i + 1,
            page.len()
        );
    }
    assert!(pages[3].contains("the length of words"));
}

#[test]
fn arabic_text_comes_out_as_arabic_letters() {
    let pages = pages_of("habibi.pdf");
    assert_eq!(pages.len(), 1);
    assert!(pages[0].contains("habibi"), "{}", pages[0]);
    assert!(
        pages[0]
            .chars()
            .filter(|c| ('\u{0600}'..='\u{06FF}').contains(c))
            .count()
            >= 10,
        "{}",
        pages[0]
    );
    // WeasyPrint maps a whole Arabic word to one glyph: both engines keep
    // its letters in reading order (PDFium reversed them before
    // pdfium_reader::glyph_order), so the word is found.
    for engine in [PdfEngine::PureRust, PdfEngine::Pdfium] {
        let read =
            with_engine(engine, &sample("habibi.pdf"), None).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            texts(&read)[0].contains("حَبيبي"),
            "{engine:?}: {}",
            texts(&read)[0]
        );
        assert!(
            !texts(&read)[0].contains("يبيبَح"),
            "{engine:?}: {}",
            texts(&read)[0]
        );
    }
}

#[test]
fn arabic_drawn_in_visual_order_reads_in_logical_order() {
    // "مرحبا بالعالم" drawn left to right as LibreOffice and HarfBuzz-based
    // producers draw it: PDFium puts it back in reading order.
    let bytes = mapped_font_pdf("ملاعلاب ابحرم");
    let read = with_engine(PdfEngine::Pdfium, &bytes, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&read), ["مرحبا بالعالم"]);
}

/// One line drawn in Helvetica through a ToUnicode map that gives each
/// distinct character a byte code, as producers of subset fonts write it.
fn mapped_font_pdf(line: &str) -> Vec<u8> {
    let mut codes: Vec<char> = Vec::new();
    let mut hex = String::new();
    for c in line.chars() {
        let code = if c == ' ' {
            0x20
        } else {
            let at = codes.iter().position(|&k| k == c).unwrap_or_else(|| {
                codes.push(c);
                codes.len() - 1
            });
            0x21 + at as u8
        };
        hex.push_str(&format!("{code:02X}"));
    }
    let mut cmap = format!(
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
         /CMapName /Mapped def 1 begincodespacerange <00> <FF> endcodespacerange\n\
         {} beginbfchar\n<20> <0020>\n",
        codes.len() + 1
    );
    for (i, c) in codes.iter().enumerate() {
        cmap.push_str(&format!("<{:02X}> <{:04X}>\n", 0x21 + i, *c as u32));
    }
    cmap.push_str("endbfchar\nendcmap CMapName currentdict /CMap defineresource pop end end");
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let cmap_id = doc.add_object(Stream::new(dictionary! {}, cmap.into_bytes()));
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "ToUnicode" => cmap_id,
    });
    let content = format!("BT /F1 12 Tf 72 720 Td <{hex}> Tj ET");
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
    one_page_doc(
        doc,
        pages_id,
        content_id,
        dictionary! { "Font" => dictionary! { "F1" => font_id } },
    )
}

/// Finishes a one-page document: the page (US Letter), its tree, the catalog.
fn one_page_doc(
    mut doc: Document,
    pages_id: lopdf::ObjectId,
    content_id: lopdf::ObjectId,
    resources: lopdf::Dictionary,
) -> Vec<u8> {
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "Resources" => resources,
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1 },
        ),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    save(&mut doc)
}

#[test]
fn two_column_text_reads_column_by_column() {
    let pages = pages_of("multicolumn.pdf");
    assert_eq!(pages.len(), 3);
    let first = &pages[0];
    assert!(
        first.starts_with("Two-Column Document with Lorem Ipsum"),
        "{first}"
    );
    assert!(
        first.contains("This is a sample document with two columns filled\nwith Lorem Ipsum text."),
        "{first}"
    );
    // The end of the left column comes before the start of the right one:
    // pdf-extract follows the content stream, which pdfTeX writes by column.
    let left_end = first
        .find("Pellentesque cursus luctus mauris.")
        .unwrap_or(usize::MAX);
    let right_start = first.find("Nulla malesuada porttitor diam.").unwrap_or(0);
    assert!(left_end < right_start, "columns interleaved:\n{first}");
    assert!(
        pages[2].contains("Table 1: EU Countries Information"),
        "{}",
        pages[2]
    );
    assert!(
        pages[2].contains("Czech Republic 10.7 78,866 Prague Czech"),
        "{}",
        pages[2]
    );
}

#[test]
fn text_of_other_producers() {
    let libre = pages_of("002-trivial-libre-office-writer.pdf");
    assert!(
        libre[0].starts_with("Lorem ipsum dolor sit amet, consetetur sadipscing elitr"),
        "{}",
        libre[0]
    );
    let crazy = pages_of("crazyones-pdfa.pdf");
    assert!(
        crazy[0].starts_with("The Crazy Ones\n\nOctober 14, 1998"),
        "{}",
        crazy[0]
    );
    assert!(
        crazy[0].contains("The misfits. The rebels. The troublemakers."),
        "{}",
        crazy[0]
    );
    let outline = pages_of("pdflatex-outline.pdf");
    assert!(
        outline[0].starts_with("Contents\n\n1 Foo 2"),
        "{}",
        outline[0]
    );
    let image = pages_of("pdflatex-image.pdf");
    assert!(
        image[0].starts_with("1 Your Chapter\n\nLorem ipsum"),
        "{}",
        image[0]
    );
}

#[test]
fn google_docs_words_are_not_split_by_missing_glyph_widths() {
    let google = pages_of("google-doc-document.pdf");
    let text = &google[0];
    assert!(
        text.starts_with("Example document\n\nBeautiful is better than ugly."),
        "{text}"
    );
    assert!(
        text.contains("Special cases aren't special enough to break the rules."),
        "{text}"
    );
    assert!(
        text.contains("Capital Jakarta Berlin Vienna Paris Vatican City"),
        "{text}"
    );
    // Flag icons are private-use code points: dropped.
    assert!(
        !text
            .chars()
            .any(|c| ('\u{F0000}'..='\u{10FFFF}').contains(&c)),
        "{text}"
    );
}

#[test]
fn image_only_pdf_with_a_broken_xref_table_gives_an_empty_page() {
    // grayscale-image.pdf's xref entries are 19 bytes instead of 20; its
    // only page is a picture, so there is no text.
    let name = "grayscale-image.pdf";
    let extraction = extract_noted(&sample(name), name).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(extraction.document.pages.len(), 1);
    assert!(extraction.document.is_empty());
    // The pure-Rust engine rebuilds the table itself, and says so (PDFium
    // repairs it silently).
    let pure =
        with_engine(PdfEngine::PureRust, &sample(name), None).unwrap_or_else(|e| panic!("{e}"));
    assert!(pure.document.is_empty());
    assert!(
        pure.notes
            .iter()
            .any(|n| n.contains("cross-reference table")),
        "{:?}",
        pure.notes
    );
}

#[test]
fn owner_password_only_pdf_is_read() {
    for (user, expected) in [("", Ok(())), ("secret", Err(ExtractError::Encrypted))] {
        let mut doc =
            Document::load_mem(&sample("minimal-document.pdf")).unwrap_or_else(|e| panic!("{e}"));
        let version = EncryptionVersion::V2 {
            document: &doc,
            owner_password: "owner-only",
            user_password: user,
            key_length: 128,
            permissions: Permissions::PRINTABLE,
        };
        let state = EncryptionState::try_from(version).unwrap_or_else(|e| panic!("{e}"));
        doc.encrypt(&state).unwrap_or_else(|e| panic!("{e}"));
        let bytes = save(&mut doc);
        match (extract(&bytes, "locked.pdf"), expected) {
            (Ok(doc), Ok(())) => {
                assert!(
                    doc.pages[0].text.starts_with("Lorem ipsum dolor sit amet"),
                    "{}",
                    doc.pages[0].text
                );
            }
            (got, expected) => assert_eq!(got.map(|_| ()), expected, "user password {user:?}"),
        }
    }
}

#[test]
fn generated_pages_cleaned_up() {
    let bytes = simple_pdf(&[
        &[
            "An exam-",
            "ple   of   spacing and a hyphen-",
            "Ending line.",
        ],
        &[],
        &["Last page"],
    ]);
    let extraction = extract_noted(&bytes, "made.pdf").unwrap_or_else(|e| panic!("{e:?}"));
    let pages = &extraction.document.pages;
    assert_eq!(pages.len(), 3);
    assert_eq!(
        pages[0].text,
        "An example of spacing and a hyphen-\nEnding line."
    );
    assert_eq!(pages[1].text, "");
    assert_eq!(pages[2].text, "Last page");
    assert_eq!(pages[2].number, Some(3));
    assert!(extraction.notes.is_empty(), "{:?}", extraction.notes);
}

#[test]
fn limits_refuse_long_documents() {
    let bytes = simple_pdf(&[&["one"], &["two"], &["three"]]);
    let input = ExtractInput::new(&bytes, "long.pdf", None);
    let pages = FileExtractor::new(Limits {
        max_pages: 2,
        ..Limits::default()
    });
    assert!(
        matches!(pages.extract(input), Err(ExtractError::LimitExceeded(m)) if m.contains("3 pages"))
    );
    let chars = FileExtractor::new(Limits {
        max_chars: 8,
        ..Limits::default()
    });
    assert!(matches!(
        chars.extract(input),
        Err(ExtractError::LimitExceeded(_))
    ));
    let enough = FileExtractor::new(Limits {
        max_pages: 3,
        max_chars: 11,
        ..Limits::default()
    });
    assert_eq!(
        enough.extract(input).map(|d| d.full_text()),
        Ok("one\n\ntwo\n\nthree".to_owned())
    );
}

#[test]
fn corrupt_pdfs_are_reported_as_corrupt() {
    let corrupt =
        |r: Result<_, ExtractError>| matches!(r, Err(ExtractError::Corrupt { format: "PDF", .. }));
    let mut lcg = Lcg(7);
    assert!(corrupt(extract(&lcg.bytes(5_000), "x.pdf")));
    assert!(corrupt(extract(b"%PDF-1.7\nnothing else", "x.pdf")));
    // Past the checks before parsing: each engine's parser refuses it.
    for engine in ENGINES {
        let parsed = with_engine(engine, b"%PDF-1.7\nnothing else\n%%EOF\n", None);
        assert!(corrupt(parsed.map(|e| e.document)), "{engine:?}");
    }
    assert!(corrupt(extract(b"<html>not a pdf</html>", "x.pdf")));
    for name in [
        "pdflatex-4-pages.pdf",
        "multicolumn.pdf",
        "002-trivial-libre-office-writer.pdf",
    ] {
        let bytes = sample(name);
        for cut in [bytes.len() / 2, bytes.len() - 100, 2_000] {
            let result = extract(&bytes[..cut], "truncated.pdf");
            assert!(corrupt(result.clone()), "{name} cut at {cut}: {result:?}");
            if cut == bytes.len() - 100 {
                assert!(
                    format!("{result:?}").contains("cut off"),
                    "{name}: {result:?}"
                );
            }
        }
    }
}

#[test]
fn self_drawing_form_is_skipped_not_a_stack_overflow() {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let form_id = doc.new_object_id();
    let xobjects = dictionary! { "X1" => form_id };
    let form = Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Form",
            "BBox" => vec![0.into(), 0.into(), 10.into(), 10.into()],
            "Resources" => dictionary! { "XObject" => xobjects.clone() },
        },
        b"/X1 Do".to_vec(),
    );
    doc.objects.insert(form_id, Object::Stream(form));
    let content_id = doc.add_object(Stream::new(dictionary! {}, b"/X1 Do".to_vec()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "Resources" => dictionary! { "XObject" => xobjects },
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1 },
        ),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let bytes = save(&mut doc);
    let extraction = extract_noted(&bytes, "loop.pdf").unwrap_or_else(|e| panic!("{e:?}"));
    assert!(extraction.document.is_empty());
    // pdf-extract would recurse forever: the pure-Rust engine skips the page.
    let pure = with_engine(PdfEngine::PureRust, &bytes, None).unwrap_or_else(|e| panic!("{e}"));
    assert!(pure.document.is_empty());
    assert_eq!(
        pure.notes,
        vec!["page 1: skipped, a form on it draws itself".to_owned()]
    );
}

#[test]
fn failing_page_keeps_the_others() {
    // Page 2 has no MediaBox anywhere, which pdf-extract panics on: the
    // pure-Rust engine keeps the other pages and notes the failure.
    let mut doc = Document::load_mem(&simple_pdf(&[
        &["first page"],
        &["second page"],
        &["third page"],
    ]))
    .unwrap_or_else(|e| panic!("{e}"));
    let pages = doc.get_pages();
    let second = pages
        .get(&2)
        .copied()
        .unwrap_or_else(|| panic!("no page 2"));
    if let Ok(Object::Dictionary(page)) = doc.get_object_mut(second) {
        page.remove(b"MediaBox");
    }
    let bytes = save(&mut doc);
    let pure = with_engine(PdfEngine::PureRust, &bytes, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&pure), ["first page", "", "third page"]);
    assert_eq!(pure.notes.len(), 1, "{:?}", pure.notes);
    assert!(
        pure.notes[0].starts_with("page 2: text could not be extracted fully"),
        "{:?}",
        pure.notes
    );
    // PDFium takes the default page size and reads all three.
    let extraction = extract_noted(&bytes, "gap.pdf").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        texts(&extraction),
        ["first page", "second page", "third page"]
    );
}

#[test]
fn pdf_by_mime_type_without_extension() {
    let bytes = simple_pdf(&[&["typed"]]);
    let doc =
        extract_typed(&bytes, "upload-123", "application/pdf").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.full_text(), "typed");
}

#[test]
fn text_drawn_twice_for_bold_comes_out_once() {
    // "Fake bold": the same line drawn twice, 0.4 pt apart.
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let content = "BT /F1 14 Tf 72 720 Td (Quarterly results) Tj ET \
                   BT /F1 14 Tf 72.4 720 Td (Quarterly results) Tj ET";
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.as_bytes().to_vec()));
    let resources = dictionary! { "Font" => dictionary! { "F1" => font_id } };
    let bytes = one_page_doc(doc, pages_id, content_id, resources);
    let doc = extract(&bytes, "bold.pdf").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.full_text(), "Quarterly results");
}

#[test]
fn footnote_marks_are_not_glued_to_numbers() {
    // Google Docs table cells with superscript footnote marks: "273.879.750"
    // followed by a raised "1" must not read as 273.879.7501.
    let text = pages_of("google-doc-document.pdf").join("\n");
    assert!(text.contains("273.879.750"), "{text}");
    assert!(!text.contains("273.879.7501"), "{text}");
    assert!(text.contains("2020 estimate"), "{text}");
    assert!(!text.contains("32020 estimate"), "{text}");
}

// ---------------------------------------------------------------- images

/// A one-page PDF drawing gray images of the given sizes (raw 8-bit
/// samples, a gradient so they are not blank), each inside a form XObject
/// when `in_form`.
fn pdf_with_images(sizes: &[(u32, u32)], in_form: bool) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let mut xobjects = lopdf::Dictionary::new();
    let mut content = String::new();
    for (i, &(w, h)) in sizes.iter().enumerate() {
        let pixels: Vec<u8> = (0..w * h).map(|p| ((p % w) * 255 / w) as u8).collect();
        let image = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image",
                "Width" => i64::from(w), "Height" => i64::from(h),
                "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
            },
            pixels,
        ));
        let name = format!("Im{i}");
        let drawn = if in_form {
            doc.add_object(Stream::new(
                dictionary! {
                    "Type" => "XObject", "Subtype" => "Form",
                    "BBox" => vec![0.into(), 0.into(), 1.into(), 1.into()],
                    "Resources" => dictionary! { "XObject" => dictionary! { "I" => image } },
                },
                b"/I Do".to_vec(),
            ))
        } else {
            image
        };
        xobjects.set(name.as_bytes(), drawn);
        content.push_str(&format!(
            "q {w} 0 0 {h} 72 {} cm /{name} Do Q\n",
            100 + i * 150
        ));
    }
    content.push_str("BT /F1 12 Tf 72 720 Td (Caption text) Tj ET");
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
    let resources = dictionary! {
        "XObject" => xobjects,
        "Font" => dictionary! { "F1" => font_id },
    };
    one_page_doc(doc, pages_id, content_id, resources)
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(data: &[u8]) -> (u32, u32) {
    assert!(
        data.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {:?}",
        &data[..data.len().min(8)]
    );
    let be = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    (be(16), be(20))
}

#[test]
fn embedded_images_come_out_as_png_and_icons_are_skipped() {
    for in_form in [false, true] {
        let bytes = pdf_with_images(&[(16, 16), (40, 33), (31, 200)], in_form);
        let doc = extract(&bytes, "images.pdf").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(doc.full_text(), "Caption text");
        // 16x16 and 31x200 are under 32 px on a side.
        assert_eq!(doc.images.len(), 1, "in form: {in_form}: {:?}", doc.images);
        let image = &doc.images[0];
        assert_eq!((image.width, image.height), (40, 33));
        assert_eq!(png_size(&image.data), (40, 33));
        assert_eq!(image.media_type, "image/png");
        assert_eq!(image.page_index, 0);
        assert_eq!(image.offset, doc.pages[0].text.len());
        assert_eq!(image.alt, None);
        // The pixels survive: a PNG decoder reads the gradient back.
        let decoder = png::Decoder::new(std::io::Cursor::new(&image.data));
        let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("{e}"));
        let mut pixels = vec![0; reader.output_buffer_size().unwrap_or(0)];
        let info = reader
            .next_frame(&mut pixels)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(&pixels[..3], &[0, 6, 12]);
    }
}

#[test]
fn image_limits_leave_images_out_with_a_note() {
    let bytes = pdf_with_images(&[(40, 33), (50, 50)], false);
    let read = |limits: Limits| {
        FileExtractor::new(limits)
            .extract_with_notes(ExtractInput::new(&bytes, "images.pdf", None))
            .unwrap_or_else(|e| panic!("{e:?}"))
    };
    let all = read(Limits::default());
    assert_eq!(all.document.images.len(), 2);
    let first = all.document.images[0].data.len() as u64;

    // Room for the first image only: the second is left out, the text kept.
    let budget = read(Limits {
        max_image_bytes: first + 10,
        ..Limits::default()
    });
    assert_eq!(budget.document.images, all.document.images[..1]);
    assert_eq!(budget.document.full_text(), "Caption text");
    assert_eq!(
        budget.notes,
        [format!(
            "page 1: images from here on were left out (more than {} bytes of images)",
            first + 10
        )]
    );

    // 40x33 = 1320 pixels fits, 50x50 = 2500 does not.
    let pixels = read(Limits {
        max_image_pixels: 2_000,
        ..Limits::default()
    });
    assert_eq!(pixels.document.images, all.document.images[..1]);
    assert_eq!(
        pixels.notes,
        ["page 1: a 50x50 image was left out (too large to decode)"]
    );
}

#[test]
fn sample_images_are_extracted_with_their_pixel_sizes() {
    for (name, size) in [
        ("grayscale-image.pdf", None),
        ("pdflatex-image.pdf", None),
        ("minimal-document.pdf", Some(0)),
    ] {
        let doc = extract(&sample(name), name).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        match size {
            Some(count) => assert_eq!(doc.images.len(), count, "{name}"),
            None => {
                assert_eq!(doc.images.len(), 1, "{name}: {:?}", doc.images);
                let image = &doc.images[0];
                assert!(image.width >= 32 && image.height >= 32, "{name}: {image:?}");
                assert_eq!(png_size(&image.data), (image.width, image.height), "{name}");
            }
        }
    }
}

#[test]
fn the_pure_rust_engine_reads_text_only() {
    let bytes = pdf_with_images(&[(40, 40)], false);
    let pure = with_engine(PdfEngine::PureRust, &bytes, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&pure), ["Caption text"]);
    assert!(pure.document.images.is_empty());
}

// ---------------------------------------------------------------- text layer

#[test]
fn text_layer_tells_scans_from_text() {
    assert_eq!(
        pdf_has_text_layer(&sample("pdflatex-4-pages.pdf"), None),
        Ok(true)
    );
    // A picture of a page and nothing else.
    assert_eq!(
        pdf_has_text_layer(&sample("grayscale-image.pdf"), None),
        Ok(false)
    );
    // A page number is not a text layer.
    assert_eq!(
        pdf_has_text_layer(&simple_pdf(&[&["12"], &[], &["13"]]), None),
        Ok(false)
    );
    let counts = pdf_page_text_chars(&sample("pdflatex-4-pages.pdf"), None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts.len(), 4);
    assert!(counts.iter().all(|&c| c > 1_500), "{counts:?}");
    let counts = pdf_page_text_chars(&simple_pdf(&[&["a b c"], &[], &["hello"]]), None);
    assert_eq!(counts, Ok(vec![3, 0, 5]));
    let locked = sample("libreoffice-writer-password.pdf");
    assert_eq!(
        pdf_has_text_layer(&locked, None),
        Err(ExtractError::Encrypted)
    );
    assert_eq!(pdf_has_text_layer(&locked, Some("openpassword")), Ok(true));
    assert!(matches!(
        pdf_has_text_layer(b"<html></html>", None),
        Err(ExtractError::Corrupt { .. })
    ));
}

// ---------------------------------------------------------------- rendering

/// Pixel size and whether any pixel is dark (something was drawn).
fn decode_png(data: &[u8]) -> ((u32, u32), bool) {
    let decoder = png::Decoder::new(std::io::Cursor::new(data));
    let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("{e}"));
    let mut pixels = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader
        .next_frame(&mut pixels)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let dark = pixels[..info.buffer_size()].iter().any(|&v| v < 128);
    ((info.width, info.height), dark)
}

#[test]
fn pages_render_at_the_requested_dpi() {
    // US Letter, 612 x 792 points.
    let renderer = PdfRenderer::from_bytes(simple_pdf(&[&["Rendered words"]]), None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(renderer.page_count(), 1);
    for (dpi, size) in [
        (72.0, (612, 792)),
        (144.0, (1224, 1584)),
        (100.0, (850, 1100)),
    ] {
        let page = renderer
            .render_png(1, dpi)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((page.page, page.width, page.height), (1, size.0, size.1));
        let (decoded, dark) = decode_png(&page.png);
        assert_eq!(decoded, size, "{dpi} dpi");
        assert!(dark, "{dpi} dpi: nothing drawn");
    }

    // A sample page (A4): the size follows from its size in points.
    let renderer = PdfRenderer::from_bytes(sample("minimal-document.pdf"), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let (w, h) = renderer.page_size(1).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        (w - 595.3).abs() < 1.0 && (h - 841.9).abs() < 1.0,
        "{w}x{h}"
    );
    for dpi in [72.0f32, 144.0] {
        let page = renderer
            .render_png(1, dpi)
            .unwrap_or_else(|e| panic!("{e}"));
        let expected = (
            (w * dpi / 72.0).round() as u32,
            (h * dpi / 72.0).round() as u32,
        );
        assert_eq!(decode_png(&page.png).0, expected, "{dpi} dpi");
    }
}

#[test]
fn pages_render_one_at_a_time_from_a_file() {
    let path = std::env::temp_dir().join(format!("rag-extract-render-{}.pdf", std::process::id()));
    std::fs::write(&path, sample("pdflatex-4-pages.pdf")).unwrap_or_else(|e| panic!("{e}"));
    let renderer = PdfRenderer::from_file(&path, None);
    let _ = std::fs::remove_file(&path);
    let renderer = renderer.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(renderer.page_count(), 4);
    for n in 1..=4 {
        let page = renderer
            .render_png(n, 50.0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.page, n);
        assert!(decode_png(&page.png).1, "page {n} blank");
    }
}

#[test]
fn rendering_refuses_bad_requests_clearly() {
    let renderer = PdfRenderer::from_bytes(simple_pdf(&[&["a"], &["b"]]), None)
        .unwrap_or_else(|e| panic!("{e}"));
    for page in [0, 3] {
        assert_eq!(
            renderer.render_png(page, 72.0),
            Err(RenderError::NoSuchPage { page, count: 2 })
        );
    }
    for dpi in [0.0, -72.0, f32::NAN, 601.0] {
        assert!(
            matches!(renderer.render_png(1, dpi), Err(RenderError::Dpi(_))),
            "{dpi}"
        );
    }
    // 600 dpi of a 200-inch page is far over the pixel limit.
    let mut doc = Document::load_mem(&simple_pdf(&[&["huge"]])).unwrap_or_else(|e| panic!("{e}"));
    for (_, id) in doc.get_pages() {
        if let Ok(Object::Dictionary(page)) = doc.get_object_mut(id) {
            page.set(
                "MediaBox",
                vec![0.into(), 0.into(), 14_400.into(), 14_400.into()],
            );
        }
    }
    let huge = PdfRenderer::from_bytes(save(&mut doc), None).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        huge.render_png(1, 600.0),
        Err(RenderError::TooLarge { page: 1, .. })
    ));

    let locked = sample("libreoffice-writer-password.pdf");
    assert!(matches!(
        PdfRenderer::from_bytes(locked.clone(), None),
        Err(RenderError::Document(ExtractError::Encrypted))
    ));
    let opened = PdfRenderer::from_bytes(locked, Some("openpassword"));
    assert!(opened.is_ok_and(|r| r.page_count() == 1));
    assert!(matches!(
        PdfRenderer::from_bytes(b"not a pdf".to_vec(), None),
        Err(RenderError::Document(ExtractError::Corrupt { .. }))
    ));
}

#[test]
fn threads_share_pdfium_safely() {
    // PDFium is not thread-safe: extraction and rendering from several
    // threads at once must give what they give alone.
    let bytes = sample("multicolumn.pdf");
    let alone = extract(&bytes, "multicolumn.pdf").unwrap_or_else(|e| panic!("{e:?}"));
    let renderer = PdfRenderer::from_bytes(bytes.clone(), None).unwrap_or_else(|e| panic!("{e}"));
    let rendered = renderer
        .render_png(2, 50.0)
        .unwrap_or_else(|e| panic!("{e}"));
    std::thread::scope(|scope| {
        for i in 0..4 {
            let (bytes, alone, renderer, rendered) = (&bytes, &alone, &renderer, &rendered);
            scope.spawn(move || {
                for _ in 0..3 {
                    if i % 2 == 0 {
                        let again = extract(bytes, "multicolumn.pdf");
                        assert_eq!(again.as_ref(), Ok(alone));
                    } else {
                        let again = renderer.render_png(2, 50.0);
                        assert_eq!(again.as_ref(), Ok(rendered));
                    }
                }
            });
        }
    });
}
