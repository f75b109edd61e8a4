//! Images: OCR with Tesseract (installed by scripts/sysdeps.sh), the EXIF
//! description when OCR is off or finds nothing, the decompression-bomb
//! guard. Fixtures: tests/fixtures/images/make_fixtures.py (Pillow).

use std::time::{Duration, Instant};

use rag_core::ingest::chunking::TextKind;
use rag_core::ports::Extractor;
use rag_core::ports::{ExtractError, ExtractInput, ExtractedDocument};
use rag_extract::{FileExtractor, Limits, Ocr, OcrError};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/images");
const WORDS: &[&str] = &[
    "quarterly",
    "harvest",
    "report",
    "shows",
    "record",
    "apple",
    "yields",
];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Tesseract must be there: the OCR tests do not skip.
fn require_tesseract() {
    let ocr = Ocr::from_env();
    assert!(
        ocr.available(),
        "Tesseract ('{}') cannot be run: run scripts/sysdeps.sh to install it \
         (or set RAG_TESSERACT to its path)",
        ocr.program().display()
    );
}

fn extract(extractor: FileExtractor, name: &str) -> Result<ExtractedDocument, ExtractError> {
    extractor.extract(ExtractInput::new(&fixture(name), name, None))
}

#[test]
fn ocr_reads_the_sentence_in_every_format() {
    require_tesseract();
    for (name, media_type) in [
        ("sentence.png", "image/png"),
        ("sentence.tif", "image/tiff"),
        ("sentence.bmp", "image/bmp"),
        ("sentence.gif", "image/gif"),
        ("sentence.webp", "image/webp"),
    ] {
        let doc =
            extract(FileExtractor::default(), name).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!((doc.kind, doc.format), (TextKind::Markdown, "image"));
        assert_eq!(doc.pages.len(), 1);
        let text = &doc.pages[0].text;
        let lower = text.to_lowercase();
        for word in WORDS {
            assert!(lower.contains(word), "{name}: no {word:?} in {text:?}");
        }
        assert!(text.contains("Orchard statistics 2024"), "{name}: {text:?}");
        assert!(text.contains("- **Size:** "), "{name}: {text:?}");
        // The whole image, for the visuals step.
        assert_eq!(doc.images.len(), 1, "{name}");
        let image = &doc.images[0];
        assert_eq!(image.media_type, media_type, "{name}");
        assert_eq!(image.data, fixture(name), "{name}");
        assert_eq!((image.page_index, image.offset), (0, 0), "{name}");
        assert!(
            image.width > 1000 && image.height > 100,
            "{name}: {image:?}"
        );
    }
}

