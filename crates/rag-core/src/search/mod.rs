//! Answering a query: the query service and its request ([`query`]), the
//! fusion of the dense and BM25 lists ([`fusion`]), the BM25 analyzer shared
//! with indexing ([`analyzer`]), the script check that keeps a model from
//! ranking text it cannot read ([`language`]), and the retrieval metrics
//! that measure all of it ([`eval`]).

pub mod analyzer;
pub mod bm25;
pub mod eval;
pub mod fusion;
pub mod language;
pub mod query;
#[cfg(test)]
mod service_tests;
