//! PDF extraction on the real sample files and on PDFs built for a purpose.

mod common;

use std::time::Instant;

use common::*;
use lopdf::{
    dictionary, Document, EncryptionState, EncryptionVersion, Object, Permissions, Stream,
};
use rag_core::chunking::TextKind;
use rag_core::extraction::{ExtractError, ExtractInput};
use rag_core::ports::Extractor;
use rag_extract::{FileExtractor, Limits};

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
    assert!(pages[0].contains("حَبيبي"), "{}", pages[0]);
    assert!(
        pages[0]
            .chars()
            .filter(|c| ('\u{0600}'..='\u{06FF}').contains(c))
            .count()
            >= 10,
        "{}",
        pages[0]
    );
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
    // grayscale-image.pdf's xref entries are 19 bytes instead of 20: the
    // table is rebuilt; its only page is a picture, so there is no text.
    let name = "grayscale-image.pdf";
    let extraction = extract_noted(&sample(name), name).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(extraction.document.pages.len(), 1);
    assert!(extraction.document.is_empty());
    assert!(
        extraction
            .notes
            .iter()
            .any(|n| n.contains("cross-reference table")),
        "{:?}",
        extraction.notes
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
    let extraction = extract_noted(&save(&mut doc), "loop.pdf").unwrap_or_else(|e| panic!("{e:?}"));
    assert!(extraction.document.is_empty());
    assert_eq!(
        extraction.notes,
        vec!["page 1: skipped, a form on it draws itself".to_owned()]
    );
}

#[test]
fn failing_page_keeps_the_others() {
    // Page 2 has no MediaBox anywhere, which pdf-extract panics on.
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
    let extraction = extract_noted(&save(&mut doc), "gap.pdf").unwrap_or_else(|e| panic!("{e:?}"));
    let texts: Vec<&str> = extraction
        .document
        .pages
        .iter()
        .map(|p| p.text.as_str())
        .collect();
    assert_eq!(texts, ["first page", "", "third page"]);
    assert_eq!(extraction.notes.len(), 1, "{:?}", extraction.notes);
    assert!(
        extraction.notes[0].starts_with("page 2: text could not be extracted fully"),
        "{:?}",
        extraction.notes
    );
}

#[test]
fn pdf_by_mime_type_without_extension() {
    let bytes = simple_pdf(&[&["typed"]]);
    let doc =
        extract_typed(&bytes, "upload-123", "application/pdf").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.full_text(), "typed");
}
