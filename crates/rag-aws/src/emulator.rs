//! Pointing this process at the local AWS emulator, for the tests and local
//! runs of the real functions: the SDK's standard `AWS_ENDPOINT_URL` (so no
//! adapter has an emulator code path), dummy credentials and a region.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

static ENDPOINT: OnceLock<Result<String, String>> = OnceLock::new();

/// The emulator's URL: `AWS_ENDPOINT_URL` if the caller set it, or else the
/// moto server that `moto_script start` runs (started if needed, which the
/// script makes idempotent). Also sets dummy credentials and `us-east-1`
/// where none are set. Done once per process; call it before any SDK client
/// is built, since it changes the environment.
pub fn point_at_emulator(moto_script: &Path) -> Result<String, String> {
    ENDPOINT
        .get_or_init(|| {
            let url = match std::env::var("AWS_ENDPOINT_URL") {
                Ok(url) if !url.is_empty() => url,
                _ => {
                    let out = Command::new("bash")
                        .arg(moto_script)
                        .arg("start")
                        .output()
                        .map_err(|e| format!("cannot run {}: {e}", moto_script.display()))?;
                    if !out.status.success() {
                        return Err(format!(
                            "{} start failed: {}",
                            moto_script.display(),
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    }
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    let url = stdout.lines().last().map(str::trim).unwrap_or_default();
                    if !url.starts_with("http") {
                        return Err(format!(
                            "{} printed no URL: {stdout}",
                            moto_script.display()
                        ));
                    }
                    std::env::set_var("AWS_ENDPOINT_URL", url);
                    url.to_owned()
                }
            };
            for (name, value) in [
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("AWS_REGION", "us-east-1"),
            ] {
                if std::env::var_os(name).is_none() {
                    std::env::set_var(name, value);
                }
            }
            Ok(url)
        })
        .clone()
}
