//! Random and mangled inputs: extraction returns (text or an error) and
//! never panics or overflows its stack.

mod common;

use rag_extract::pdf::PdfEngine;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lopdf::{dictionary, Document, Object, Stream};
use rag_core::ports::ExtractError;

const EXTENSIONS: [&str; 16] = [
    "pdf", "html", "csv", "json", "txt", "docx", "pptx", "odt", "odp", "xlsx", "xls", "ods",
    "ipynb", "epub", "rss", "atom",
];
/// Office and EPUB readers may also find a mangled archive over a limit (a header
/// declaring gigabytes) or without slides.
const OFFICE: [&str; 8] = ["docx", "pptx", "odt", "odp", "xlsx", "xls", "ods", "epub"];

/// Counts the panics the extractor caught internally on its reader thread
/// (pdf-extract panics on malformed input; every one must be contained) and
/// keeps their messages out of the output; other panics are reported as usual.
fn count_reader_panics() -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("rag-extract") {
            seen.fetch_add(1, Ordering::Relaxed);
        } else {
            previous(info);
        }
    }));
    count
}

/// Some input: random bytes, random bytes behind a PDF header, random
/// markup-ish ASCII, a real PDF with bytes flipped, cut or duplicated, or an
/// Office document with one of its XML parts mangled that way (mangling the
/// zip itself mostly breaks its central directory, at the end), or with a
/// few bytes of the zip flipped.
fn input(lcg: &mut Lcg, pdfs: &[Vec<u8>], office: &[Vec<(String, Vec<u8>)>]) -> Vec<u8> {
    let len = 1 + lcg.below(4_096);
    match lcg.below(6) {
        0 => lcg.bytes(len),
        1 => {
            let mut bytes = b"%PDF-1.4\n".to_vec();
            bytes.extend(lcg.bytes(len));
            bytes
        }
        2 => {
            const ALPHABET: &[u8] = b"<>/\"'=,;|\t\n {}[]:0123456789abcdefhtmlp-.\\";
            (0..len)
                .map(|_| ALPHABET[lcg.below(ALPHABET.len())])
                .collect()
        }
        3 => {
            let mut bytes = pdfs[lcg.below(pdfs.len())].clone();
            mangle(lcg, &mut bytes);
            bytes
        }
        4 => {
            let mut parts = office[lcg.below(office.len())].clone();
            let at = lcg.below(parts.len());
            mangle(lcg, &mut parts[at].1);
            let files: Vec<(&str, &[u8])> =
                parts.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
            zip_of(&files)
        }
        _ => {
            let files: Vec<(&str, &[u8])> = office[lcg.below(office.len())]
                .iter()
                .map(|(n, b)| (n.as_str(), &b[..]))
                .collect();
            let mut bytes = zip_of(&files);
            for _ in 0..1 + lcg.below(4) {
                let at = lcg.below(bytes.len());
                bytes[at] = lcg.byte();
            }
            bytes
        }
    }
}

