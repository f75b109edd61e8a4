//! Structured JSON logs, one line per event, as CloudWatch Logs Insights
//! queries them (`RUST_LOG` sets the level, `info` by default).

use tracing_subscriber::fmt::MakeWriter;

/// Installs the JSON subscriber on stdout; call once at the top of `main`.
pub fn init() {
    use tracing_subscriber::util::SubscriberInitExt;
    json_logs(std::io::stdout)
        .try_init()
        .unwrap_or_else(|e| eprintln!("logging not installed: {e}"));
}

/// The functions' log format, writing to `writer`: every event one JSON
/// object with its fields at the top level (so Logs Insights reads
/// `statusId`, `stage`, `duration_ms` by name), no time (CloudWatch stamps
/// every line).
pub fn json_logs<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .with_writer(writer)
        .finish()
}
