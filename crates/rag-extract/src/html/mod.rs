//! Web pages as Markdown: the main content with headings and links, without
//! the navigation, scripts and page furniture that would pollute search.

use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};

use htmd::{Element, HtmlToMarkdown};
use markup5ever_rcdom::{Node, NodeData};
use rag_core::ports::ExtractError;

mod links;

/// Elements whose content is never the document's text.
const SKIPPED: &[&str] = &[
    "script", "style", "nav", "footer", "aside", "noscript", "iframe", "svg", "form", "template",
    "button",
];
/// Ancestors that make a `<header>` part of the content (an article's own title).
const CONTENT_ROOTS: &[&str] = &["main", "article"];
/// How far up the tree a `<header>` looks for a content root.
const MAX_ANCESTORS: usize = 256;
/// Element nesting above which a page is read as plain text instead: the
/// HTML parser's scope checks walk the stack of open elements, so its time
/// grows with the square of the depth (20,000 nested `<div>`s: a second;
/// 200,000: minutes). Real pages stay below a hundred or so.
const MAX_DEPTH: usize = 2_000;
/// Elements that never nest (void) or are often left open and closed
/// implicitly (`<p>`, `<li>`, cells): not counted when estimating depth.
const NOT_NESTING: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "param", "keygen", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "rb",
    "rt", "rp", "tbody", "thead", "tfoot", "colgroup", "caption", "html", "head", "body",
];
/// Elements whose content is raw text, not markup.
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
];

#[derive(Default)]
struct Captured {
    title: Option<String>,
    /// The first `<h1>`: the page's own title where `<title>` adds the
    /// site's name.
    heading: Option<String>,
    /// The article body of a page made by a known generator (MediaWiki's
    /// `#mw-content-text`): what the page is about, without the chrome that
    /// `<main>` also holds there (the interlanguage list, page tools).
    bodies: Vec<String>,
    mains: Vec<String>,
    articles: Vec<String>,
}

/// `id`s of the article body in pages of known generators.
const BODY_IDS: &[&str] = &["mw-content-text"];
/// Classes of page chrome inside an article body: MediaWiki's `[edit]`
/// links and what it marks as not for print (navigation boxes, hatnotes'
/// tools).
const CHROME_CLASSES: &[&str] = &["mw-editsection", "noprint", "navbox", "mw-jump-link"];
/// ARIA roles of page chrome. Not `banner` nor `contentinfo`: real pages
/// put them on content (Bing marks each result's snippet `contentinfo`).
const CHROME_ROLES: &[&str] = &["navigation", "search", "menu"];

type Shared = Arc<Mutex<Captured>>;

