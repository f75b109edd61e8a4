//! One module per subcommand.

pub mod bench;
pub mod cost;
pub mod db;
pub mod dev;
pub mod dlq;
pub mod documents;
pub mod eval;
pub mod extract;
pub mod ingest;
pub mod migrate_legacy;
pub mod query;
pub mod reembed;

/// A progress bar on stderr for `len` steps of `what`, hidden when stderr
/// is no terminal or the output is meant for machines (`quiet`).
pub(crate) fn progress(len: usize, what: &str, quiet: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() && !quiet {
        indicatif::ProgressBar::new(len as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let template = format!("{what} {{bar:30.cyan/blue}} {{pos}}/{{len}} {{per_sec}} eta {{eta}}");
    bar.set_style(
        indicatif::ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
