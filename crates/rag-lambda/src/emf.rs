//! The processors' metrics ([`rag_core::ingest::pipeline::telemetry`]) written to
//! stdout in CloudWatch's embedded metric format after each invocation:
//! CloudWatch Logs turns those lines into metrics, with no API call from
//! the function.

use metrics_cloudwatch_embedded::Collector;
use rag_core::ingest::pipeline::telemetry;

/// The installed metrics recorder.
pub struct Emf(&'static Collector);

impl Emf {
    /// Installs the recorder for the whole process; `None` (logged) if one
    /// is installed already.
    pub fn install() -> Option<Self> {
        match metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(telemetry::NAMESPACE)
            .init()
        {
            Ok(collector) => {
                telemetry::describe_metrics();
                Some(Self(collector))
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed");
                None
            }
        }
    }

    /// Writes what was recorded since the last flush to stdout, one line a
    /// document.
    pub fn flush(&self) {
        self.flush_to(std::io::stdout());
    }

    /// [`Emf::flush`] to `writer`.
    pub fn flush_to(&self, writer: impl std::io::Write) {
        if let Err(e) = self.0.flush(writer) {
            tracing::warn!(error = %e, "metrics not written");
        }
    }
}
