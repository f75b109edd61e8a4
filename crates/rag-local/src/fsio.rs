//! Small file-system helpers shared by the file-backed stores: atomic
//! replacement of a file, leftovers of interrupted writes, hex names.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Suffix of in-progress writes; never a store's own file name.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so readers (and a restarted process) see either the old file
/// or the new one, never half of one. With `durable`, the data is flushed to
/// disk before the rename, so it also survives a power loss.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "path has no parent directory")
    })?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let temp = dir.join(format!(
        ".{}.{}{TEMP_SUFFIX}",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    write_via(&temp, path, bytes, durable)
}

/// Writes `bytes` to `temp`, then renames it over `path`; removes `temp` if
/// anything fails. `temp` must be on the same file system as `path`.
pub(crate) fn write_via(temp: &Path, path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let result = (|| {
        let mut file = fs::File::create(temp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    result
}

/// Removes the temporary files an interrupted process left in `dir`.
pub(crate) fn remove_stale_temps(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) {
            if let Err(e) = fs::remove_file(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove a stale temporary file");
            }
        }
    }
    Ok(())
}

/// The `*.json` files of `dir` (not temporaries, not subdirectories).
pub(crate) fn json_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && path.extension().is_some_and(|e| e == "json") && entry.file_type()?.is_file()
        {
            files.push(path);
        }
    }
    Ok(files)
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Bytes of a hex string; `None` unless it is well-formed.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_garbage() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(unhex("000fff"), Some(vec![0, 15, 255]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("é0"), None);
    }

    #[test]
    fn atomic_writes_replace_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"1", true).unwrap();
        write_atomic(&path, b"22", false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"22");
        std::fs::write(dir.path().join(".a.json.x.tmp"), b"partial").unwrap();
        remove_stale_temps(dir.path()).unwrap();
        assert_eq!(json_files(dir.path()).unwrap(), vec![path]);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
