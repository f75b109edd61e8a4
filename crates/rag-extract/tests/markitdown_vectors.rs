//! markitdown's own test vectors (`packages/markitdown/tests/_test_vectors.py`)
//! on its own test files (fixtures/markitdown, see SOURCE.md there): what a
//! markitdown user gets from each file, checked on ours. Expectations are
//! copied as markitdown's authors wrote them; where our Markdown deliberately
//! differs, the adapted expectation says why. Archives (`test_files.zip`) are
//! left out: we refuse archives rather than read what they hold.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rag_core::ports::{ExtractInput, Extractor};
use rag_extract::FileExtractor;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/markitdown");

/// The document's Markdown as `ragctl extract` joins its pages.
fn markdown(name: &str, as_name: &str, content_type: Option<&str>) -> String {
    let bytes = std::fs::read(format!("{DIR}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    let doc = FileExtractor::default()
        .extract(ExtractInput::new(&bytes, as_name, content_type))
        .unwrap_or_else(|e| panic!("{name} as {as_name}: {e}"));
    doc.pages
        .iter()
        .map(|p| p.text.trim())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn check(name: &str, must_include: &[&str], must_not_include: &[&str]) {
    let text = markdown(name, name, None);
    for s in must_include {
        assert!(text.contains(s), "{name}: missing {s:?}");
    }
    for s in must_not_include {
        assert!(!text.contains(s), "{name}: has {s:?}");
    }
}

#[test]
fn docx() {
    check(
        "test.docx",
        &[
            "314b0a30-5b04-470b-b9f7-eed2c2bec74a",
            "49e168b7-d2ae-407f-a055-2167576f39a1",
            "## d666f1f7-46cb-42bd-9a39-9a39cf2a509f",
            "# Abstract",
            "# Introduction",
            "AutoGen: Enabling Next-Gen LLM Applications via Multi-Agent Conversation",
            // markitdown writes a truncated `data:image/png;base64...` target;
            // we name the picture and never write its data.
            "](图片1.png)",
        ],
        &["data:image/png;base64"],
    );
}

#[test]
fn workbooks() {
    for name in ["test.xlsx", "test.xls"] {
        check(
            name,
            &[
                "## 09060124-b5e7-4717-9d07-3c046eb",
                "6ff4173b-42a5-4784-9b19-f49caff4d93d",
                "affc7dad-52dc-4b98-9b5d-51e65d8a8ad0",
            ],
            &[],
        );
    }
}

#[test]
fn pptx() {
    check(
        "test.pptx",
        &[
            "2cdda5c8-e50e-4db4-b5f0-9722a649f455",
            "04191ea8-5c73-4215-a1d3-1cfb43aaaf12",
            "44bf7d06-5e7a-4a40-a2e1-a2e42ef28c8a",
            "1b92870d-e3b5-4e65-8153-919f4ff45592",
            "AutoGen: Enabling Next-Gen LLM Applications via Multi-Agent Conversation",
            "a3f6004b-6f4f-4ea8-bee3-3741f4dc385f", // chart title
            "2003",                                 // chart value
            "![This phrase of the caption is Human-written.](Picture4.jpg)",
        ],
        &["data:image/jpeg;base64"],
    );
}

#[test]
fn outlook_msg() {
    check(
        "test_outlook_msg.msg",
        &[
            // markitdown: "# Email Message", then "**From:** <address>" lines
            // and "## Content". Ours: the subject as the heading, then the
            // labelled fields (the sender with their name), then the body.
            "# Test Email Message",
            "- **From:** M. C. Kurtuluş <test.sender@example.com>",
            "- **To:** test.recipient@example.com",
            "- **Subject:** Test Email Message",
            "This is the body of the test email message",
        ],
        &[],
    );
}

#[test]
fn pdf() {
    check(
        "test.pdf",
        &["While there is contemporaneous exploration of multi-agent approaches"],
        &[],
    );
}

#[test]
fn blog_page() {
    check(
        "test_blog.html",
        &[
            "Large language models (LLMs) are powerful tools that can generate natural language texts for various applications, such as chatbots, summarization, translation, and more. GPT-4 is currently the state of the art LLM in the world. Is model selection irrelevant? What about inference parameters?",
            "an example where high cost can easily prevent a generic complex",
        ],
        &[],
    );
}

#[test]
fn wikipedia_article_without_page_chrome() {
    check(
        "test_wikipedia.html",
        &[
            "Microsoft entered the operating system (OS) business in 1980 with its own version of [Unix]",
            "Microsoft was founded by [Bill Gates](/wiki/Bill_Gates \"Bill Gates\")",
        ],
        &[
            "You are encouraged to create an account and log in",
            "154 languages",
            "move to sidebar",
        ],
    );
}

#[test]
fn search_results_with_links_resolved_and_no_inline_images() {
    check(
        "test_serp.html",
        &[
            "](https://en.wikipedia.org/wiki/Microsoft",
            "Microsoft Corporation is **an American multinational corporation and technology company headquartered** in Redmond",
            "1995–2007: Foray into the Web, Windows 95, Windows XP, and Xbox",
        ],
        &[
            "https://www.bing.com/ck/a?!&&p=",
            "data:image/svg+xml,%3Csvg%20width%3D",
            "data:image",
        ],
    );
}

#[test]
fn shift_jis_csv() {
    check(
        "test_mskanji.csv",
        &[
            "| 名前 | 年齢 | 住所 |",
            "| --- | --- | --- |",
            "| 佐藤太郎 | 30 | 東京 |",
            "| 三木英子 | 25 | 大阪 |",
            "| 髙橋淳 | 35 | 名古屋 |",
        ],
        &[],
    );
}

#[test]
fn json() {
    check(
        "test.json",
        &[
            "5b64c88c-b3c3-4510-bcb8-da0b200602d8",
            "9700dc99-6685-40b4-9a3a-5e406dcb37f3",
        ],
        &[],
    );
}

const FEED_INCLUDES: &[&str] = &[
    "# The Official Microsoft Blog",
    "## Ignite 2024: Why nearly 70% of the Fortune 500 now use Microsoft 365 Copilot",
    "In the case of AI, it is absolutely true that the industry is moving incredibly fast",
];

#[test]
fn rss_feed_saved_as_xml() {
    check("test_rss.xml", FEED_INCLUDES, &["<rss", "<feed"]);
}

#[test]
fn notebook() {
    check(
        "test_notebook.ipynb",
        &[
            "# Test Notebook",
            "```python",
            "print(\"markitdown\")",
            "```",
            "## Code Cell Below",
        ],
        &["nbformat", "nbformat_minor"],
    );
}

#[test]
fn epub_with_its_metadata() {
    check(
        "test.epub",
        &[
            "**Authors:** Test Author",
            "A test EPUB document for MarkItDown testing",
            "# Chapter 1: Test Content",
            "This is a **test** paragraph with some formatting",
            "* A bullet point",
            "* Another point",
            "# Chapter 2: More Content",
            // markitdown writes `*different*`: the same emphasis.
            "_different_ style",
            "> This is a blockquote for testing",
        ],
        &[],
    );
}

/// The formats above, found by their content when the name and type say
/// nothing or only "XML".
#[test]
fn formats_are_told_by_content_when_names_say_nothing() {
    for (as_name, content_type) in [
        ("feed.xml", Some("application/xml")),
        ("feed.xml", Some("text/xml; charset=utf-8")),
        ("download", None),
        ("download", Some("application/octet-stream")),
        ("export.dat", Some("binary/octet-stream")),
    ] {
        let text = markdown("test_rss.xml", as_name, content_type);
        for s in FEED_INCLUDES {
            assert!(text.contains(s), "feed as {as_name}: missing {s:?}");
        }
        assert!(!text.contains("<rss"), "feed as {as_name}");
    }
    for (name, expected) in [
        ("test.docx", "# Abstract"),
        (
            "test.pptx",
            "![This phrase of the caption is Human-written.]",
        ),
        ("test.xlsx", "6ff4173b-42a5-4784-9b19-f49caff4d93d"),
        ("test.xls", "6ff4173b-42a5-4784-9b19-f49caff4d93d"),
        ("test.epub", "# Chapter 1: Test Content"),
        ("test_outlook_msg.msg", "- **Subject:** Test Email Message"),
        ("test.pdf", "contemporaneous exploration of multi-agent"),
        (
            "test_wikipedia.html",
            "Microsoft was founded by [Bill Gates]",
        ),
        ("test_notebook.ipynb", "```python"),
    ] {
        let text = markdown(name, "attachment", Some("application/octet-stream"));
        assert!(
            text.contains(expected),
            "{name} without a name: {text:.300}"
        );
    }
    // An archive is still refused, whatever it is called.
    let zip = std::fs::read(format!("{DIR}/test.docx")).unwrap();
    let refused = FileExtractor::default().extract(ExtractInput::new(&zip, "bundle.zip", None));
    assert!(refused.is_err());
}
