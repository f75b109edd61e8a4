//! E-mail: RFC 822/MIME (.eml) and Outlook (.msg) messages made by real
//! producers (Python's `email` package, aspose-email-foss for .msg; see
//! tests/fixtures/email/make_fixtures.py), with their attachments.

use rag_core::ingest::chunking::TextKind;
use rag_core::ports::Extractor;
use rag_core::ports::{ExtractError, ExtractInput, ExtractedDocument};
use rag_extract::{Extraction, FileExtractor, Limits};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/email");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn read(name: &str) -> Extraction {
    FileExtractor::default()
        .extract_with_notes(ExtractInput::new(&fixture(name), name, None))
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

fn has_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn latin1_quoted_printable_message() {
    let read = read("latin1.eml");
    let doc = read.document;
    assert_eq!((doc.kind, doc.format), (TextKind::Markdown, "eml"));
    assert_eq!(doc.pages.len(), 1);
    assert_eq!(doc.pages[0].number, None);
    let text = &doc.pages[0].text;
    // Encoded words (=?iso-8859-1?q?...?=) and the quoted-printable Latin-1
    // body, decoded.
    assert!(
        text.starts_with("# Réunion budgétaire à Genève\n\n"),
        "{text}"
    );
    has_all(
        text,
        &[
            "- **From:** Frédéric Müller <frederic.muller@example.fr>",
            "- **To:** Équipe Finance <finance@example.fr>, ops@example.fr",
            "- **Date:** 2024-05-14T09:30:00+02:00",
            "- **Subject:** Réunion budgétaire à Genève",
            "la réunion budgétaire aura lieu jeudi à Genève, salle «Léman».",
            "prévisions détaillées pour l'année fiscale.",
        ],
    );
    assert!(!text.contains("=E9") && !text.contains("=?"), "{text}");
    assert!(!text.contains("Attachments"), "{text}");
    assert!(read.notes.is_empty(), "{:?}", read.notes);
}

#[test]
fn utf8_subject_plain_body_and_attachments_as_pages() {
    let ocr = rag_extract::Ocr::from_env();
    assert!(
        ocr.available(),
        "Tesseract ('{}') cannot be run: run scripts/sysdeps.sh to install it",
        ocr.program().display()
    );
    let read = read("attachments.eml");
    let doc = read.document;
    let message = &doc.pages[0].text;
    // =?UTF-8?B?...?= subject; the plain part wins over the HTML one.
    assert!(
        message.starts_with("# Quartalsbericht Q3 – Übersicht ✓\n\n"),
        "{message}"
    );
    has_all(
        message,
        &[
            "- **From:** Jürgen Weiß <juergen.weiss@example.de>",
            "- **To:** Board <board@example.de>, Anna Schmidt <anna@example.de>",
            "- **Cc:** Controlling <controlling@example.de>",
            "- **Date:** 2024-10-02T18:45:12+02:00",
            "Der Umsatz stieg um 12 %.",
            "## Attachments\n\n",
            "- report-q3.pdf (application/pdf, ",
            // RFC 2231 file name.
            "- Notizen für Q3.txt (text/plain, ",
            "- harvest-chart.png (image/png, ",
            "- logo.png (image/png, 96 bytes)",
            "- backup.zip (application/zip, 22 bytes)",
            "- supplier-quote.eml (message/rfc822, ",
        ],
    );
    assert!(!message.contains("HTML-ONLY-MARKER"), "{message}");

    // Then the attachments the extractor reads, each headed by its name:
    // the PDF's two pages, the text file, the image with text (OCR), the
    // forwarded message. The blank image (no text, no description) and the
    // zip are only listed.
    let texts: Vec<&str> = doc.pages.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts.len(), 6, "{texts:#?}");
    assert!(
        texts[1].starts_with("# Attachment: report-q3.pdf\n\n"),
        "{}",
        texts[1]
    );
    has_all(texts[1], &["revenue grew twelve percent"]);
    has_all(texts[2], &["the Lisbon warehouse opened in August"]);
    assert!(!texts[2].contains("# Attachment"), "{}", texts[2]);
    assert!(texts[3].starts_with("# Attachment: Notizen für Q3.txt\n\n"));
    has_all(texts[3], &["Action items: renew the forklift lease."]);
    assert!(
        texts[4].starts_with("# Attachment: harvest-chart.png\n\nOrchard statistics 2024"),
        "{}",
        texts[4]
    );
    has_all(
        texts[4],
        &["The quarterly harvest report shows record apple yields"],
    );
    // The forwarded message, as a message; its own attachment is listed,
    // not read (depth 1).
    has_all(
        texts[5],
        &[
            "# Attachment: supplier-quote.eml\n\n# Original supplier quote",
            "- **From:** Supplier Sales <sales@supplier.example>",
            "Our quote for 400 pallets is attached.",
            "- quote-details.txt (text/plain, ",
        ],
    );
    assert!(!doc.full_text().contains("Pallet unit price"));
    let numbers: Vec<_> = doc.pages.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6].map(Some));
    // Both images go to the visuals step: the chart where its page starts,
    // the blank one where the list names it.
    let images: Vec<_> = doc
        .images
        .iter()
        .map(|i| (i.page_index, i.media_type.as_str(), i.alt.as_deref()))
        .collect();
    assert_eq!(
        images,
        [(0, "image/png", Some("logo.png")), (4, "image/png", None)]
    );
    let logo = &doc.images[0];
    assert!(message[..logo.offset].ends_with("- logo.png (image/png, 96 bytes)"));
    assert_eq!((logo.width, logo.height), (64, 48));
    let chart = &doc.images[1];
    assert_eq!(
        &texts[4][..chart.offset],
        "# Attachment: harvest-chart.png\n\n"
    );
    assert_eq!((chart.width, chart.height), (1415, 192));
    // Why the blank PNG gave nothing is noted, not shown.
    assert!(
        read.notes.iter().any(|n| n.contains("logo.png")),
        "{:?}",
        read.notes
    );
}

