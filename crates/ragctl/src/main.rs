//! `ragctl`: run amplify-rag-async from a terminal: migrate the index,
//! ingest files, search them, inspect extraction and measure retrieval.

mod commands;
mod files;
mod wiring;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rag_core::search::query::{
    QueryRequest, DEFAULT_DENSE_WEIGHT, DEFAULT_SPARSE_WEIGHT, DEFAULT_TOP_K,
};
use rag_core::ApiError;

/// amplify-rag-async command-line tool.
///
/// Uses the database in DATABASE_URL (default: the embedded PostgreSQL that
/// `scripts/pg.sh start` runs) and the local embedding model in RAG_MODEL_DIR
/// (fetched by `scripts/fetch-model.sh`). Start with `ragctl db migrate`.
#[derive(Parser, Debug)]
#[command(name = "ragctl", version, propagate_version = true)]
struct Cli {
    /// Log progress as JSON to stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Database administration.
    #[command(subcommand)]
    Db(DbCommand),
    /// Index files or directories (recursively) for a user.
    ///
    /// Each file is classified, extracted, chunked, embedded and stored; a
    /// summary lists documents, chunks and failures with their reasons.
    /// Re-ingesting a file replaces its previous version.
    Ingest(IngestArgs),
    /// Search a user's documents.
    Query(QueryArgs),
    /// List a user's indexed documents.
    Documents {
        /// Whose documents.
        #[arg(long, env = "RAG_USER", default_value = "local-user")]
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a document and everything indexed from it.
    Delete {
        /// The document id (`bucket#key`, as `documents` lists it).
        document_id: String,
        /// The owner.
        #[arg(long, env = "RAG_USER", default_value = "local-user")]
        user: String,
    },
    /// Print the text (Markdown) extracted from a file.
    Extract {
        /// File to read.
        file: PathBuf,
    },
    /// Run the whole service on localhost: REST and WebSocket APIs through the
    /// Lambda handlers, uploads, queue consumers, and the developer console.
    Dev(DevArgs),
    /// Measure retrieval quality on a BEIR-format dataset.
    ///
    /// Loads corpus.jsonl into its own isolated scope (reused while the corpus,
    /// model and settings are unchanged), runs every judged query of
    /// qrels/test.tsv and prints nDCG@10, recall@100, MRR and latencies.
    Eval(EvalArgs),
    /// Measure search at the scale of an organization.
    ///
    /// Builds (once, then reuses) a multi-tenant database from real text
    /// and vectors, a million chunks by default, in a database of its own,
    /// and reports per search mode and visible scope size: latency
    /// percentiles, dense recall@10 against an exact scan, BM25 top-10
    /// agreement with the exact definition, load time and write rates.
    Bench(commands::bench::BenchArgs),
    /// Move the old amplify-rag index (its `embeddings` table and DynamoDB
    /// tables) into this one: one document per user file, with its owner
    /// and grants; resumable, with --dry-run and --verify.
    MigrateLegacy(commands::migrate_legacy::MigrateLegacyArgs),
    /// Embed again the documents indexed with another model than the
    /// configured one (in process, or queued for the text processors).
    Reembed(commands::reembed::ReembedArgs),
    /// What processing a document costs per pipeline, from the processors'
    /// log lines and the memory the YAML deploys them with.
    Cost(commands::cost::CostArgs),
    /// The pipelines' dead-letter queues: list, show, and redrive as new runs.
    #[command(subcommand)]
    Dlq(commands::dlq::DlqCommand),
}

#[derive(Args, Debug)]
struct DevArgs {
    /// Address to listen on.
    #[arg(long, env = "RAG_DEV_ADDR", default_value = "127.0.0.1:8787")]
    addr: std::net::SocketAddr,
    /// Uploaded files, status records, queues and the token secret.
    #[arg(long, env = "RAG_DEV_DIR", default_value = ".local/dev")]
    data_dir: PathBuf,
    /// The user the console acts as.
    #[arg(long, env = "RAG_USER", default_value = "dev-user")]
    user: String,
    /// Let `/ws?user=<name>` connect as that user without a token, as the
    /// original service allowed (for a frontend written against it). Anyone
    /// who reaches the port can then act as anyone.
    #[arg(long)]
    trust_user_param: bool,
    /// Jobs each pipeline runs at once, as the processors' concurrency on
    /// Lambda; a long text document is split into at most this many
    /// page-range jobs.
    #[arg(long, env = "RAG_DEV_WORKERS", default_value_t = 4)]
    workers: usize,
    #[command(subcommand)]
    command: Option<DevCommand>,
}

#[derive(Subcommand, Debug)]
enum DevCommand {
    /// Print a local identity token (verified like a Cognito id token).
    Token {
        /// Whose token.
        #[arg(long, env = "RAG_USER", default_value = "dev-user")]
        user: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// Create or update the index tables (idempotent).
    Migrate,
    /// Remove every table, index and migration record this service created
    /// (and nothing else: the `vector` extension and other tables stay);
    /// `db migrate` recreates them.
    Drop {
        /// Really drop: without it, says what would go and stops.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args, Debug)]
struct IngestArgs {
    /// Files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Owner of the documents.
    #[arg(long, env = "RAG_USER", default_value = "local-user")]
    user: String,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// A tag of every file (repeatable), as `tags` of process-document.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// The knowledge base of every file, as `knowledge_base_id`.
    #[arg(long)]
    knowledge_base_id: Option<String>,
    /// Another attribute of every file, NAME=VALUE (repeatable; a VALUE
    /// that is JSON, like 2024 or true, is kept as such).
    #[arg(long = "attribute", value_parser = parse_attribute)]
    attributes: Vec<(String, serde_json::Value)>,
}

/// `NAME=VALUE`, the value as JSON when it parses as a number, a boolean
/// or a list, and as a string otherwise.
fn parse_attribute(s: &str) -> Result<(String, serde_json::Value), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not NAME=VALUE"))?;
    let value = serde_json::from_str::<serde_json::Value>(value)
        .ok()
        .filter(|v| v.is_number() || v.is_boolean() || v.is_array())
        .unwrap_or_else(|| serde_json::Value::String(value.to_owned()));
    Ok((name.to_owned(), value))
}

/// Search modes offered by the CLI.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Dense and BM25, fused (the API default).
    Hybrid,
    /// Dense vectors only.
    Dense,
    /// BM25 only.
    Sparse,
    /// Pages of VDR documents, by MaxSim over page vectors.
    Vdr,
    /// Pages and text chunks, fused.
    #[value(name = "hybrid_vdr_text", alias = "hybrid-vdr-text")]
    HybridVdrText,
}

impl Mode {
    fn api_name(self) -> &'static str {
        match self {
            Mode::Hybrid => "hybrid",
            Mode::Dense => "dense",
            Mode::Sparse => "sparse",
            Mode::Vdr => "vdr",
            Mode::HybridVdrText => "hybrid_vdr_text",
        }
    }

