//! Compares the two PDF engines of `rag_extract::pdf` on the sample PDFs
//! (and a few generated hard cases) in one run: text quality against
//! expected snippets, and pages per second. The table in the `pdf` module's
//! docs comes from this output.
//!
//! ```sh
//! scripts/fetch-pdfium.sh
//! cargo run -p rag-extract --example pdf_engines            # table
//! cargo run -p rag-extract --example pdf_engines -- --dump DIR   # also each engine's text
//! ```
//!
//! The dev profile optimizes every dependency (pdf-extract, lopdf, the PNG
//! encoder), so the numbers are close to a release build's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lopdf::{dictionary, Document, Object, Stream};
use rag_extract::pdf::{extract_pdf, pdfium_library, PdfEngine};
use rag_extract::Limits;

const PDF_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/docs/pdf");
const ENGINES: [PdfEngine; 2] = [PdfEngine::Pdfium, PdfEngine::PureRust];
/// Each engine reads the whole set at least this many times, and for at
/// least [`MIN_TIME`].
const MIN_ROUNDS: u32 = 3;
const MIN_TIME: Duration = Duration::from_secs(2);

/// What a page's text must show.
enum Expect {
    /// This exact text (after the engine's cleanup).
    Has(&'static str),
    /// The first text comes before the second (reading order).
    Before(&'static str, &'static str),
    /// The text occurs exactly once (no duplicated lines).
    Once(&'static str),
    /// The text does not occur (words or numbers glued together).
    Lacks(&'static str),
}

/// (file, 1-based page, what the quality column counts as one check).
fn checks() -> Vec<(&'static str, usize, Expect)> {
    use Expect::*;
    vec![
        ("minimal-document.pdf", 1, Has("Lorem ipsum dolor sit amet")),
        // Words hyphenated across lines joined.
        ("minimal-document.pdf", 1, Has("no sea takimata sanctus")),
        ("multicolumn.pdf", 1, Has("consectetuer adipiscing elit")),
        (
            "002-trivial-libre-office-writer.pdf",
            1,
            Has("Lorem ipsum dolor sit amet, consetetur sadipscing elitr"),
        ),
        (
            "pdflatex-4-pages.pdf",
            1,
            Has("Hello, here is some text without a meaning."),
        ),
        (
            "pdflatex-4-pages.pdf",
            2,
            Has("“Huardest gefburn”? Kjift – not at all!"),
        ),
        ("pdflatex-4-pages.pdf", 4, Has("the length of words")),
        ("habibi.pdf", 1, Has("حَبيبي")),
        (
            "multicolumn.pdf",
            1,
            Has("This is a sample document with two columns filled\nwith Lorem Ipsum text."),
        ),
        (
            "multicolumn.pdf",
            1,
            Before(
                "Pellentesque cursus luctus mauris.",
                "Nulla malesuada porttitor diam.",
            ),
        ),
        (
            "multicolumn.pdf",
            3,
            Has("Czech Republic 10.7 78,866 Prague Czech"),
        ),
        (
            "crazyones-pdfa.pdf",
            1,
            Has("The Crazy Ones\n\nOctober 14, 1998"),
        ),
        (
            "crazyones-pdfa.pdf",
            1,
            Has("The misfits. The rebels. The troublemakers."),
        ),
        ("pdflatex-outline.pdf", 1, Has("Contents\n\n1 Foo 2")),
        (
            "pdflatex-image.pdf",
            1,
            Has("1 Your Chapter\n\nLorem ipsum"),
        ),
        (
            "google-doc-document.pdf",
            1,
            Has("Example document\n\nBeautiful is better than ugly."),
        ),
        (
            "google-doc-document.pdf",
            1,
            Has("Special cases aren't special enough to break the rules."),
        ),
        (
            "google-doc-document.pdf",
            1,
            Has("Capital Jakarta Berlin Vienna Paris Vatican City"),
        ),
        // Footnote marks glued to the numbers they follow: 273.879.750 + ¹.
        ("google-doc-document.pdf", 1, Lacks("273.879.7501")),
        ("google-doc-document.pdf", 1, Lacks("32020 estimate")),
        // Generated hard cases (see `generated()`).
        ("gen:fake-bold", 1, Once("Quarterly results")),
        ("gen:kerned-words", 1, Has("Words spaced by kerning alone")),
        (
            "gen:line-end-hyphens",
            1,
            Has("An example of a well-\nKnown case."),
        ),
        ("gen:ligatures", 1, Has("efficient fluent office")),
        ("gen:arabic-visual-order", 1, Has("مرحبا بالعالم 2024")),
        (
            "gen:interleaved-columns",
            1,
            Before("left column ends here", "right column starts here"),
        ),
    ]
}

struct Doc {
    name: String,
    bytes: Vec<u8>,
    pages: u64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dump = None;
    let mut extra = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dump" => dump = args.next(),
            flag if flag.starts_with('-') => {
                eprintln!("unknown flag {flag:?}; usage: pdf_engines [--dump DIR] [EXTRA.pdf ...]");
                std::process::exit(2);
            }
            file => extra.push(file.to_owned()),
        }
    }
    match pdfium_library() {
        Ok(path) => println!("PDFium: {}", path.display()),
        Err(why) => {
            eprintln!("PDFium is needed for the comparison: {why}");
            std::process::exit(1);
        }
    }
    let mut docs = load_docs();
    // Extra files: dumped and checked for errors, not timed.
    for file in extra {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let name = format!("extra:{}", file.rsplit('/').next().unwrap_or(&file));
        docs.push(Doc {
            name,
            bytes,
            pages: 0,
        });
    }
    let limits = Limits::default();

    // Text of every page, by engine and document.
    let mut texts: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for engine in ENGINES {
        for doc in &docs {
            let pages = match extract_pdf(engine, &doc.bytes, None, None, &limits) {
                Ok(e) => e.document.pages.into_iter().map(|p| p.text).collect(),
                Err(e) => {
                    println!("{} on {}: {e}", engine.name(), doc.name);
                    Vec::new()
                }
            };
            texts.insert((engine.name(), doc.name.as_str()), pages);
        }
    }
    if let Some(dir) = dump {
        write_dump(&dir, &texts);
    }

    println!();
    println!("| check | {} | {} |", ENGINES[0].name(), ENGINES[1].name());
    println!("|---|---|---|");
    let mut passed = BTreeMap::new();
    let checks = checks();
    for (file, page, expect) in &checks {
        let mut row = format!("| {file} p{page}: {} |", describe(expect));
        for engine in ENGINES {
            let text = texts
                .get(&(engine.name(), *file))
                .and_then(|pages| pages.get(page - 1))
                .map(String::as_str)
                .unwrap_or("");
            let ok = holds(expect, text);
            *passed.entry(engine.name()).or_insert(0) += usize::from(ok);
            row.push_str(if ok { " yes |" } else { " **no** |" });
        }
        println!("{row}");
    }
    println!(
        "| **checks passed** | **{}/{n}** | **{}/{n}** |",
        passed.get(ENGINES[0].name()).unwrap_or(&0),
        passed.get(ENGINES[1].name()).unwrap_or(&0),
        n = checks.len()
    );

    // Speed: the real samples only, engines alternating round by round.
    let samples: Vec<&Doc> = docs.iter().filter(|d| !d.name.contains(':')).collect();
    let pages_per_round: u64 = samples.iter().map(|d| d.pages).sum();
    let mut elapsed = [Duration::ZERO; 2];
    let mut rounds = 0u32;
    let started = Instant::now();
    while rounds < MIN_ROUNDS || started.elapsed() < MIN_TIME * 2 {
        for (i, engine) in ENGINES.into_iter().enumerate() {
            let t = Instant::now();
            for doc in &samples {
                let _ = std::hint::black_box(extract_pdf(engine, &doc.bytes, None, None, &limits));
            }
            elapsed[i] += t.elapsed();
        }
        rounds += 1;
    }
    let rate = |i: usize| (pages_per_round * u64::from(rounds)) as f64 / elapsed[i].as_secs_f64();
    println!();
    println!(
        "speed: {} sample PDFs, {pages_per_round} pages, {rounds} rounds each",
        samples.len()
    );
    println!("| engine | pages/s | ms/page |");
    println!("|---|---|---|");
    for (i, engine) in ENGINES.into_iter().enumerate() {
        println!(
            "| {} | {:.0} | {:.2} |",
            engine.name(),
            rate(i),
            1000.0 / rate(i)
        );
    }
    println!(
        "PDFium is {:.1}x the pure-Rust engine's speed",
        rate(0) / rate(1)
    );
}

fn describe(expect: &Expect) -> String {
    let short = |s: &str| s.replace('\n', "⏎");
    match expect {
        Expect::Has(s) => format!("has \"{}\"", short(s)),
        Expect::Before(a, b) => format!("\"{}\" before \"{}\"", short(a), short(b)),
        Expect::Once(s) => format!("\"{}\" exactly once", short(s)),
        Expect::Lacks(s) => format!("no \"{}\"", short(s)),
    }
}

fn holds(expect: &Expect, text: &str) -> bool {
    match expect {
        Expect::Has(s) => text.contains(s),
        Expect::Before(a, b) => match (text.find(a), text.find(b)) {
            (Some(a), Some(b)) => a < b,
            _ => false,
        },
        Expect::Once(s) => text.matches(s).count() == 1,
        Expect::Lacks(s) => !text.is_empty() && !text.contains(s),
    }
}

fn load_docs() -> Vec<Doc> {
    let listing = std::fs::read_to_string(format!("{PDF_DIR}/files.json"))
        .unwrap_or_else(|e| panic!("{PDF_DIR}/files.json: {e}"));
    let files: Vec<serde_json::Value> =
        serde_json::from_str(&listing).unwrap_or_else(|e| panic!("files.json: {e}"));
    let mut docs = Vec::new();
    for file in files {
        if file["encrypted"].as_bool() == Some(true) {
            continue;
        }
        let name = file["path"].as_str().unwrap_or_default().to_owned();
        let bytes =
            std::fs::read(format!("{PDF_DIR}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let pages = file["pages"].as_u64().unwrap_or(1);
        docs.push(Doc { name, bytes, pages });
    }
    for (name, bytes) in generated() {
        docs.push(Doc {
            name: name.to_owned(),
            bytes,
            pages: 1,
        });
    }
    docs
}

fn write_dump(dir: &str, texts: &BTreeMap<(&str, &str), Vec<String>>) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
    for ((engine, name), pages) in texts {
        let file = format!("{dir}/{}.{engine}.txt", name.replace(':', "-"));
        let body: Vec<String> = pages
            .iter()
            .enumerate()
            .map(|(i, t)| format!("===== page {} =====\n{t}\n", i + 1))
            .collect();
        std::fs::write(&file, body.concat()).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    println!("texts written to {dir}");
}

/// Hard cases drawn with the standard Helvetica font, whose glyph widths
/// both engines know.
fn generated() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        // Fake bold: each line drawn twice, 0.4 pt apart.
        (
            "gen:fake-bold",
            one_page(
                "BT /F1 14 Tf 72 720 Td (Quarterly results) Tj ET \
                 BT /F1 14 Tf 72.4 720 Td (Quarterly results) Tj ET \
                 BT /F1 11 Tf 72 700 Td (Revenue grew in every region.) Tj ET",
            ),
        ),
        // Word gaps made by TJ offsets, no space characters.
        (
            "gen:kerned-words",
            one_page(
                "BT /F1 12 Tf 72 720 Td \
                 [(Words) -280 (spaced) -280 (by) -280 (kerning) -280 (alone)] TJ ET",
            ),
        ),
        // A word hyphenated across lines, and a hyphen that stays.
        (
            "gen:line-end-hyphens",
            one_page(
                "BT /F1 12 Tf 14 TL 72 720 Td (An exam-) Tj T* (ple of a well-) Tj T* \
                 (Known case.) Tj ET",
            ),
        ),
        // Ligature glyphs (as a ToUnicode map of a TeX font gives them).
        (
            "gen:ligatures",
            one_page_mapped(&["e\u{FB03}cient \u{FB02}uent o\u{FB03}ce"]),
        ),
        // Arabic drawn in visual order, left to right, as LibreOffice and
        // HarfBuzz-based producers draw it: "مرحبا بالعالم 2024".
        (
            "gen:arabic-visual-order",
            one_page_mapped(&["2024 ملاعلاب ابحرم"]),
        ),
        // Two columns drawn row by row: left line, right line, left line...
        (
            "gen:interleaved-columns",
            one_page(
                "BT /F1 11 Tf 72 720 Td (left column starts here) Tj ET \
                 BT /F1 11 Tf 320 720 Td (right column starts here) Tj ET \
                 BT /F1 11 Tf 72 706 Td (left column ends here) Tj ET \
                 BT /F1 11 Tf 320 706 Td (right column ends here) Tj ET",
            ),
        ),
    ]
}

fn one_page(content: &str) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.as_bytes().to_vec()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
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
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes)
        .unwrap_or_else(|e| panic!("saving a generated PDF: {e}"));
    bytes
}