#[test]
fn html_only_message_goes_through_the_html_reader() {
    let doc = read("html-only.eml").document;
    let text = &doc.pages[0].text;
    has_all(
        text,
        &[
            "# Spring newsletter\n\n- **From:** Garden Club <club@garden.example>",
            "[community garden](https://example.org/garden) opens on April 6.",
            "Seed swap at ten",
            "Compost workshop at noon",
        ],
    );
    assert!(!text.contains("trackOpen"), "{text}");
    assert!(!text.contains("color:red"), "{text}");
    assert!(!text.contains("<p>"), "{text}");
}

#[test]
fn outlook_msg_with_recipients_and_attachments() {
    let read = read("meeting.msg");
    let doc = read.document;
    assert_eq!((doc.kind, doc.format), (TextKind::Markdown, "msg"));
    let message = &doc.pages[0].text;
    assert!(
        message.starts_with("# Project kickoff – agenda & rooms\n\n"),
        "{message}"
    );
    has_all(
        message,
        &[
            "- **From:** Alice Example <alice@example.com>",
            "- **To:** Bob Builder <bob@example.com>, Carol Díaz <carol@example.org>",
            "- **Cc:** Dan Ortega <dan@example.net>",
            "- **Date:** 2024-05-14T07:30:00Z",
            "- **Subject:** Project kickoff – agenda & rooms",
            "The kickoff is on Thursday in room Aurora.",
            "Please read the attached agenda before the meeting.",
            "- agenda.txt (text/plain, ",
            "- budget.pdf (application/pdf, ",
            "- Room booking confirmed.msg (application/vnd.ms-outlook)",
        ],
    );
    let texts: Vec<&str> = doc.pages.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts.len(), 4, "{texts:#?}");
    has_all(
        texts[1],
        &["# Attachment: agenda.txt", "2. Budget sign-off"],
    );
    has_all(
        texts[2],
        &["# Attachment: budget.pdf", "Kickoff budget: 48,000 EUR"],
    );
    has_all(
        texts[3],
        &[
            "# Attachment: Room booking confirmed.msg\n\n# Room booking confirmed",
            "- **From:** Facilities <facilities@example.com>",
            "Room Aurora is booked for Thursday 10:00.",
        ],
    );
    assert!(read.notes.is_empty(), "{:?}", read.notes);
}

#[test]
fn outlook_msg_with_8_bit_strings_and_an_html_body() {
    let doc = read("ansi.msg").document;
    let text = &doc.pages[0].text;
    // PT_STRING8 in Windows-1252 (the en dash is 0x96 there).
    assert!(
        text.starts_with("# Café crème – prix révisés\n\n"),
        "{text}"
    );
    has_all(
        text,
        &[
            "- **From:** Hélène Lefèvre <helene@example.fr>",
            "- **To:** Équipe salle <equipe@example.fr>",
            "## Tarifs",
            "Le café crème passe à **3,20 €** dès lundi.",
        ],
    );
}

