//! The REST endpoints' logic, independent of how requests arrive (API
//! Gateway events in Lambda, the local gateway, tests): each service takes
//! the verified caller and the request body and answers with a serializable
//! body or an [`ApiError`](crate::ApiError).

pub mod body;
mod documents;
pub mod error;
mod process;
mod status;

pub use documents::{
    list_page, DocumentService, DocumentView, ListPage, ListQuery, DEFAULT_LISTING,
    MAX_GRANTEE_CHARS, MAX_LISTING,
};
pub use process::{
    Accepted, ProcessConfig, ProcessDocumentRequest, ProcessService, MAX_BUCKET_BYTES,
    MAX_CONTENT_TYPE_BYTES, MAX_FILE_NAME_CHARS, MAX_KEY_BYTES, MAX_METADATA_BYTES,
};
pub use status::StatusService;