fn with<T>(shared: &Shared, f: impl FnOnce(&mut Captured) -> T) -> T {
    f(&mut shared.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Converts an HTML document to Markdown: the `<main>` element (or
/// `role="main"`) when there is one, else the `<article>` elements, else the
/// whole body; the `<title>` becomes a `# ` heading when the result has none.
pub(crate) fn to_markdown(html: &str) -> Result<String, ExtractError> {
    let shared: Shared = Arc::default();
    if estimated_depth(html) > MAX_DEPTH {
        return Ok(plain_text(html));
    }
    let converter = converter(&shared);
    let full = converter.convert(html).map_err(|e| ExtractError::Corrupt {
        format: "HTML",
        detail: e.to_string(),
    })?;
    let captured = std::mem::take(&mut *shared.lock().unwrap_or_else(PoisonError::into_inner));

    let first = |parts: &[String]| {
        parts
            .iter()
            .map(|m| m.trim())
            .find(|m| !m.is_empty())
            .map(str::to_owned)
    };
    let body_of_generator = first(&captured.bodies);
    let title = match (&body_of_generator, captured.heading) {
        (Some(_), Some(heading)) => Some(heading),
        _ => captured.title,
    };
    let mut body = if let Some(body) = body_of_generator {
        body
    } else if let Some(main) = first(&captured.mains) {
        main
    } else {
        let articles: Vec<&str> = captured
            .articles
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .collect();
        if articles.is_empty() {
            full.trim().to_owned()
        } else {
            articles.join("\n\n")
        }
    };
    if let Some(title) = title.filter(|t| !t.is_empty()) {
        let has_h1 = body.lines().any(|l| l.starts_with("# "));
        if !has_h1 {
            body = if body.is_empty() {
                format!("# {title}")
            } else {
                format!("# {title}\n\n{body}")
            };
        }
    }
    Ok(body)
}

fn converter(shared: &Shared) -> HtmlToMarkdown {
    let (title, heading, main, role_main, article) = (
        shared.clone(),
        shared.clone(),
        shared.clone(),
        shared.clone(),
        shared.clone(),
    );
    HtmlToMarkdown::builder()
        // `* item` and `1. item`, as the office readers and most Markdown
        // writers put them, not htmd's `*   item`.
        .options(htmd::options::Options {
            ul_bullet_spacing: 1,
            ol_number_spacing: 1,
            ..Default::default()
        })
        .skip_tags(SKIPPED.to_vec())
        .add_handler(vec!["a"], links::anchor)
        .add_handler(vec!["img"], links::image)
        .add_handler(vec!["title"], move |e: Element| {
            let text = e.content.split_whitespace().collect::<Vec<_>>().join(" ");
            with(&title, |c| {
                if c.title.is_none() {
                    c.title = Some(text);
                }
            });
            None
        })
        .add_handler(vec!["h1"], move |e: Element| {
            let text = e.content.split_whitespace().collect::<Vec<_>>().join(" ");
            with(&heading, |c| {
                if c.heading.is_none() && !text.is_empty() {
                    c.heading = Some(text.clone());
                }
            });
            // As htmd's own heading handler writes it.
            Some(format!("\n\n# {text}\n\n"))
        })
        .add_handler(vec!["span", "label"], |e: Element| {
            if is_chrome(&e) {
                return None;
            }
            Some(e.content.to_owned())
        })
        .add_handler(vec!["header"], |e: Element| {
            has_ancestor(e.node, CONTENT_ROOTS).then(|| block(e.content))
        })
        .add_handler(vec!["main"], move |e: Element| {
            if !has_ancestor(e.node, &["main"]) {
                with(&main, |c| c.mains.push(e.content.to_owned()));
            }
            Some(block(e.content))
        })
        .add_handler(vec!["div", "section"], move |e: Element| {
            if is_chrome(&e) {
                return None;
            }
            if e.attrs
                .iter()
                .any(|a| &*a.name.local == "id" && BODY_IDS.contains(&a.value.trim()))
            {
                with(&role_main, |c| c.bodies.push(e.content.to_owned()));
            }
            let is_main = e
                .attrs
                .iter()
                .any(|a| &*a.name.local == "role" && a.value.trim().eq_ignore_ascii_case("main"));
            if is_main {
                with(&role_main, |c| c.mains.push(e.content.to_owned()));
            }
            Some(block(e.content))
        })
        // htmd drops a header row of <th> cells when the table has no
        // <thead> (the parser puts that row in an implied <tbody>, where
        // htmd reads only <td>), and row-header <th> cells anywhere.
        .add_handler(vec!["table"], |e: Element| {
            let rows = table_rows(e.node);
            if rows.is_empty() {
                return Some(block(e.content));
            }
            let caption = e.node.children.borrow().iter().find_map(|c| {
                (element_name(c).as_deref() == Some("caption")).then(|| {
                    let mut text = String::new();
                    node_text(c, &mut text, 0);
                    crate::table::cell(&text)
                })
            });
            let table = crate::table::rows_to_markdown(&rows);
            Some(block(&match caption {
                Some(c) if !c.is_empty() => format!("{c}\n\n{table}"),
                _ => table,
            }))
        })
        .add_handler(vec!["article"], move |e: Element| {
            // Nested articles (comments, cards) are already in their parent's text.
            if !has_ancestor(e.node, &["article"]) {
                with(&article, |c| c.articles.push(e.content.to_owned()));
            }
            Some(block(e.content))
        })
        .build()
}

/// Page chrome: an element hidden from assistive technology
/// (`aria-hidden="true"`: icons, duplicated labels), or marked by a
/// [`CHROME_CLASSES`] class or a [`CHROME_ROLES`] role.
fn is_chrome(e: &Element) -> bool {
    e.attrs.iter().any(|a| match &*a.name.local {
        "aria-hidden" => a.value.trim().eq_ignore_ascii_case("true"),
        "class" => a
            .value
            .split_whitespace()
            .any(|c| CHROME_CLASSES.contains(&c)),
        "role" => CHROME_ROLES.contains(&a.value.trim().to_ascii_lowercase().as_str()),
        _ => false,
    })
}

/// What htmd's own handler does for block elements.
fn block(content: &str) -> String {
    format!("\n\n{content}\n\n")
}

/// The rows of a table (through `thead`, `tbody` and `tfoot`, not into
/// nested tables), each a list of its `th` and `td` cells' text in order.
fn table_rows(table: &Rc<Node>) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for child in table.children.borrow().iter() {
        match element_name(child).as_deref() {
            Some("tr") => push_table_row(child, &mut rows),
            Some("thead" | "tbody" | "tfoot") => {
                for row in child.children.borrow().iter() {
                    if element_name(row).as_deref() == Some("tr") {
                        push_table_row(row, &mut rows);
                    }
                }
            }
            _ => {}
        }
    }
    rows
}

fn push_table_row(row: &Rc<Node>, rows: &mut Vec<Vec<String>>) {
    let cells: Vec<String> = row
        .children
        .borrow()
        .iter()
        .filter(|c| matches!(element_name(c).as_deref(), Some("th" | "td")))
        .map(|c| {
            let mut text = String::new();
            node_text(c, &mut text, 0);
            crate::table::cell(&text)
        })
        .collect();
    if !cells.is_empty() {
        rows.push(cells);
    }
}

fn element_name(node: &Node) -> Option<String> {
    match &node.data {
        NodeData::Element { name, .. } => Some(name.local.to_string()),
        _ => None,
    }
}

/// The text under `node`, depth-limited like the rest of this reader.
fn node_text(node: &Node, out: &mut String, depth: usize) {
    if depth > MAX_ANCESTORS {
        return;
    }
    match &node.data {
        NodeData::Text { contents } => {
            out.push_str(&contents.borrow());
            out.push(' ');
        }
        NodeData::Element { name, .. } if SKIPPED.contains(&&*name.local) => {}
        _ => {
            for child in node.children.borrow().iter() {
                node_text(child, out, depth + 1);
            }
        }
    }
}

fn has_ancestor(node: &Rc<Node>, tags: &[&str]) -> bool {
    let mut current = parent(node);
    for _ in 0..MAX_ANCESTORS {
        let Some(node) = current else { return false };
        if let NodeData::Element { name, .. } = &node.data {
            if tags.contains(&&*name.local) {
                return true;
            }
        }
        current = parent(&node);
    }
    false
}

fn parent(node: &Node) -> Option<Rc<Node>> {
    // `parent` is a Cell of a Weak: take it, clone it, put it back.
    let weak = node.parent.take();
    let strong = weak.as_ref().and_then(|w| w.upgrade());
    node.parent.set(weak);
    strong
}

/// One tag of a quick scan: its lower-cased name, whether it closes, and
/// whether it is self-closing; `end` is the index after its `>`.
struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    end: usize,
}

/// The markup at `i` (a `<`): a tag, or `None` for comments, doctypes and
/// stray `<`s, with the index to continue from.
fn scan_tag(bytes: &[u8], i: usize) -> (Option<Tag>, usize) {
    let rest = &bytes[i..];
    if rest.starts_with(b"<!--") {
        let end = find(&rest[4..], b"-->").map_or(bytes.len(), |p| i + 4 + p + 3);
        return (None, end);
    }
    if matches!(rest.get(1), Some(b'!' | b'?')) {
        let end = rest
            .iter()
            .position(|b| *b == b'>')
            .map_or(bytes.len(), |p| i + p + 1);
        return (None, end);
    }
    let closing = rest.get(1) == Some(&b'/');
    let start = i + 1 + usize::from(closing);
    let name_len = bytes[start..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    if name_len == 0 || !bytes[start].is_ascii_alphabetic() {
        return (None, i + 1);
    }
    let name = String::from_utf8_lossy(&bytes[start..start + name_len]).to_ascii_lowercase();
    let mut j = start + name_len;
    let mut quote = None;
    while j < bytes.len() {
        match (bytes[j], quote) {
            (b'"' | b'\'', None) => quote = Some(bytes[j]),
            (q, Some(open)) if q == open => quote = None,
            (b'>', None) => break,
            _ => {}
        }
        j += 1;
    }
    let self_closing = j > 0 && bytes.get(j - 1) == Some(&b'/');
    (
        Some(Tag {
            name,
            closing,
            self_closing,
            end: (j + 1).min(bytes.len()),
        }),
        (j + 1).min(bytes.len()),
    )
}

/// Index after the `</name ...>` that ends a raw-text element opened before `from`.
fn raw_text_end(bytes: &[u8], from: usize, name: &str) -> usize {
    let closing = format!("</{name}");
    let needle = closing.as_bytes();
    match bytes[from..]
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
    {
        Some(p) => {
            let after = from + p;
            bytes[after..]
                .iter()
                .position(|b| *b == b'>')
                .map_or(bytes.len(), |q| after + q + 1)
        }
        None => bytes.len(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A cheap upper estimate of how deeply elements nest, without parsing.
fn estimated_depth(html: &str) -> usize {
    let bytes = html.as_bytes();
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    while let Some(p) = bytes[i..].iter().position(|b| *b == b'<') {
        let (tag, next) = scan_tag(bytes, i + p);
        i = next;
        let Some(tag) = tag else { continue };
        if tag.closing {
            if !NOT_NESTING.contains(&tag.name.as_str()) {
                depth = depth.saturating_sub(1);
            }
        } else if RAW_TEXT.contains(&tag.name.as_str()) {
            i = raw_text_end(bytes, tag.end, &tag.name);
        } else if !tag.self_closing && !NOT_NESTING.contains(&tag.name.as_str()) {
            depth += 1;
            max = max.max(depth);
        }
        if i >= bytes.len() {
            break;
        }
    }
    max
}

/// The text of a page too deeply nested to convert: the title as a heading,
/// tags removed, scripts and styles dropped, common entities decoded, one
/// paragraph per block.
fn plain_text(html: &str) -> String {
    const BLOCKS: &[&str] = &[
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "table",
        "ul",
        "ol",
        "pre",
        "blockquote",
    ];
    let bytes = html.as_bytes();
    let mut raw = String::with_capacity(html.len() / 2);
    let mut i = 0;
    while i < bytes.len() {
        let Some(p) = bytes[i..].iter().position(|b| *b == b'<') else {
            raw.push_str(&String::from_utf8_lossy(&bytes[i..]));
            break;
        };
        raw.push_str(&String::from_utf8_lossy(&bytes[i..i + p]));
        let (tag, next) = scan_tag(bytes, i + p);
        i = next;
        if let Some(tag) = tag {
            if !tag.closing && RAW_TEXT.contains(&tag.name.as_str()) {
                i = raw_text_end(bytes, tag.end, &tag.name);
                if tag.name == "title" && raw.trim().is_empty() {
                    let inner = String::from_utf8_lossy(&bytes[tag.end..i]);
                    let title = inner.rsplit_once("</").map_or(&*inner, |(t, _)| t);
                    raw = format!(
                        "# {}\n",
                        title.split_whitespace().collect::<Vec<_>>().join(" ")
                    );
                }
            } else if BLOCKS.contains(&tag.name.as_str()) {
                raw.push('\n');
            } else {
                raw.push(' ');
            }
        }
    }
    let decoded = decode_entities(&raw);
    decoded
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let entity = rest
            .get(1..)
            .and_then(|r| r.find(';').filter(|&n| n <= 10).map(|n| &r[..n]));
        let decoded = entity.and_then(|e| match e {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            e => {
                let code = match e.strip_prefix("#x").or_else(|| e.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => e.strip_prefix('#').and_then(|d| d.parse().ok()),
                };
                code.and_then(char::from_u32)
            }
        });
        match (entity, decoded) {
            (Some(e), Some(c)) => {
                out.push(c);
                rest = &rest[e.len() + 2..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_estimate_ignores_implicitly_closed_and_raw_text() {
        assert_eq!(
            estimated_depth("<div><div><p>a<p>b<br><img src='x>y'></div></div>"),
            2
        );
        assert_eq!(
            estimated_depth("<script>if (a<b) { '<div><div>' }</script><span/>x"),
            0
        );
        assert_eq!(estimated_depth("<!-- <div><div> --><ul><li>a<li>b</ul>"), 1);
        assert_eq!(estimated_depth(&"<div>".repeat(5_000)), 5_000);
    }

    #[test]
    fn too_deep_pages_become_plain_text() {
        let html = format!(
            "<title>T</title><script>x()</script>{}<p>Fish &amp; chips &#8364;5</p>{}",
            "<div>".repeat(3_000),
            "</div>".repeat(3_000)
        );
        assert_eq!(
            to_markdown(&html).unwrap_or_default(),
            "# T\n\nFish & chips €5"
        );
    }

    #[test]
    fn tables_keep_header_rows_row_headers_and_captions() {
        // No <thead>: the <th> row is still the header (htmd dropped it).
        let html = "<main><table><caption>Latency by component</caption>\
            <tr><th>Component</th><th>Latency ms</th></tr>\
            <tr><th>api</th><td>12</td></tr>\
            <tr><td>db | primary</td><td>3</td></tr></table></main>";
        assert_eq!(
            to_markdown(html).unwrap_or_default(),
            "Latency by component\n\n| Component | Latency ms |\n| --- | --- |\n| api | 12 |\n| db \\| primary | 3 |"
        );
        let with_thead =
            "<table><thead><tr><th>A</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>";
        assert_eq!(
            to_markdown(with_thead).unwrap_or_default(),
            "| A |\n| --- |\n| 1 |"
        );
    }
}
