//! Jupyter notebooks, EPUB e-books and RSS/Atom feeds.

mod common;

use common::*;
use rag_core::ports::ExtractError;

// ---------------------------------------------------------------- notebooks

const NOTEBOOK: &str = r##"{
  "nbformat": 4,
  "nbformat_minor": 5,
  "metadata": {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"}
  },
  "cells": [
    {"cell_type": "markdown", "metadata": {}, "source": ["# Sales analysis\n", "\n", "We load the *data*."]},
    {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": ["total = 40 + 2\n", "print(total)"],
     "outputs": [
       {"output_type": "stream", "name": "stdout", "text": ["42\n"]},
       {"output_type": "execute_result", "execution_count": 1, "metadata": {},
        "data": {"text/plain": ["'done'"], "text/html": ["<b>done</b>"]}},
       {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo="}}
     ]},
    {"cell_type": "code", "metadata": {}, "execution_count": 2, "source": "1 / 0",
     "outputs": [{"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero",
                  "traceback": ["\u001b[0;31m---------------------------------------------------------------------------"]}]},
    {"cell_type": "raw", "metadata": {}, "source": []}
  ]
}"##;

#[test]
fn notebook_cells_become_markdown_code_and_output_blocks() {
    let text = text_of(NOTEBOOK.as_bytes(), "analysis.ipynb");
    assert_eq!(
        text,
        "# Sales analysis\n\nWe load the *data*.\n\n\
         ```python\ntotal = 40 + 2\nprint(total)\n```\n\n\
         ```output\n42\n```\n\n```output\n'done'\n```\n\n[image output]\n\n\
         ```python\n1 / 0\n```\n\n```output\nZeroDivisionError: division by zero\n```"
    );
    match extract(NOTEBOOK.as_bytes(), "analysis.ipynb") {
        Ok(doc) => assert_eq!(doc.format, "ipynb"),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn notebook_outputs_are_truncated() {
    let long = "x".repeat(100_000);
    let nb = format!(
        r#"{{"nbformat": 4, "metadata": {{"language_info": {{"name": "R"}}}}, "cells": [
        {{"cell_type": "code", "source": "cat(x)", "outputs": [{{"output_type": "stream", "text": "{long}"}}]}}]}}"#
    );
    let text = text_of(nb.as_bytes(), "long.ipynb");
    assert!(text.starts_with("```r\ncat(x)\n```"), "{text}");
    assert!(text.contains("[output truncated]"), "{text}");
    assert!(text.len() < 10_000, "{}", text.len());
}

#[test]
fn nbformat_3_notebooks_are_read() {
    let nb = r#"{"nbformat": 3, "metadata": {"language": "python"}, "worksheets": [{"cells": [
        {"cell_type": "heading", "level": 2, "source": ["Intro"]},
        {"cell_type": "code", "language": "python", "input": ["x = 1"],
         "outputs": [{"output_type": "pyout", "text": ["1"]}]}
    ]}]}"#;
    assert_eq!(
        text_of(nb.as_bytes(), "old.ipynb"),
        "## Intro\n\n```python\nx = 1\n```\n\n```output\n1\n```"
    );
}

