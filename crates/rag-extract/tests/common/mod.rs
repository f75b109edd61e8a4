//! Helpers shared by the integration tests.
#![allow(dead_code)]

use lopdf::{dictionary, Document, Object, Stream};
use rag_core::ports::Extractor;
use rag_core::ports::{ExtractError, ExtractInput, ExtractedDocument};
use rag_extract::{Extraction, FileExtractor, Limits};

mod office;
#[allow(unused_imports)]
pub use office::*;

/// The read-only sample PDFs (py-pdf/sample-files), next to the repository.
pub const PDF_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/docs/pdf");

pub fn extract(bytes: &[u8], file_name: &str) -> Result<ExtractedDocument, ExtractError> {
    with_limits(Limits::default(), bytes, file_name)
}

pub fn with_limits(
    limits: Limits,
    bytes: &[u8],
    file_name: &str,
) -> Result<ExtractedDocument, ExtractError> {
    FileExtractor::new(limits).extract(ExtractInput::new(bytes, file_name, None))
}

/// The message of a refusal that must be a limit.
pub fn limit_message(result: Result<ExtractedDocument, ExtractError>) -> String {
    match result {
        Err(ExtractError::LimitExceeded(m)) => m,
        other => panic!("expected a limit error: {other:?}"),
    }
}

/// The signature of OLE compound files: legacy Office, and encrypted OOXML.
pub const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

pub fn extract_typed(
    bytes: &[u8],
    file_name: &str,
    content_type: &str,
) -> Result<ExtractedDocument, ExtractError> {
    FileExtractor::default().extract(ExtractInput::new(bytes, file_name, Some(content_type)))
}

/// Each page's text, in order.
pub fn texts(extraction: &Extraction) -> Vec<&str> {
    extraction
        .document
        .pages
        .iter()
        .map(|p| p.text.as_str())
        .collect()
}

pub fn extract_noted(bytes: &[u8], file_name: &str) -> Result<Extraction, ExtractError> {
    FileExtractor::default().extract_with_notes(ExtractInput::new(bytes, file_name, None))
}

/// The only page's text of a document that must extract.
pub fn text_of(bytes: &[u8], file_name: &str) -> String {
    match extract(bytes, file_name) {
        Ok(doc) => {
            assert_eq!(doc.pages.len(), 1, "{file_name}");
            assert_eq!(doc.pages[0].number, None, "{file_name}");
            doc.pages[0].text.clone()
        }
        Err(e) => panic!("{file_name}: {e:?}"),
    }
}

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{PDF_DIR}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A PDF with one page per entry, each drawing its lines in Helvetica, one
/// line below the other.
pub fn simple_pdf(pages: &[&[&str]]) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let mut kids = Vec::new();
    for lines in pages {
        let mut content = String::from("BT /F1 12 Tf 14 TL 72 720 Td\n");
        for line in *lines {
            content.push_str(&format!(
                "({}) Tj T*\n",
                line.replace('(', "\\(").replace(')', "\\)")
            ));
        }
        content.push_str("ET\n");
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        });
        kids.push(Object::from(page_id));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    save(&mut doc)
}

pub fn save(doc: &mut Document) -> Vec<u8> {
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .unwrap_or_else(|e| panic!("saving a test PDF: {e}"));
    out
}

/// A tiny deterministic generator (64-bit LCG), so failures reproduce.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }

    pub fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }

    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 33) % n.max(1) as u64) as usize
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.byte()).collect()
    }
}
