//! One module per subcommand.

pub mod db;
pub mod eval;
pub mod extract;
pub mod ingest;
pub mod query;