#[test]
fn notebooks_by_mime_type() {
    match extract_typed(NOTEBOOK.as_bytes(), "upload", "application/x-ipynb+json") {
        Ok(doc) => assert!(doc.full_text().contains("Sales analysis")),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn malformed_notebooks_are_corrupt() {
    for bad in [
        "{\"cells\": [",
        "[1, 2]",
        "{\"nbformat\": 4}",
        "{\"cells\": 3}",
    ] {
        assert!(
            matches!(
                extract(bad.as_bytes(), "bad.ipynb"),
                Err(ExtractError::Corrupt {
                    format: "notebook",
                    ..
                })
            ),
            "{bad}"
        );
    }
}

// ---------------------------------------------------------------- EPUB

const CONTAINER: &str = r#"<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"#;

/// The manifest lists chapter 2 first; the spine reads chapter 1 first.
const OPF: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="id">urn:uuid:1234</dc:identifier>
    <dc:title>The Lighthouse Keeper</dc:title>
    <dc:language>en</dc:language>
  </metadata>
  <manifest>
    <item id="c2" href="text/chapter%202.xhtml" media-type="application/xhtml+xml"/>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="c1" href="text/chapter1.xhtml" media-type="application/xhtml+xml"/>
    <item id="css" href="style.css" media-type="text/css"/>
  </manifest>
  <spine><itemref idref="c1"/><itemref idref="c2"/></spine>
</package>"#;

fn chapter(title: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{title}</title></head>
<body><h2>{title}</h2>{body}</body></html>"#
    )
}

fn epub(extra: &[(&str, &[u8])]) -> Vec<u8> {
    let one = chapter("Chapter One", "<p>The lamp was <em>lit</em> at dusk.</p>");
    let two = chapter(
        "Chapter Two",
        "<p>A storm came.</p><ul><li>wind</li><li>rain</li></ul>",
    );
    let mut files: Vec<(&str, &[u8])> = vec![
        ("mimetype", b"application/epub+zip"),
        ("META-INF/container.xml", CONTAINER.as_bytes()),
        ("OEBPS/content.opf", OPF.as_bytes()),
        ("OEBPS/text/chapter 2.xhtml", two.as_bytes()),
        ("OEBPS/text/chapter1.xhtml", one.as_bytes()),
        ("OEBPS/style.css", b"p { margin: 0 }"),
    ];
    files.extend_from_slice(extra);
    zip_of(&files)
}

#[test]
fn epub_chapters_are_pages_in_spine_order() {
    let doc = match extract(&epub(&[]), "book.epub") {
        Ok(doc) => doc,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(doc.format, "epub");
    let pages: Vec<(Option<u32>, &str)> = doc
        .pages
        .iter()
        .map(|p| (p.number, p.text.as_str()))
        .collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert_eq!(pages[0].0, Some(1));
    assert_eq!(pages[1].0, Some(2));
    assert!(
        pages[0].1.starts_with("# The Lighthouse Keeper\n\n"),
        "{}",
        pages[0].1
    );
    assert!(pages[0].1.contains("## Chapter One"), "{}", pages[0].1);
    assert!(
        pages[0].1.contains("The lamp was _lit_ at dusk.")
            || pages[0].1.contains("The lamp was *lit* at dusk."),
        "{}",
        pages[0].1
    );
    assert!(!pages[0].1.contains("storm"), "{}", pages[0].1);
    assert!(pages[1].1.contains("## Chapter Two"), "{}", pages[1].1);
    assert!(pages[1].1.contains("A storm came."), "{}", pages[1].1);
    assert!(pages[1].1.contains("wind"), "{}", pages[1].1);
    assert!(!pages[1].1.contains("Lighthouse"), "{}", pages[1].1);
}

#[test]
fn epub_by_mime_type() {
    match extract_typed(&epub(&[]), "upload", "application/epub+zip") {
        Ok(doc) => assert_eq!(doc.pages.len(), 2),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn drm_protected_epub_is_encrypted() {
    let encryption = br#"<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
  <enc:EncryptedData>
    <enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
    <enc:CipherData><enc:CipherReference URI="OEBPS/text/chapter1.xhtml"/></enc:CipherData>
  </enc:EncryptedData>
</encryption>"#;
    assert_eq!(
        extract(
            &epub(&[("META-INF/encryption.xml", encryption)]),
            "locked.epub"
        ),
        Err(ExtractError::Encrypted)
    );
}

#[test]
fn obfuscated_fonts_are_not_drm() {
    let encryption = br#"<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
  <enc:EncryptedData>
    <enc:EncryptionMethod Algorithm="http://www.idpf.org/2008/embedding"/>
    <enc:CipherData><enc:CipherReference URI="OEBPS/fonts/serif.otf"/></enc:CipherData>
  </enc:EncryptedData>
</encryption>"#;
    match extract(
        &epub(&[("META-INF/encryption.xml", encryption)]),
        "fonts.epub",
    ) {
        Ok(doc) => assert_eq!(doc.pages.len(), 2),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn corrupt_epubs_are_refused() {
    let no_container = zip_of(&[("mimetype", b"application/epub+zip")]);
    let bad_opf = zip_of(&[
        ("META-INF/container.xml", CONTAINER.as_bytes()),
        ("OEBPS/content.opf", b"<package><spine></package>"),
    ]);
    let empty_spine = zip_of(&[
        ("META-INF/container.xml", CONTAINER.as_bytes()),
        ("OEBPS/content.opf", b"<package><spine/></package>"),
    ]);
    for (name, bytes) in [
        ("not a zip", b"PK\x03\x04 nonsense".to_vec()),
        ("no container", no_container),
        ("bad opf", bad_opf),
        ("empty spine", empty_spine),
    ] {
        assert!(
            matches!(
                extract(&bytes, "broken.epub"),
                Err(ExtractError::Corrupt { format: "EPUB", .. })
            ),
            "{name}: {:?}",
            extract(&bytes, "broken.epub")
        );
    }
}

// ---------------------------------------------------------------- feeds

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
  <channel>
    <title>Harbour News</title>
    <link>https://example.org/</link>
    <description>All the news from the harbour</description>
    <item>
      <title>Ferry timetable changes</title>
      <link>https://example.org/ferry</link>
      <pubDate>Mon, 02 Mar 2026 08:00:00 GMT</pubDate>
      <description>&lt;p&gt;The &lt;b&gt;morning&lt;/b&gt; ferry now leaves at 7:15.&lt;/p&gt;</description>
    </item>
    <item>
      <title>Lighthouse open day</title>
      <link>https://example.org/open-day</link>
      <description><![CDATA[<p>Visit the <a href="https://example.org/lh">lighthouse</a>.</p><ul><li>free</li></ul>]]></description>
    </item>
  </channel>
</rss>"#;

const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Engineering Blog</title>
  <link href="https://blog.example.com/"/>
  <updated>2026-03-01T10:00:00Z</updated>
  <entry>
    <title>Zero-downtime deploys</title>
    <link rel="alternate" href="https://blog.example.com/deploys"/>
    <link rel="edit" href="https://blog.example.com/edit/1"/>
    <published>2026-02-27T09:00:00Z</published>
    <updated>2026-02-28T09:00:00Z</updated>
    <summary>Short summary.</summary>
    <content type="html">&lt;h3&gt;Blue and green&lt;/h3&gt;&lt;p&gt;Two fleets, one &lt;code&gt;switch&lt;/code&gt;.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title type="text">Plain notes</title>
    <link href="https://blog.example.com/notes"/>
    <updated>2026-02-20T09:00:00Z</updated>
    <summary type="text">Tags like &lt;b&gt; stay as written.</summary>
  </entry>
</feed>"#;

#[test]
fn rss_items_become_sections() {
    let text = text_of(RSS.as_bytes(), "news.rss");
    // The channel's description under its title.
    assert!(text.starts_with("# Harbour News\n\nAll the news from the harbour\n\n## Ferry timetable changes\n\nLink: https://example.org/ferry\nDate: Mon, 02 Mar 2026 08:00:00 GMT\n\n"), "{text}");
    assert!(
        text.contains("The **morning** ferry now leaves at 7:15."),
        "{text}"
    );
    assert!(
        text.contains("## Lighthouse open day\n\nLink: https://example.org/open-day"),
        "{text}"
    );
    assert!(
        text.contains("[lighthouse](https://example.org/lh)"),
        "{text}"
    );
    assert!(!text.contains("<p>"), "{text}");
    assert_eq!(text.matches("All the news").count(), 1, "{text}");
}

#[test]
fn atom_entries_become_sections() {
    let text = text_of(ATOM.as_bytes(), "blog.atom");
    assert!(text.starts_with("# Engineering Blog\n\n## Zero-downtime deploys\n\nLink: https://blog.example.com/deploys\nDate: 2026-02-27T09:00:00Z\n\n"), "{text}");
    assert!(text.contains("### Blue and green"), "{text}");
    assert!(text.contains("Two fleets, one `switch`."), "{text}");
    assert!(!text.contains("Short summary"), "{text}");
    assert!(!text.contains("edit/1"), "{text}");
    assert!(text.ends_with("## Plain notes\n\nLink: https://blog.example.com/notes\nDate: 2026-02-20T09:00:00Z\n\nTags like <b> stay as written."), "{text}");
}

#[test]
fn feeds_by_mime_type_and_xml_root() {
    for (bytes, ct) in [
        (RSS, "application/rss+xml"),
        (ATOM, "application/atom+xml; charset=utf-8"),
    ] {
        match extract_typed(bytes.as_bytes(), "upload", ct) {
            Ok(doc) => {
                assert_eq!(doc.format, "feed");
                assert!(doc.full_text().starts_with("# "), "{ct}");
            }
            Err(e) => panic!("{ct}: {e:?}"),
        }
    }
    // A .xml file is a feed only by its root element.
    match extract(ATOM.as_bytes(), "blog.xml") {
        Ok(doc) => assert_eq!(doc.format, "feed"),
        Err(e) => panic!("{e:?}"),
    }
    match extract(
        b"<?xml version=\"1.0\"?><project><name>x</name></project>",
        "pom.xml",
    ) {
        Ok(doc) => assert_eq!(doc.format, "text"),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn entity_bomb_feed_is_refused() {
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
  <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
  <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<rss version="2.0"><channel><title>&f;</title><item><title>&f;</title></item></channel></rss>"#;
    match extract(bomb.as_bytes(), "bomb.rss") {
        Err(ExtractError::Corrupt {
            format: "feed",
            detail,
        }) => {
            assert!(detail.contains("DOCTYPE"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn corrupt_feeds_are_refused() {
    for bad in [
        "<rss><channel><title>x</channel></rss>",
        "<html><body>not a feed</body></html>",
        "just text",
    ] {
        assert!(
            matches!(
                extract(bad.as_bytes(), "bad.rss"),
                Err(ExtractError::Corrupt { format: "feed", .. })
            ),
            "{bad}: {:?}",
            extract(bad.as_bytes(), "bad.rss")
        );
    }
}

/// A page-range job of a split e-book reads only its chapters; the book's
/// front matter (title, authors) belongs to page 1's range.
#[test]
fn an_epub_page_range_reads_only_its_chapters() {
    use rag_core::domain::job::PageRange;
    use rag_core::ports::{ExtractInput, Extractor};
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/markitdown/test.epub"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let read = |first, last| {
        rag_extract::FileExtractor::default()
            .extract(ExtractInput {
                pages: Some(PageRange { first, last }),
                ..ExtractInput::new(&bytes, "book.epub", None)
            })
            .unwrap_or_else(|e| panic!("{e:?}"))
    };
    let middle = read(2, 2);
    let texts: Vec<&str> = middle.pages.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!((texts[0], texts[2]), ("", ""));
    assert!(
        texts[1].starts_with("# Chapter 1: Test Content"),
        "{texts:?}"
    );
    let first = read(1, 1);
    assert!(first.pages[0].text.contains("**Authors:** Test Author"));
    assert!(first.pages[1].text.is_empty());
}
