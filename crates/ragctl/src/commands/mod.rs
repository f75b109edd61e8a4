//! One module per subcommand.

pub mod bench;
pub mod db;
pub mod dev;
pub mod documents;
pub mod eval;
pub mod extract;
pub mod ingest;
pub mod query;