    /// Whether the mode searches text chunks only, as `eval`'s corpora
    /// are stored.
    fn is_text(self) -> bool {
        matches!(self, Mode::Hybrid | Mode::Dense | Mode::Sparse)
    }
}

/// How to search; shared by `query` and `eval`.
#[derive(Args, Debug)]
struct SearchOptions {
    #[arg(long, value_enum, default_value = "hybrid")]
    mode: Mode,
    /// Weight of the dense list in hybrid mode (0-1).
    #[arg(long, default_value_t = DEFAULT_DENSE_WEIGHT)]
    dense_weight: f64,
    /// Weight of the BM25 list in hybrid mode (0-1).
    #[arg(long, default_value_t = DEFAULT_SPARSE_WEIGHT)]
    sparse_weight: f64,
    /// How hybrid mode fuses its lists: weighted reciprocal ranks (the
    /// service's default) or min-max normalised scores.
    #[arg(long, value_enum, default_value = "rrf")]
    fusion: FusionArg,
}

/// `--fusion`, as the API's `fusion` field names it.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum FusionArg {
    Rrf,
    MinMax,
}

impl SearchOptions {
    /// The request for `text`, validated exactly as `POST /v2/query` does.
    fn request(
        &self,
        text: &str,
        top_k: usize,
        document_ids: &[String],
        filter: Option<&str>,
    ) -> Result<QueryRequest, ApiError> {
        let mut body = serde_json::json!({
            "query": text, "top_k": top_k, "search_mode": self.mode.api_name(),
            "dense_weight": self.dense_weight, "sparse_weight": self.sparse_weight, "fusion": match self.fusion {
                FusionArg::Rrf => "rrf",
                FusionArg::MinMax => "min_max",
            },
        });
        if !document_ids.is_empty() {
            body["document_ids"] = serde_json::json!(document_ids);
        }
        if let Some(filter) = filter {
            body["filter"] = serde_json::from_str(filter).map_err(|e| {
                ApiError::bad_request("invalid_field", format!("'filter' is not JSON: {e}"))
            })?;
        }
        QueryRequest::from_json(body.to_string().as_bytes())
    }
}

