//! Link and image targets of web pages: where a tracking redirect really
//! leads, and inline `data:` images, which never reach the index.
//!
//! A saved results page (Bing, Google, DuckDuckGo, Yahoo) or a mail's
//! protected links point at the engine's click-tracker, with the real
//! target encoded in a parameter: the link is written to that target, so a
//! reader (and a search for the site) sees where it goes. An inline image is
//! kilobytes of base64 or SVG that no one searches for: only its alt text
//! stays.

use base64::Engine;
use htmd::Element;

use crate::office::one_line;
use url::Url;

/// Renders `<a>` as htmd's inline style does (`[text](href "title")`),
/// with the target resolved through [`resolve`]; a link that leads nowhere
/// keeps only its text.
pub(super) fn anchor(e: Element) -> Option<String> {
    let (href, title) = (attr(&e, "href"), attr(&e, "title"));
    let Some(href) = href.filter(|h| !h.trim().is_empty()) else {
        return Some(e.content.to_owned());
    };
    let Some(target) = resolve(href.trim()) else {
        return Some(e.content.to_owned());
    };
    let content = e.content.trim_start();
    let text = content.trim_end();
    let trailing = &content[text.len()..];
    Some(format!(
        "[{text}]({}){trailing}",
        destination(&target, title.as_deref())
    ))
}

/// Renders `<img>` as htmd does (`![alt](src "title")`); an inline `data:`
/// image keeps only its alt text (`![alt]()`), and nothing without one.
pub(super) fn image(e: Element) -> Option<String> {
    let alt = attr(&e, "alt").map(|a| one_line(&a)).unwrap_or_default();
    let src = attr(&e, "src").filter(|s| !s.trim().is_empty());
    match src {
        None => None,
        Some(src) if src.trim_start().to_ascii_lowercase().starts_with("data:") => {
            (!alt.is_empty()).then(|| format!("![{alt}]()"))
        }
        Some(src) => Some(format!(
            "![{alt}]({})",
            destination(src.trim(), attr(&e, "title").as_deref())
        )),
    }
}

/// A Markdown link destination with its optional title, escaped as htmd
/// escapes them.
fn destination(target: &str, title: Option<&str>) -> String {
    let target = target.replace('(', "\\(").replace(')', "\\)");
    let title = title
        .map(|t| one_line(t).replace('"', "\\\""))
        .filter(|t| !t.is_empty())
        .map_or(String::new(), |t| format!(" \"{t}\""));
    if target.contains(' ') {
        format!("<{target}{title}>")
    } else {
        format!("{target}{title}")
    }
}

fn attr(e: &Element, name: &str) -> Option<String> {
    e.attrs
        .iter()
        .find(|a| &*a.name.local == name)
        .map(|a| a.value.to_string())
}

/// Where `href` leads: the target a known click-tracker encodes in it
/// (relative to the tracker's site when it is a path), or `href` itself;
/// `None` for a link to script or inline data, directly or through a
/// tracker, which leads nowhere a reader can follow.
pub(crate) fn resolve(href: &str) -> Option<String> {
    let leads_nowhere = |target: &str| {
        let scheme = target.trim_start().to_ascii_lowercase();
        scheme.starts_with("javascript:") || scheme.starts_with("data:")
    };
    if leads_nowhere(href) {
        return None;
    }
    let Some((tracker, target)) = Url::parse(href)
        .ok()
        .and_then(|tracker| redirect_target(&tracker).map(|t| (tracker, t)))
    else {
        return Some(href.to_owned());
    };
    if leads_nowhere(&target) {
        return None;
    }
    Some(
        tracker
            .join(&target)
            .ok()
            .filter(|t| matches!(t.scheme(), "http" | "https"))
            .map_or_else(|| href.to_owned(), String::from),
    )
}

fn redirect_target(url: &Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    let path = url.path();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let is = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    if is("bing.com") && path == "/ck/a" {
        // u=a1<base64url of the target>
        let encoded = param("u")?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded.strip_prefix("a1")?.trim_end_matches('='))
            .ok()?;
        return String::from_utf8(bytes).ok();
    }
    if host.split('.').any(|label| label == "google") && path == "/url" {
        return param("q").or_else(|| param("url"));
    }
    if is("duckduckgo.com") && path.starts_with("/l/") {
        return param("uddg");
    }
    if is("facebook.com") && path == "/l.php" {
        return param("u");
    }
    if is("safelinks.protection.outlook.com") {
        return param("url");
    }
    if is("search.yahoo.com") {
        // /.../RU=<percent-encoded target>/RK=...
        let (_, rest) = path.split_once("/RU=")?;
        let encoded = rest.split('/').next()?;
        return percent_encoding::percent_decode_str(encoded)
            .decode_utf8()
            .ok()
            .map(|t| t.into_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn click_trackers_resolve_to_their_targets() {
        let cases = [
            (
                "https://www.bing.com/ck/a?!&&p=04069a&ptn=3&u=a1aHR0cHM6Ly9lbi53aWtpcGVkaWEub3JnL3dpa2kvTWljcm9zb2Z0&ntb=1",
                "https://en.wikipedia.org/wiki/Microsoft",
            ),
            (
                "https://www.google.com/url?sa=t&url=https%3A%2F%2Fexample.org%2Fa%3Fb%3D1&usg=x",
                "https://example.org/a?b=1",
            ),
            (
                "https://duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.org%2Fpage&rut=abc",
                "https://example.org/page",
            ),
            (
                "https://r.search.yahoo.com/_ylt=A/RV=2/RE=1/RO=10/RU=https%3a%2f%2fexample.org%2fx/RK=2/RS=y-",
                "https://example.org/x",
            ),
            (
                "https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fexample.org%2F&data=05",
                "https://example.org/",
            ),
        ];
        // A path is on the tracker's own site.
        let bing_search = "https://www.bing.com/ck/a?!&&p=e8a&u=a1L3NlYXJjaD9xPUJpbGwlMjBHYXRlcyUyMHdpa2lwZWRpYSZmb3JtPVdJS0lSRQ&ntb=1";
        assert_eq!(
            resolve(bing_search).as_deref(),
            Some("https://www.bing.com/search?q=Bill%20Gates%20wikipedia&form=WIKIRE")
        );
        // Trackers in front of script lead nowhere.
        let bing_script = "https://www.bing.com/ck/a?!&&p=fc5&u=a1amF2YXNjcmlwdDp2b2lkKDAp&ntb=1";
        assert_eq!(resolve(bing_script), None);
        assert_eq!(resolve("javascript:void(0)"), None);
        assert_eq!(
            resolve("https://www.google.com/url?q=javascript:alert(1)"),
            None
        );
        assert_eq!(resolve(" data:text/html,<b>x</b>"), None);
        for (href, target) in cases {
            assert_eq!(resolve(href).as_deref(), Some(target), "{href}");
        }
    }

    #[test]
    fn other_links_stay_as_they_are() {
        for href in [
            "/wiki/Bill_Gates",
            "https://example.org/url?q=https://elsewhere.org",
            "mailto:someone@example.org",
        ] {
            assert_eq!(resolve(href).as_deref(), Some(href));
        }
    }
}
