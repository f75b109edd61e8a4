//! The developer console: static files compiled into the binary, served
//! with a policy that allows nothing but themselves and this origin. It
//! talks to the API through the TypeScript client (`clients/typescript`),
//! whose compiled modules are kept in `console/client/`
//! (`scripts/client-test.sh` fails when they differ from a fresh build).

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../console/index.html");
const APP: &str = include_str!("../console/app.js");
const STYLE: &str = include_str!("../console/style.css");

/// The client's modules, by file name.
const CLIENT: &[(&str, &str)] = &[
    ("index.js", include_str!("../console/client/index.js")),
    ("client.js", include_str!("../console/client/client.js")),
    ("status.js", include_str!("../console/client/status.js")),
    ("routing.js", include_str!("../console/client/routing.js")),
    ("types.js", include_str!("../console/client/types.js")),
];

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

/// `GET /client/{file}`: a module of the TypeScript client.
pub(crate) async fn client(Path(name): Path<String>) -> Response {
    match CLIENT.iter().find(|(file, _)| *file == name) {
        Some((_, body)) => file("text/javascript; charset=utf-8", body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
