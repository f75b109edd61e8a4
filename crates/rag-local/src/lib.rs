//! Adapters that run the core on one machine, without AWS: objects in
//! directories, status records in process memory.

mod blobs;
mod status;

pub use blobs::FsBlobStore;
pub use status::MemoryStatusStore;
