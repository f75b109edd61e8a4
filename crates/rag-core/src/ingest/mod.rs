//! Turning a queued document into index rows: the text and VDR pipelines and
//! the queue consumer that runs them ([`pipeline`]), token-sized chunking
//! with citations ([`chunking`]), the visuals step that reads the images
//! worth reading ([`visuals`]), page spans for VDR, re-embedding after a
//! model change, and the migration of the old system's documents.

pub mod chunking;
pub mod legacy;
pub mod page_spans;
pub mod pipeline;
pub mod reembed;
pub mod visuals;
