//! Legacy Word (`.doc`) and PowerPoint (`.ppt`) files, read through
//! LibreOffice: converted to DOCX/PPTX in a temporary directory, then read
//! by the Office readers like any upload. (Legacy Excel `.xls` is read by
//! calamine directly.)
//!
//! LibreOffice is `soffice` on `PATH`, or the program [`SOFFICE_ENV`] names
//! (set to a path that does not exist, it turns the conversion off). Without
//! it these files fail with [`ExtractError::Unsupported`] saying so. Each
//! conversion runs headless with a user profile of its own (concurrent
//! conversions do not share, or lock, one), in a process group of its own
//! that is killed, helper processes included, when the conversion overruns
//! its time.
//!
//! Password-protected files are recognized from their OLE streams (the Word
//! file's FIB flag, PowerPoint's current-user token, an encrypted OOXML
//! package under a legacy name) and fail with [`ExtractError::Encrypted`]
//! before LibreOffice is started; they are not decrypted.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rag_core::domain::classify::{extension, file_name};
use rag_core::ports::{ExtractError, ExtractInput};

use crate::{office, Extraction, Limits};

/// Environment variable naming the LibreOffice program (`soffice`).
pub const SOFFICE_ENV: &str = "RAG_SOFFICE";

/// Share of the document's time budget ([`Limits::max_duration`]) the
/// conversion may take: the rest is for reading its result.
const CONVERSION_SHARE: f64 = 0.75;

/// The legacy formats converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Legacy {
    /// Word 97-2003 (`.doc`, `.dot`), converted to DOCX.
    Word,
    /// PowerPoint 97-2003 (`.ppt`, `.pps`, `.pot`), converted to PPTX.
    PowerPoint,
}

impl Legacy {
    fn target(self) -> &'static str {
        match self {
            Legacy::Word => "docx",
            Legacy::PowerPoint => "pptx",
        }
    }

    fn source_extensions(self) -> &'static [&'static str] {
        match self {
            Legacy::Word => &["doc", "dot"],
            Legacy::PowerPoint => &["ppt", "pps", "pot"],
        }
    }

    /// The format name in errors.
    fn name(self) -> &'static str {
        match self {
            Legacy::Word => "DOC",
            Legacy::PowerPoint => "PPT",
        }
    }

    fn what_one(self) -> &'static str {
        match self {
            Legacy::Word => "Word 97-2003",
            Legacy::PowerPoint => "PowerPoint 97-2003",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Legacy::Word => "legacy Word 97-2003 documents",
            Legacy::PowerPoint => "legacy PowerPoint 97-2003 presentations",
        }
    }
}

