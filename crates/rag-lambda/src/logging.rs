//! Structured JSON logs, one line per event, as CloudWatch Logs Insights
//! queries them (`RUST_LOG` sets the level, `info` by default).

/// Installs the JSON subscriber; call once at the top of `main`.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time() // CloudWatch stamps every line
        .init();
}