#[test]
fn ocr_of_a_png_buffer() {
    require_tesseract();
    let text = rag_extract::ocr_png(&fixture("sentence.png")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text.contains("The quarterly harvest report shows record apple yields"),
        "{text:?}"
    );
    assert_eq!(
        rag_extract::ocr_png(&fixture("blank.png")).as_deref(),
        Ok("")
    );
    // Not an image: Tesseract's own complaint.
    match Ocr::from_env().recognize(b"not an image") {
        Err(OcrError::Failed(why)) => assert!(!why.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn exif_description_when_ocr_is_off() {
    let doc = extract(FileExtractor::default().with_ocr(false), "described.jpg")
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        doc.pages[0].text,
        "- **Description:** Lighthouse at Point Reyes in morning fog\n\
         - **Title:** Point Reyes lighthouse\n\
         - **Subject:** Coastal landmarks survey\n\
         - **Comment:** Shot from the visitor platform, Fresnel lens visible\n\
         - **User comment:** Fog lifted twenty minutes later\n\
         - **Artist:** Dana Whitfield\n\
         - **Taken:** 2023-10-14 07:42:10\n\
         - **Camera:** Canon EOS 5D Mark IV\n\
         - **Size:** 320 × 200 pixels (JPEG)"
    );
    let image = &doc.images[0];
    assert_eq!(
        (image.width, image.height, image.media_type.as_str()),
        (320, 200, "image/jpeg")
    );
    assert_eq!(
        image.alt.as_deref(),
        Some("Lighthouse at Point Reyes in morning fog")
    );
    // With OCR on, a photo without text still has its description.
    require_tesseract();
    let doc =
        extract(FileExtractor::default(), "described.jpg").unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        doc.pages[0]
            .text
            .starts_with("- **Description:** Lighthouse at Point Reyes"),
        "{:?}",
        doc.pages[0].text
    );
}

#[test]
fn text_images_without_ocr_and_blank_images_are_empty() {
    // No OCR and no metadata: nothing to index.
    for name in ["sentence.png", "blank.png"] {
        assert_eq!(
            extract(FileExtractor::default().with_ocr(false), name),
            Err(ExtractError::Empty),
            "{name}"
        );
    }
    require_tesseract();
    assert_eq!(
        extract(FileExtractor::default(), "blank.png"),
        Err(ExtractError::Empty)
    );
}

#[test]
fn declared_pixel_count_is_limited_before_ocr() {
    // A PNG header declaring 20,000 × 20,000 pixels, and nothing else.
    let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bomb.extend_from_slice(&20_000u32.to_be_bytes());
    bomb.extend_from_slice(&20_000u32.to_be_bytes());
    bomb.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    let start = Instant::now();
    match FileExtractor::default().extract(ExtractInput::new(&bomb, "bomb.png", None)) {
        Err(ExtractError::LimitExceeded(why)) => {
            assert!(why.contains("20000 × 20000 pixels"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(2));
    let small = Limits {
        max_image_pixels: 100_000,
        ..Limits::default()
    };
    assert!(matches!(
        extract(FileExtractor::new(small), "sentence.png"),
        Err(ExtractError::LimitExceeded(_))
    ));
}

#[test]
fn routing_and_broken_images() {
    let png = fixture("described.jpg");
    let doc = FileExtractor::default()
        .with_ocr(false)
        .extract(ExtractInput::new(&png, "upload", Some("image/jpeg")))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.format, "image");
    for (bytes, name) in [
        (&b"GIF89a"[..], "cut.gif"),
        (b"plain text, not an image", "fake.png"),
    ] {
        assert!(
            matches!(
                FileExtractor::default().extract(ExtractInput::new(bytes, name, None)),
                Err(ExtractError::Corrupt { .. })
            ),
            "{name}"
        );
    }
    match FileExtractor::default().extract(ExtractInput::new(b"<svg/>", "logo.svg", None)) {
        Err(ExtractError::Unsupported(why)) => assert!(why.contains("not supported"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_or_slow_tesseract() {
    let missing = Ocr::with_program("/nonexistent/tesseract");
    assert!(!missing.available());
    assert!(matches!(
        missing.recognize(&fixture("sentence.png")),
        Err(OcrError::NotInstalled(_))
    ));
    // A "Tesseract" that never answers is killed at the timeout.
    let dir = std::env::temp_dir().join(format!("rag-extract-ocr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let script = dir.join("slow-tesseract");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap_or_else(|e| panic!("{e}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let slow = Ocr::with_program(&script).timeout(Duration::from_millis(300));
    let start = Instant::now();
    assert_eq!(
        slow.recognize(&fixture("sentence.png")),
        Err(OcrError::TimedOut(Duration::from_millis(300)))
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mangled_images_never_panic() {
    let extractor = FileExtractor::default().with_ocr(false);
    for name in [
        "described.jpg",
        "sentence.png",
        "sentence.tif",
        "sentence.webp",
    ] {
        let bytes = fixture(name);
        let mut seed = 0x9e37_79b9_u32;
        for round in 0..60 {
            let mut mangled = bytes.clone();
            // The headers and metadata sit near the start.
            let span = mangled.len().min(512);
            for _ in 0..(1 + round % 6) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                mangled[seed as usize % span] = (seed >> 8) as u8;
            }
            if round % 10 == 9 {
                mangled.truncate(seed as usize % span);
            }
            // Any result but a panic (contained as Corrupt) or a hang.
            let _ = extractor.extract(ExtractInput::new(&mangled, name, None));
        }
    }
}