/// LibreOffice's `soffice`: the program [`SOFFICE_ENV`] names when set
/// (`None` if it is not an executable file), else `soffice` on `PATH`.
pub(crate) fn find_soffice() -> Option<PathBuf> {
    match std::env::var_os(SOFFICE_ENV).filter(|v| !v.is_empty()) {
        Some(program) => Some(PathBuf::from(program)).filter(|p| is_executable(p)),
        None => std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join("soffice"))
            .find(|p| is_executable(p)),
    }
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Reads a legacy file: converted by `soffice` (`None`: LibreOffice is not
/// available), then read as DOCX/PPTX. A zip under a legacy name is the
/// modern format misnamed and is read directly.
pub(crate) fn extract(
    kind: Legacy,
    input: ExtractInput<'_>,
    limits: &Limits,
    soffice: Option<&Path>,
) -> Result<Extraction, ExtractError> {
    let format = match kind {
        Legacy::Word => "doc",
        Legacy::PowerPoint => "ppt",
    };
    if input.bytes.starts_with(b"PK\x03\x04") {
        let mut read = read_converted(kind, input.bytes, limits)?;
        read.document.format = format;
        return Ok(read);
    }
    if office::is_ole(input.bytes) && is_encrypted(kind, input.bytes) {
        return Err(ExtractError::Encrypted);
    }
    let Some(soffice) = soffice else {
        return Err(unavailable(kind, input.file_name, None));
    };
    let timeout = limits.max_duration.mul_f64(CONVERSION_SHARE);
    let converted = convert(soffice, kind, input.file_name, input.bytes, timeout, limits)?;
    let mut read = read_converted(kind, &converted, limits)?;
    read.document.format = format;
    read.notes.insert(
        0,
        format!(
            "converted from {} to {} with LibreOffice",
            kind.name(),
            kind.target().to_ascii_uppercase()
        ),
    );
    Ok(read)
}

fn read_converted(kind: Legacy, bytes: &[u8], limits: &Limits) -> Result<Extraction, ExtractError> {
    match kind {
        Legacy::Word => office::docx::extract(bytes, limits),
        Legacy::PowerPoint => office::pptx::extract(bytes, None, limits),
    }
}

fn unavailable(kind: Legacy, key: &str, why: Option<String>) -> ExtractError {
    let name = file_name(key);
    let ext = extension(key);
    let shown = if ext.is_empty() {
        format!("'{name}'")
    } else {
        format!("'{name}' (.{ext})")
    };
    let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
    ExtractError::Unsupported(format!(
        "{shown}: {} are read through LibreOffice, which is not installed here{why}; save the file as .{} and upload it again",
        kind.what(),
        kind.target()
    ))
}

/// Whether a legacy compound file says it is password-protected: Word's
/// `fEncrypted` flag in the FIB, PowerPoint's encrypted current-user token,
/// or an encrypted OOXML package under a legacy name.
fn is_encrypted(kind: Legacy, bytes: &[u8]) -> bool {
    let Ok(mut file) = cfb::CompoundFile::open(Cursor::new(bytes)) else {
        return false;
    };
    if file.exists("/EncryptionInfo") && file.exists("/EncryptedPackage") {
        return true;
    }
    let mut head = [0u8; 16];
    let mut read_head = |stream: &str| {
        file.open_stream(stream)
            .and_then(|mut s| s.read_exact(&mut head))
            .is_ok()
    };
    match kind {
        // FibBase: wIdent 0xA5EC, then flags at byte 10, fEncrypted 0x0100.
        Legacy::Word => {
            read_head("/WordDocument")
                && head[..2] == [0xEC, 0xA5]
                && u16::from_le_bytes([head[10], head[11]]) & 0x0100 != 0
        }
        // CurrentUserAtom: headerToken at byte 12.
        Legacy::PowerPoint => {
            read_head("/Current User")
                && u32::from_le_bytes([head[12], head[13], head[14], head[15]]) == 0xF3D1_C4DF
        }
    }
}

/// Converts the file with LibreOffice: the converted file's bytes.
pub(crate) fn convert(
    soffice: &Path,
    kind: Legacy,
    key: &str,
    bytes: &[u8],
    timeout: Duration,
    limits: &Limits,
) -> Result<Vec<u8>, ExtractError> {
    // The extension tells LibreOffice what to expect (it still looks at the
    // content).
    let ext = extension(key);
    let ext = if kind.source_extensions().contains(&ext.as_str()) {
        ext
    } else {
        kind.source_extensions()[0].to_owned()
    };
    let what = Conversion {
        format: kind.name(),
        what_one: kind.what_one(),
        source_extension: &ext,
        target: kind.target(),
    };
    convert_with(soffice, &what, bytes, timeout, limits)
}

/// One LibreOffice conversion: from what, to what.
pub(crate) struct Conversion<'a> {
    /// Format name in errors (`"PPTX"`).
    pub format: &'static str,
    /// What one such file is called in errors (`"PowerPoint"`).
    pub what_one: &'a str,
    /// Extension the source is written with.
    pub source_extension: &'a str,
    /// `--convert-to` target (`"pdf"`, `"docx"`).
    pub target: &'a str,
}

/// Runs `soffice --convert-to` in a temporary directory with its own
/// profile and process group, killed past `timeout`: the converted bytes.
pub(crate) fn convert_with(
    soffice: &Path,
    what: &Conversion<'_>,
    bytes: &[u8],
    timeout: Duration,
    limits: &Limits,
) -> Result<Vec<u8>, ExtractError> {
    let failed = |detail: String| ExtractError::Corrupt {
        format: what.format,
        detail,
    };
    let io = |what: &str, e: std::io::Error| failed(format!("{what}: {e}"));
    let dir = tempfile::Builder::new()
        .prefix("rag-soffice-")
        .tempdir()
        .map_err(|e| io("no temporary directory for the conversion", e))?;
    let (profile, out) = (dir.path().join("profile"), dir.path().join("out"));
    std::fs::create_dir(&out).map_err(|e| io("temporary directory", e))?;
    // A fixed name: the upload's own could be anything.
    let source = dir.path().join(format!("source.{}", what.source_extension));
    std::fs::write(&source, bytes).map_err(|e| io("temporary file", e))?;
    let log = dir.path().join("soffice.log");
    let log_file = std::fs::File::create(&log).map_err(|e| io("temporary file", e))?;

    let mut command = Command::new(soffice);
    command
        .arg(format!("-env:UserInstallation={}", file_url(&profile)))
        .args([
            "--headless",
            "--invisible",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            "--norestore",
            "--convert-to",
            what.target,
            "--outdir",
        ])
        .arg(&out)
        .arg(&source)
        .current_dir(dir.path())
        // LibreOffice writes under $HOME too; on Lambda only /tmp is writable.
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(
            log_file
                .try_clone()
                .map_or_else(|_| Stdio::null(), Stdio::from),
        )
        .stderr(Stdio::from(log_file));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: soffice starts helpers that a kill of the
        // first process would leave running.
        command.process_group(0);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            tracing::error!(program = %soffice.display(), error = %e, "LibreOffice could not be started");
            return Err(ExtractError::Unsupported(format!(
                "{} files need LibreOffice, which could not be started here",
                what.format,
            )));
        }
    };
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(50))
            }
            result => {
                // Over time (or lost track of it): the whole group goes.
                kill_group(&mut child);
                let _ = child.wait();
                if let Err(e) = result {
                    return Err(io("waiting for LibreOffice", e));
                }
                return Err(ExtractError::LimitExceeded(format!(
                    "LibreOffice took longer than {} s to convert the {} file",
                    timeout.as_secs(),
                    what.format
                )));
            }
        }
    };
    let converted = out.join(format!("source.{}", what.target));
    let size = converted.metadata().map(|m| m.len()).ok();
    let Some(size) = size else {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        let said = said
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.contains("javaldx"))
            .collect::<Vec<_>>()
            .join("; ");
        tracing::warn!(%status, said = %said, format = what.format, "LibreOffice could not convert a file");
        // What it said may name temporary paths: shown without them.
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {}", rag_core::api::error::redact_internals(&said))
        };
        return Err(failed(format!(
            "LibreOffice could not convert it, damaged or not a {} file ({status}{said})",
            what.what_one
        )));
    };
    if size > limits.max_archive_bytes {
        return Err(ExtractError::LimitExceeded(format!(
            "the converted {} file has {size} bytes, more than the {} allowed",
            what.target.to_ascii_uppercase(),
            limits.max_archive_bytes
        )));
    }
    std::fs::read(&converted).map_err(|e| io("reading the converted file", e))
}