#[test]
fn routed_by_mime_type_and_by_content() {
    let eml = fixture("latin1.eml");
    let doc = FileExtractor::default()
        .extract(ExtractInput::new(&eml, "upload", Some("message/rfc822")))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.format, "eml");
    let msg = fixture("meeting.msg");
    let doc = FileExtractor::default()
        .extract(ExtractInput::new(
            &msg,
            "upload",
            Some("application/vnd.ms-outlook"),
        ))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.format, "msg");
    // An Outlook file saved as .eml, and a MIME message saved as .msg.
    let swapped = |bytes: &[u8], name: &str| -> ExtractedDocument {
        FileExtractor::default()
            .extract(ExtractInput::new(bytes, name, None))
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
    };
    assert!(swapped(&msg, "meeting.eml").pages[0]
        .text
        .starts_with("# Project kickoff"));
    assert!(swapped(&eml, "latin1.msg").pages[0]
        .text
        .starts_with("# Réunion budgétaire"));
}

#[test]
fn attachments_count_against_the_limits() {
    let bytes = fixture("attachments.eml");
    let extract = |limits: Limits| {
        FileExtractor::new(limits).extract(ExtractInput::new(&bytes, "a.eml", None))
    };
    match extract(Limits {
        max_pages: 3,
        ..Limits::default()
    }) {
        Err(ExtractError::LimitExceeded(why)) => assert!(why.contains("3 pages"), "{why}"),
        other => panic!("{other:?}"),
    }
    match extract(Limits {
        max_chars: 1_000,
        ..Limits::default()
    }) {
        Err(ExtractError::LimitExceeded(why)) => assert!(why.contains("characters"), "{why}"),
        other => panic!("{other:?}"),
    }
    // An attachment over a limit fails the whole message.
    match extract(Limits {
        max_image_pixels: 100_000,
        ..Limits::default()
    }) {
        Err(ExtractError::LimitExceeded(why)) => {
            assert!(why.starts_with("attachment 'harvest-chart.png': "), "{why}")
        }
        other => panic!("{other:?}"),
    }
    let msg = fixture("meeting.msg");
    let small = Limits {
        max_archive_bytes: 1_000,
        ..Limits::default()
    };
    match FileExtractor::new(small).extract(ExtractInput::new(&msg, "m.msg", None)) {
        Err(ExtractError::LimitExceeded(why)) => assert!(why.contains("1000 bytes"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn broken_messages_fail_clearly() {
    let fail = |bytes: &[u8], name: &str| match FileExtractor::default()
        .extract(ExtractInput::new(bytes, name, None))
    {
        Err(ExtractError::Corrupt { detail, .. }) => detail,
        other => panic!("{name}: {other:?}"),
    };
    let why = fail(b"just some words, no headers at all\n", "note.eml");
    assert!(why.contains("header"), "{why}");
    // An OLE file that is not an Outlook message (no property streams).
    let mut ole = std::io::Cursor::new(Vec::new());
    cfb::CompoundFile::create(&mut ole)
        .and_then(|mut f| f.create_stream("/WordDocument").map(|_| ()))
        .unwrap_or_else(|e| panic!("{e}"));
    let why = fail(ole.get_ref(), "word.msg");
    assert!(why.contains("no message properties"), "{why}");
    let mut msg = fixture("meeting.msg");
    msg.truncate(3_000);
    assert!(matches!(
        FileExtractor::default().extract(ExtractInput::new(&msg, "cut.msg", None)),
        Err(ExtractError::Corrupt { .. })
    ));
}

#[test]
fn mangled_messages_never_panic() {
    for name in ["attachments.eml", "meeting.msg", "ansi.msg"] {
        let bytes = fixture(name);
        let mut seed = 0x2545_f491_u32;
        for round in 0..40 {
            let mut mangled = bytes.clone();
            for _ in 0..(1 + round % 8) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = seed as usize % mangled.len();
                mangled[at] = (seed >> 8) as u8;
            }
            // Any result but a panic (contained as Corrupt) or a hang.
            let _ = FileExtractor::default()
                .with_ocr(false)
                .extract(ExtractInput::new(&mangled, name, None));
        }
    }
}
