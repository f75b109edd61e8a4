//! In-memory implementations of the ports, for unit tests of the code on
//! top of them (the `testing` feature; always on in this crate's tests).
//!
//! They follow the ports' contracts (ownership, scopes, status rules, size
//! limits), so a test over them checks the pipeline or service and not the
//! fake. What they leave out is said on each; the adapters' own tests run on
//! the real services (PostgreSQL, moto).

pub mod conformance;
mod fakes;
mod index;
mod status;

pub use fakes::{
    word_chunker, BagOfWordsEmbedder, EmbedFault, FaultyEmbedder, FixedExtractor, MemoryBlobStore,
    WordCounter,
};
pub use index::MemoryIndex;
pub use status::RecordingStatusStore;