/// A `file://` URL of an absolute path (LibreOffice's `-env:` wants one).
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                url.push(byte as char)
            }
            _ => url.push_str(&format!("%{byte:02X}")),
        }
    }
    url
}

/// Kills the child's process group (it leads one), or the child alone.
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        if let Ok(pgid) = i32::try_from(child.id()) {
            // SAFETY: killpg only sends a signal. The group is the child's
            // own (process_group(0)), and the child is not reaped yet, so
            // its id cannot have been reused.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
            return;
        }
    }
    let _ = child.kill();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn input<'a>(bytes: &'a [u8], name: &'a str) -> ExtractInput<'a> {
        ExtractInput::new(bytes, name, None)
    }

    #[test]
    fn without_libreoffice_legacy_files_are_unsupported_with_advice() {
        let mut ole = office::OLE_MAGIC.to_vec();
        ole.resize(1536, 0);
        for (kind, name, needle) in [
            (Legacy::Word, "a/old.doc", "legacy Word 97-2003 documents"),
            (Legacy::PowerPoint, "a/old.ppt", "legacy PowerPoint 97-2003"),
        ] {
            match extract(kind, input(&ole, name), &limits(), None) {
                Err(ExtractError::Unsupported(m)) => {
                    assert!(m.contains(needle) && m.contains("LibreOffice"), "{m}");
                    assert!(
                        m.contains(&format!("save the file as .{}", kind.target())),
                        "{m}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        // A program that is not there is no LibreOffice either.
        let missing = Path::new("/nonexistent/soffice");
        match extract(
            Legacy::Word,
            input(&ole, "old.doc"),
            &limits(),
            Some(missing),
        ) {
            Err(ExtractError::Unsupported(m)) => {
                assert!(m.contains("could not be started"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[cfg(unix)]
    /// A fake soffice, written by a `sh` child rather than this process: a
    /// file this process held open for writing would stay busy (ETXTBSY,
    /// "could not be started") while another test thread forks, until that
    /// child execs; it failed 1 run in 5 so.
    fn script(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("fake-soffice");
        let written = Command::new("sh")
            .args([
                "-c",
                "printf '%s\\n' \"$1\" > \"$2\" && chmod 755 \"$2\"",
                "sh",
            ])
            .arg(format!("#!/bin/sh\n{body}"))
            .arg(&path)
            .status()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(written.success());
        path
    }

    #[cfg(unix)]
    #[test]
    fn a_conversion_over_its_time_is_killed_with_its_helpers() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pid_file = dir.path().join("helper.pid");
        // Like soffice: a wrapper whose helper does the (endless) work.
        let fake = script(
            dir.path(),
            &format!("sleep 300 &\necho $! > '{}'\nwait", pid_file.display()),
        );
        let started = Instant::now();
        let result = convert(
            &fake,
            Legacy::Word,
            "old.doc",
            b"bytes",
            Duration::from_millis(500),
            &limits(),
        );
        match result {
            Err(ExtractError::LimitExceeded(m)) => assert!(m.contains("LibreOffice took"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
        let pid = pid.trim();
        assert!(!pid.is_empty());
        // The helper is gone (or a zombie waiting for init).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            if matches!(state, None | Some("Z" | "X")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "helper {pid} still running: {stat}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_conversion_without_output_is_a_clear_failure() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let fake = script(
            dir.path(),
            "echo \"Error: source file $PWD/source.ppt could not be loaded\" >&2",
        );
        match convert(
            &fake,
            Legacy::PowerPoint,
            "x.ppt",
            b"junk",
            Duration::from_secs(10),
            &limits(),
        ) {
            Err(ExtractError::Corrupt {
                format: "PPT",
                detail,
            }) => {
                assert!(detail.contains("could not convert"), "{detail}");
                assert!(
                    detail.contains("source file [path] could not be loaded"),
                    "{detail}"
                );
                assert!(!detail.contains("/tmp"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn file_urls_escape_what_urls_cannot_hold() {
        assert_eq!(
            file_url(Path::new("/tmp/a b/prof%ile")),
            "file:///tmp/a%20b/prof%25ile"
        );
    }
}
