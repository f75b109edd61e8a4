//! The error shape every HTTP-facing entry point returns.

use serde::Serialize;

/// A client-visible error: an HTTP status, a stable machine-readable `code`
/// and a human message that never carries internals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{status} {code}: {error}")]
pub struct ApiError {
    /// HTTP status code (400, 401, 403, 404, 409, 413, 415, 500, 503).
    #[serde(skip)]
    pub status: u16,
    /// Stable identifier clients can switch on, e.g. `invalid_field`.
    pub code: &'static str,
    /// What went wrong, in words a caller can act on.
    pub error: String,
}

impl ApiError {
    /// A `400` for a request that cannot be acted on as sent.
    pub fn bad_request(code: &'static str, error: impl Into<String>) -> Self {
        Self {
            status: 400,
            code,
            error: error.into(),
        }
    }
    /// A `401`: no valid identity.
    pub fn unauthorized(error: impl Into<String>) -> Self {
        Self {
            status: 401,
            code: "unauthorized",
            error: error.into(),
        }
    }
    /// A `403`: the caller may not see this resource.
    pub fn forbidden(error: impl Into<String>) -> Self {
        Self {
            status: 403,
            code: "forbidden",
            error: error.into(),
        }
    }
    /// A `404`: unknown object or status.
    pub fn not_found(error: impl Into<String>) -> Self {
        Self {
            status: 404,
            code: "not_found",
            error: error.into(),
        }
    }
    /// A `409`: the resource is not in a state that allows the request
    /// (cancelling a run that already ended, sharing a document not stored).
    pub fn conflict(error: impl Into<String>) -> Self {
        Self {
            status: 409,
            code: "conflict",
            error: error.into(),
        }
    }
    /// A `413`: over the configured size limit.
    pub fn too_large(error: impl Into<String>) -> Self {
        Self {
            status: 413,
            code: "payload_too_large",
            error: error.into(),
        }
    }
    /// A `415`: no pipeline can read this type.
    pub fn unsupported_type(error: impl Into<String>) -> Self {
        Self {
            status: 415,
            code: "unsupported_media_type",
            error: error.into(),
        }
    }
    /// A `500` for a real fault; the cause is logged, not returned.
    pub fn internal() -> Self {
        Self {
            status: 500,
            code: "internal_error",
            error: "internal error".into(),
        }
    }
    /// A `503` for a dependency that is down (database, model endpoint).
    pub fn unavailable(error: impl Into<String>) -> Self {
        Self {
            status: 503,
            code: "service_unavailable",
            error: error.into(),
        }
    }
}

/// `text` with what only operators should see replaced: URLs
/// (`scheme://...`) and IP addresses become `[address]`, absolute file paths
/// `[path]`. Messages shown to users are written without such things; this
/// is the last line of defence for a status `error` that quotes something
/// (a parser, a converter) whose words were not written for users.
pub fn redact_internals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        // Quotes and punctuation around a word stay as they were.
        let core = word
            .trim_start_matches(|c: char| "'\"`([{<".contains(c))
            .trim_end_matches(|c: char| "'\"`)]}>,;:.!?".contains(c));
        let replacement = if core.contains("://") || is_ip_address(core) {
            Some("[address]")
        } else if is_absolute_path(core) {
            Some("[path]")
        } else {
            None
        };
        match replacement {
            Some(r) if !core.is_empty() => out.push_str(&word.replacen(core, r, 1)),
            _ => out.push_str(word),
        }
        rest = &rest[end..];
    }
    out
}

/// `1.2.3.4` or `1.2.3.4:5432`.
fn is_ip_address(word: &str) -> bool {
    let host = word.rsplit_once(':').map_or(word, |(host, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            host
        } else {
            word
        }
    });
    host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// `/tmp/x`, `/opt/lib/libpdfium.so`: at least two segments from the root.
fn is_absolute_path(word: &str) -> bool {
    word.strip_prefix('/')
        .is_some_and(|rest| rest.contains('/') && rest.split('/').all(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::redact_internals;

    #[test]
    fn internals_are_redacted_and_the_rest_kept() {
        for (said, shown) in [
            (
                "error sending request for url (http://embed.internal:8080/v1/embeddings)",
                "error sending request for url ([address])",
            ),
            (
                "connection to 10.0.3.7:5432 refused",
                "connection to [address] refused",
            ),
            (
                "could not open '/tmp/rag-soffice-x1/source.docx': gone",
                "could not open '[path]': gone",
            ),
            (
                "the file is corrupt or not a valid PDF: xref table 1/2 broken",
                "the file is corrupt or not a valid PDF: xref table 1/2 broken",
            ),
            (
                "'alice/q3 report.pdf' (.pdf): 3 of 10 pages",
                "'alice/q3 report.pdf' (.pdf): 3 of 10 pages",
            ),
        ] {
            assert_eq!(redact_internals(said), shown);
        }
    }
}
