//! The developer console: three static files compiled into the binary,
//! served with a policy that allows nothing but themselves and this origin.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("../console/index.html");
const APP: &str = include_str!("../console/app.js");
const STYLE: &str = include_str!("../console/style.css");

/// No inline code, no third-party anything: the console renders untrusted
/// document text, so the browser enforces what the code already does.
/// `blob:` images are the rendered pages the console fetches with its token
/// (the gateway serves them to their owner only, so a plain `<img src>`
/// cannot load them).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                      img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

pub(crate) async fn index() -> impl IntoResponse {
    file("text/html; charset=utf-8", INDEX)
}

pub(crate) async fn app() -> impl IntoResponse {
    file("text/javascript; charset=utf-8", APP)
}

pub(crate) async fn style() -> impl IntoResponse {
    file("text/css; charset=utf-8", STYLE)
}
