//! Input and output: stdin/stdout or files, atomic replacement of OUT, terminal checks,
//! and the progress bar.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::{CliError, CliResult, Exit};
use crate::outfile::PartialFile;

/// Buffer size for reading and writing: large enough to feed parallel frame sealing.
pub(crate) const IO_BUFFER: usize = 1 << 20;

/// Files at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_THRESHOLD: u64 = 64 << 20;

/// `None` or `-` means standard input/output.
pub(crate) fn named_path(path: Option<&PathBuf>) -> Option<&Path> {
    path.map(PathBuf::as_path).filter(|p| *p != Path::new("-"))
}

/// An opened input and its size when known.
pub(crate) struct Input {
    pub(crate) reader: Box<dyn Read + Send>,
    pub(crate) len: Option<u64>,
    /// The file itself when it is a regular file, for positioned reads (which leave the
    /// reader's offset alone).
    pub(crate) regular: Option<Arc<File>>,
}

impl Input {
    /// The input as the encrypt and decrypt code reads it; `path` names it in messages.
    pub(crate) fn source<'a>(&'a mut self, path: Option<&'a Path>) -> Source<'a> {
        Source {
            reader: &mut self.reader,
            path,
            len: self.len,
            file: self.regular.as_deref(),
        }
    }
}

/// Where a stream comes from: the reader, its path for messages (`None`: standard input or
/// memory), its length when known, and the file itself when it is a regular file (read at
/// offsets by kms-core's positional path, docs/cli.md "Output files").
pub(crate) struct Source<'a> {
    pub(crate) reader: &'a mut (dyn Read + Send),
    pub(crate) path: Option<&'a Path>,
    pub(crate) len: Option<u64>,
    pub(crate) file: Option<&'a File>,
}

/// Where encrypt and decrypt write: any writer, and for an output file this run owns (a
/// [`Sink`] file not yet written to) the file itself, which kms-core may write at offsets.
pub(crate) trait Output: Write {
    fn owned_file(&self) -> Option<&File> {
        None
    }
}

impl Output for Vec<u8> {}

impl Output for &mut Vec<u8> {}

/// Opens a file, or standard input when `path` is `None`.
pub(crate) fn open_input(path: Option<&Path>) -> CliResult<Input> {
    match path {
        None => {
            widen_pipe(io::stdin());
            Ok(Input {
                reader: Box::new(io::stdin()),
                len: None,
                regular: None,
            })
        }
        Some(p) => {
            let file = File::open(p).map_err(|e| {
                CliError::read(Some(p), &e).with_hint("check the path and its permissions")
            })?;
            let meta = file.metadata().map_err(|e| CliError::read(Some(p), &e))?;
            if meta.is_dir() {
                return Err(CliError::new(
                    Exit::Io,
                    format!("cannot read `{}`: it is a directory", p.display()),
                ));
            }
            let file = Arc::new(file);
            Ok(Input {
                reader: Box::new(Arc::clone(&file)),
                len: Some(meta.len()),
                regular: meta.is_file().then_some(file),
            })
        }
    }
}

/// When `fd` is a pipe, asks the kernel for a 1 MiB pipe buffer instead of the default 64 KiB,
/// so each chunk crosses in one wake-up rather than sixteen. Best effort: anything else (not a
/// pipe, over the user's pipe quota) keeps the pipe as it is.
fn widen_pipe(fd: impl std::os::fd::AsFd) {
    let _ = rustix::pipe::fcntl_setpipe_size(fd, IO_BUFFER);
}

/// A progress bar on stderr for large inputs when stderr is a terminal; hidden otherwise.
pub(crate) fn progress(len: Option<u64>, verb: &str) -> ProgressBar {
    match len {
        Some(len) if len >= PROGRESS_THRESHOLD && io::stderr().is_terminal() => {
            let style = ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .expect("the template is a valid constant")
            .progress_chars("=> ");
            ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
                .with_style(style)
                .with_message(verb.to_owned())
        }
        _ => ProgressBar::hidden(),
    }
}

/// Where results go. A file output is a [`PartialFile`] that becomes OUT only by
/// [`Sink::commit`]; dropping the sink (or a terminating signal) leaves nothing behind.
pub(crate) enum Sink {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    File {
        writer: BufWriter<PartialFile>,
        dest: PathBuf,
        force: bool,
    },
}

impl Sink {
    /// Opens the output. Refuses an existing `out` unless `force`.
    pub(crate) fn open(out: Option<&Path>, force: bool) -> CliResult<Self> {
        let Some(dest) = out else {
            widen_pipe(io::stdout());
            return Ok(Self::Stdout(BufWriter::with_capacity(
                IO_BUFFER,
                io::stdout().lock(),
            )));
        };
        match std::fs::metadata(dest) {
            Ok(meta) if meta.is_dir() => {
                return Err(CliError::new(
                    Exit::Io,
                    format!("cannot write `{}`: it is a directory", dest.display()),
                ));
            }
            Ok(_) if !force => {
                return Err(
                    CliError::usage(format!("`{}` already exists", dest.display()))
                        .with_hint("pass --force to replace it, or choose another -o"),
                );
            }
            _ => {}
        }
        let tmp = PartialFile::create(dest).map_err(|e| {
            CliError::write(Some(dest), &e)
                .with_hint("check that the directory exists and is writable")
        })?;
        Ok(Self::File {
            writer: BufWriter::with_capacity(IO_BUFFER, tmp),
            dest: dest.to_owned(),
            force,
        })
    }

    /// Flushes; for a file, fsyncs it and gives it the name OUT durably.
    pub(crate) fn commit(self) -> CliResult<()> {
        match self {
            Self::Stdout(mut writer) => writer.flush().map_err(|e| CliError::write(None, &e)),
            Self::File {
                writer,
                dest,
                force,
            } => {
                let partial = writer
                    .into_inner()
                    .map_err(|e| CliError::write(Some(&dest), e.error()))?;
                partial.persist(force).map_err(|e| {
                    if e.kind() == io::ErrorKind::AlreadyExists {
                        CliError::usage(format!("`{}` already exists", dest.display()))
                            .with_hint("pass --force to replace it, or choose another -o")
                    } else {
                        CliError::write(Some(&dest), &e)
                    }
                })
            }
        }
    }
}

impl Output for Sink {
    fn owned_file(&self) -> Option<&File> {
        match self {
            // Only before anything was written through the buffer: offsets start at 0.
            Self::File { writer, .. } if writer.buffer().is_empty() => {
                Some(writer.get_ref().as_file())
            }
            _ => None,
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Stdout(w) => w.write(buf),
            Self::File { writer, .. } => writer.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Stdout(w) => w.flush(),
            Self::File { writer, .. } => writer.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_file_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        let mut sink = Sink::open(Some(&dest), false).unwrap();
        sink.write_all(b"partial").unwrap();
        drop(sink);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn existing_output_is_kept_without_force_and_replaced_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        std::fs::write(&dest, b"old").unwrap();
        let err = Sink::open(Some(&dest), false).err().unwrap();
        assert_eq!(err.exit(), Exit::Usage);
        let mut sink = Sink::open(Some(&dest), true).unwrap();
        sink.write_all(b"new").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        sink.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn dash_means_standard_streams() {
        assert_eq!(named_path(Some(&PathBuf::from("-"))), None);
        assert_eq!(named_path(Some(&PathBuf::from("a"))), Some(Path::new("a")));
    }
}
