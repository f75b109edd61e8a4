//! Helpers shared by the adapters to classify SDK errors.

use aws_sdk_s3::error::{DisplayErrorContext, SdkError};

/// The raw HTTP response type of every SDK crate (they all re-export the one
/// from `aws-smithy-runtime-api`).
pub(crate) type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// The HTTP status of a failed call, when the service answered at all.
pub(crate) fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// The whole error chain on one line: the SDK's `Display` alone says only
/// "service error", which helps nobody reading a log.
pub(crate) fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: std::error::Error + 'static,
{
    DisplayErrorContext(err).to_string()
}

/// A small random delay before retrying a conflicting write, growing with
/// the attempt: spreads racing writers apart so one of them wins quickly.
pub(crate) fn backoff(attempt: u32) -> std::time::Duration {
    use std::hash::{BuildHasher, RandomState};
    let cap_ms = (5u64 << attempt.min(5)).min(150);
    let random = RandomState::new().hash_one(std::time::Instant::now());
    std::time::Duration::from_millis(1 + random % cap_ms)
}
