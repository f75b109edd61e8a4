//! The error shape every HTTP-facing entry point returns.

use serde::Serialize;

/// A client-visible error: an HTTP status, a stable machine-readable `code`
/// and a human message that never carries internals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{status} {code}: {error}")]
pub struct ApiError {
    /// HTTP status code (400, 401, 403, 404, 413, 415, 500).
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