/// A page whose lines are drawn in Helvetica through a ToUnicode map that
/// gives each distinct character a byte code of its own, the way PDF
/// producers write subset fonts: lines are drawn as given, left to right,
/// so a right-to-left line must be given in visual order.
fn one_page_mapped(lines: &[&str]) -> Vec<u8> {
    let mut codes: BTreeMap<char, u8> = BTreeMap::new();
    let mut content = String::from("BT /F1 12 Tf 14 TL 72 720 Td\n");
    for line in lines {
        let mut hex = String::new();
        for c in line.chars() {
            let next = 0x21 + codes.len() as u8;
            let code = if c == ' ' {
                0x20
            } else {
                *codes.entry(c).or_insert(next)
            };
            hex.push_str(&format!("{code:02X}"));
        }
        content.push_str(&format!("<{hex}> Tj T*\n"));
    }
    content.push_str("ET");
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
         /CMapName /Mapped def 1 begincodespacerange <00> <FF> endcodespacerange\n",
    );
    cmap.push_str(&format!("{} beginbfchar\n<20> <0020>\n", codes.len() + 1));
    for (c, code) in &codes {
        cmap.push_str(&format!("<{code:02X}> <{:04X}>\n", *c as u32));
    }
    cmap.push_str("endbfchar\nendcmap CMapName currentdict /CMap defineresource pop end end");

    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let cmap_id = doc.add_object(Stream::new(dictionary! {}, cmap.into_bytes()));
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "ToUnicode" => cmap_id,
    });
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
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
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes)
        .unwrap_or_else(|e| panic!("saving a generated PDF: {e}"));
    bytes
}
