//! The REST endpoints' logic, independent of how requests arrive (API
//! Gateway events in Lambda, the local gateway, tests): each service takes
//! the verified caller and the request body and answers with a serializable
//! body or an [`ApiError`](crate::ApiError).

mod process;
mod status;

pub use process::{Accepted, ProcessConfig, ProcessDocumentRequest, ProcessService};
pub use status::StatusService;