/// Flips, cuts or duplicates a few runs of bytes.
fn mangle(lcg: &mut Lcg, bytes: &mut Vec<u8>) {
    for _ in 0..1 + lcg.below(20) {
        let at = lcg.below(bytes.len());
        match lcg.below(3) {
            0 => bytes[at] = lcg.byte(),
            1 => {
                let end = (at + lcg.below(200)).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {
                let end = (at + lcg.below(200)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                let to = lcg.below(bytes.len());
                bytes.splice(to..to, copy);
            }
        }
        if bytes.is_empty() {
            bytes.push(b'<');
        }
    }
}

#[test]
fn random_inputs_never_panic() {
    let caught = count_reader_panics();
    let pdfs: Vec<Vec<u8>> = [
        "pdflatex-4-pages.pdf",
        "google-doc-document.pdf",
        "habibi.pdf",
        "multicolumn.pdf",
        "crazyones-pdfa.pdf",
    ]
    .iter()
    .map(|n| sample(n))
    .collect();
    let office: Vec<Vec<(String, Vec<u8>)>> = [
        deck(),
        handbook(),
        odf(
            "application/vnd.oasis.opendocument.presentation",
            TALK,
            None,
        ),
        odf("application/vnd.oasis.opendocument.text", MINUTES, None),
    ]
    .iter()
    .map(|zip| unzip(zip))
    .collect();
    let mut lcg = Lcg(0x5EED_2024);
    let (mut ok, mut failed) = (0, 0);
    for i in 0..200 {
        let bytes = input(&mut lcg, &pdfs, &office);
        for ext in EXTENSIONS {
            let name = format!("fuzz-{i}.{ext}");
            match extract(&bytes, &name) {
                Ok(doc) => {
                    ok += 1;
                    assert!(doc.pages.iter().all(|p| !p.text.contains('\0')), "{name}");
                }
                Err(
                    ExtractError::Unsupported(_)
                    | ExtractError::Corrupt { .. }
                    | ExtractError::Encrypted,
                ) => failed += 1,
                Err(ExtractError::LimitExceeded(_) | ExtractError::Empty)
                    if OFFICE.contains(&ext) =>
                {
                    failed += 1
                }
                Err(e) => panic!("{name}: unexpected {e:?}"),
            }
        }
        // No name or type to go by: read by its content (sniff.rs), which
        // may find any format, so any refusal is fine; a panic is not.
        let name = format!("fuzz-{i}");
        if let Ok(doc) = extract(&bytes, &name) {
            assert!(doc.pages.iter().all(|p| !p.text.contains('\0')), "{name}");
        }
    }
    println!(
        "{ok} extracted, {failed} refused, {} reader panics contained",
        caught.load(Ordering::Relaxed)
    );
    assert_eq!(ok + failed, 200 * EXTENSIONS.len());
}

#[test]
fn deep_nesting_does_not_overflow_the_stack_or_take_forever() {
    let started = Instant::now();
    let html = format!(
        "<p>start</p>{}deep &amp; nested{}",
        "<div>".repeat(100_000),
        "</div>".repeat(100_000)
    );
    assert_eq!(
        extract(&html.into_bytes(), "deep.html").map(|d| d.full_text()),
        Ok("start\n\ndeep & nested".to_owned())
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    let json = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        extract(json.as_bytes(), "deep.json"),
        Err(ExtractError::Corrupt { format: "JSON", .. })
    ));

    // An uncompressed object nested 50,000 arrays deep.
    let mut pdf = simple_pdf(&[&["nested"]]);
    let at = pdf.len() - 200;
    let nested = format!(
        "\n99 0 obj\n{}0{}\nendobj\n",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    pdf.splice(at..at, nested.into_bytes());
    match extract(&pdf, "deep.pdf") {
        Err(ExtractError::Corrupt {
            format: "PDF",
            detail,
        }) => assert!(detail.contains("nested too deeply"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

/// A stream of `[` nested `depth` deep, compressed (when that helps).
fn deep_stream(dict: lopdf::Dictionary, prefix: &str, depth: usize) -> Stream {
    let mut stream = Stream::new(
        dict,
        format!("{prefix}{}0{}", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
    );
    stream.compress().unwrap_or_else(|e| panic!("{e}"));
    stream
}

/// A one-page PDF with an object stream added as an incremental update
/// (lopdf's writer leaves object streams out), holding object 500: an array
/// nested `depth` deep.
fn pdf_with_object_stream(depth: usize) -> Vec<u8> {
    let mut bytes = simple_pdf(&[&["text"]]);
    let doc = Document::load_mem(&bytes).unwrap_or_else(|e| panic!("{e}"));
    let root = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .unwrap_or_else(|e| panic!("{e}"));
    let id = doc.max_id + 1;
    let header = "500 0 ";
    let objstm = deep_stream(dictionary! {}, header, depth);
    let offset = bytes.len() + 1;
    bytes.extend_from_slice(
        format!(
            "\n{id} 0 obj\n<< /Type /ObjStm /N 1 /First {} {} /Length {} >>\nstream\n",
            header.len(),
            if objstm.dict.has(b"Filter") {
                "/Filter /FlateDecode"
            } else {
                ""
            },
            objstm.content.len()
        )
        .as_bytes(),
    );
    bytes.extend_from_slice(&objstm.content);
    bytes.extend_from_slice(b"\nendstream\nendobj\n");
    let xref = bytes.len();
    bytes.extend_from_slice(
        format!(
            "xref\n{id} 1\n{offset:010} 00000 n\r\ntrailer\n<< /Size {} /Root {} {} R /Prev {} >>\nstartxref\n{xref}\n%%EOF\n",
            id + 1,
            root.0,
            root.1,
            doc.xref_start
        )
        .as_bytes(),
    );
    bytes
}

#[test]
fn deep_nesting_inside_compressed_streams_is_refused() {
    // A page whose (compressed) content stream nests 200,000 arrays deep:
    // that page is skipped, the others are read.
    let mut doc = Document::load_mem(&simple_pdf(&[&["kept page"], &["replaced"]]))
        .unwrap_or_else(|e| panic!("{e}"));
    let second = doc
        .get_pages()
        .get(&2)
        .copied()
        .unwrap_or_else(|| panic!("no page 2"));
    let content_id = doc.add_object(deep_stream(dictionary! {}, "", 200_000));
    if let Ok(Object::Dictionary(page)) = doc.get_object_mut(second) {
        page.set("Contents", content_id);
    }
    let extraction =
        extract_noted(&save(&mut doc), "deep-content.pdf").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(texts(&extraction), ["kept page", ""]);
    // PDFium reads the deep page safely as empty; the pure-Rust fallback
    // skips it and says why.
    let limits = rag_extract::Limits::default();
    let pure =
        rag_extract::pdf::extract_pdf(PdfEngine::PureRust, &save(&mut doc), None, None, &limits)
            .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        pure.notes,
        ["page 2: skipped, its content is nested too deeply"]
    );

    // An object stream hiding an object nested 200,000 arrays deep (plain
    // lopdf overflows the stack on it); the same with 10 levels is fine.
    let shallow = pdf_with_object_stream(10);
    assert!(
        Document::load_mem(&shallow).is_ok_and(|d| d.objects.contains_key(&(500, 0))),
        "bad test file"
    );
    assert_eq!(
        extract(&shallow, "shallow.pdf").map(|d| d.full_text()),
        Ok("text".to_owned())
    );
    let bytes = pdf_with_object_stream(200_000);
    // Whatever the engine, no crash: PDFium reads around it, the pure-Rust
    // reader refuses it.
    assert!(matches!(
        extract(&bytes, "deep-objstm.pdf"),
        Ok(_) | Err(ExtractError::Corrupt { .. })
    ));
    match rag_extract::pdf::extract_pdf(PdfEngine::PureRust, &bytes, None, None, &limits) {
        Err(ExtractError::Corrupt {
            format: "PDF",
            detail,
        }) => assert!(detail.contains("nested too deeply"), "{detail}"),
        other => panic!("{other:?}"),
    }
}
