//! File discipline: atomic replacement (write to a temporary, fsync, rename, fsync the
//! directory) and positioned reads and writes.

use std::fs::{self, File};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use super::error::{IoContext as _, TdeError};

/// Replaces `path` with `bytes` so that after a crash it holds either the old or the new bytes.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TdeError> {
    let tmp = path.with_extension(tmp_extension(path));
    {
        let mut f = crate::private_file::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .at(&tmp)?;
        f.write_all(bytes).at(&tmp)?;
        f.sync_all().at(&tmp)?;
    }
    fs::rename(&tmp, path).at(path)?;
    sync_dir(path)
}

fn tmp_extension(path: &Path) -> String {
    match path.extension() {
        Some(ext) => format!("{}.tmp", ext.to_string_lossy()),
        None => "tmp".to_owned(),
    }
}

/// The temporary name `write_atomic` uses for `path` (left behind by a crash).
pub(crate) fn tmp_path(path: &Path) -> std::path::PathBuf {
    path.with_extension(tmp_extension(path))
}

/// Makes a rename or create in the directory of `path` durable.
pub(crate) fn sync_dir(path: &Path) -> Result<(), TdeError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

pub(crate) fn open_rw(path: &Path, create_new: bool) -> Result<File, TdeError> {
    let mut o = crate::private_file::options();
    o.read(true).write(true);
    if create_new {
        o.create_new(true);
    }
    o.open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => TdeError::NotFound(path.display().to_string()),
        std::io::ErrorKind::AlreadyExists => TdeError::AlreadyExists(path.display().to_string()),
        _ => TdeError::Io {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Reads exactly `buf.len()` bytes at `offset`; a short file is a format error.
pub(crate) fn read_at(
    f: &File,
    path: &Path,
    offset: u64,
    buf: &mut [u8],
    what: &str,
) -> Result<(), TdeError> {
    f.read_exact_at(buf, offset)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                TdeError::Format(format!("{}: truncated {what}", path.display()))
            }
            _ => TdeError::Io {
                path: path.to_path_buf(),
                source,
            },
        })
}

pub(crate) fn write_at(f: &File, path: &Path, offset: u64, buf: &[u8]) -> Result<(), TdeError> {
    f.write_all_at(buf, offset).at(path)
}