#[derive(Args, Debug)]
struct QueryArgs {
    /// What to search for.
    text: String,
    /// Whose documents to search.
    #[arg(long, env = "RAG_USER", default_value = "local-user")]
    user: String,
    #[command(flatten)]
    search: SearchOptions,
    /// Number of results (1-100).
    #[arg(long, default_value_t = DEFAULT_TOP_K)]
    top_k: usize,
    /// Only search these documents (repeatable).
    #[arg(long = "document-id")]
    document_ids: Vec<String>,
    /// Only documents whose attributes match this filter, as the API's
    /// `filter` JSON, e.g. '{"field": "tags", "contains": "legal"}'.
    #[arg(long)]
    filter: Option<String>,
    /// Print the API's JSON response.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// Folder with corpus.jsonl, queries.jsonl and qrels/test.tsv.
    #[arg(long)]
    dataset: PathBuf,
    #[command(flatten)]
    search: SearchOptions,
    /// Rebuild the dataset's scope even if it is current.
    #[arg(long)]
    rebuild: bool,
    /// Print the result as JSON only.
    #[arg(long)]
    json: bool,
    /// Also write each query's nDCG@10 to this file (JSON lines), so two
    /// runs can be compared query by query (a paired bootstrap).
    #[arg(long, value_name = "FILE")]
    per_query: Option<PathBuf>,
    /// Also write each query's fusion candidates before fusion, as [chunk,
    /// document, cosine or null, BM25 score] (JSON lines): the union of the
    /// dense and the BM25 top lists with both exact scores, the input of
    /// `scripts/fusion-study.py`.
    #[arg(long, value_name = "FILE")]
    candidates: Option<PathBuf>,
    /// Also run every query with `rerank: true` (the reranker of
    /// RERANK_URL) and report the nDCG@10 change with its 95% interval.
    #[arg(long)]
    rerank: bool,
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "error",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    // `ragctl dev` reads documents in workers that are ragctl again
    // (rag_extract::sandbox): one of them serves its parent and exits here.
    rag_extract::sandbox::serve_if_worker();
    let cli = Cli::parse();
    // The gateway is a server: it logs its requests unless told otherwise.
    let serving = matches!(&cli.command, Command::Dev(DevArgs { command: None, .. }));
    init_logging(cli.verbose.max(u8::from(serving)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Db(DbCommand::Migrate) => commands::db::migrate().await,
            Command::Db(DbCommand::Drop { yes }) => commands::db::drop(yes).await,
            Command::Ingest(a) => commands::ingest::run(a).await,
            Command::Query(a) => commands::query::run(a).await,
            Command::Documents { user, json } => commands::documents::list(&user, json).await,
            Command::Delete { document_id, user } => {
                commands::documents::delete(&document_id, &user).await
            }
            Command::Extract { file } => commands::extract::run(&file),
            Command::Eval(a) => commands::eval::run(a).await,
            Command::Bench(a) => commands::bench::run(a).await,
            Command::MigrateLegacy(a) => commands::migrate_legacy::run(a).await,
            Command::Dlq(c) => commands::dlq::run(c).await,
            Command::Cost(a) => commands::cost::run(a),
            Command::Reembed(a) => commands::reembed::run(a).await,
            Command::Dev(DevArgs {
                command: Some(DevCommand::Token { user, ttl }),
                data_dir,
                ..
            }) => commands::dev::token(data_dir, &user, ttl),
            Command::Dev(a) => {
                commands::dev::serve(a.addr, a.data_dir, a.user, a.trust_user_param, a.workers)
                    .await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
