//! Output files that appear only when complete (docs/cli.md, "Output files").
//!
//! Where the filesystem supports it (Linux `O_TMPFILE`), OUT is written to a file with no name
//! and linked into place only when complete, so not even SIGKILL or a power cut leaves part of
//! it visible. Elsewhere it is a named `.tkms-*.partial` file beside OUT, removed on error, on
//! drop and on SIGINT, SIGTERM and SIGHUP (the process then dies of the signal as usual); only
//! SIGKILL or a power cut leaves it, and the next run writing into that directory says so.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rustix::fs::{AtFlags, CWD, Mode, OFlags};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
use tempfile::NamedTempFile;

const PREFIX: &str = ".tkms-";
const SUFFIX: &str = ".partial";

/// Set to `named` to skip `O_TMPFILE` (for a filesystem that accepts it but cannot link it;
/// the tests use it to exercise the named fallback).
pub(crate) const MODE_ENV: &str = "TKMS_PARTIAL_OUTPUT";

/// An output being written; becomes `dest` only through [`PartialFile::persist`].
pub(crate) struct PartialFile {
    body: Option<Body>,
    dest: PathBuf,
}

enum Body {
    /// `O_TMPFILE`: no name until linked.
    Unnamed(File),
    /// The fallback: a `.tkms-*.partial` beside OUT, registered for removal on a signal.
    Named(NamedTempFile),
}

impl PartialFile {
    /// Starts an output that will become `dest`. Reports leftovers of interrupted runs in
    /// `dest`'s directory on stderr.
    pub(crate) fn create(dest: &Path) -> io::Result<Self> {
        install_signal_cleanup()?;
        let dir = parent_dir(dest);
        report_leftovers(dir);
        let body = match open_unnamed(dir)? {
            Some(file) => Body::Unnamed(file),
            None => {
                let mut registry = partials();
                let tmp = temp_builder().tempfile_in(dir)?;
                registry.push(tmp.path().to_owned());
                Body::Named(tmp)
            }
        };
        Ok(Self {
            body: Some(body),
            dest: dest.to_owned(),
        })
    }

    /// Makes the output durable and gives it its name: fails with `AlreadyExists` if `dest`
    /// exists and `!force`. On any error nothing is left behind.
    pub(crate) fn persist(mut self, force: bool) -> io::Result<()> {
        let body = self
            .body
            .take()
            .expect("the body is present until persisted or dropped");
        match body {
            Body::Unnamed(file) => {
                file.sync_all()?;
                if force {
                    // Link under a temporary name, then rename over OUT (linkat cannot replace).
                    let linked = {
                        let mut registry = partials();
                        let linked = temp_builder()
                            .make_in(parent_dir(&self.dest), |path| link_unnamed(&file, path))?;
                        registry.push(linked.path().to_owned());
                        linked
                    };
                    let path = linked.path().to_owned();
                    let renamed = linked.persist(&self.dest).map_err(|e| e.error);
                    unregister(&path);
                    renamed?;
                } else {
                    link_unnamed(&file, &self.dest)?;
                }
            }
            Body::Named(tmp) => {
                let path = tmp.path().to_owned();
                let persisted = tmp.as_file().sync_all().and_then(|()| {
                    if force {
                        tmp.persist(&self.dest).map(drop).map_err(|e| e.error)
                    } else {
                        tmp.persist_noclobber(&self.dest)
                            .map(drop)
                            .map_err(|e| e.error)
                    }
                });
                unregister(&path);
                persisted?;
            }
        }
        sync_dir(parent_dir(&self.dest));
        Ok(())
    }

    /// The file being written (for positioned writes).
    pub(crate) fn as_file(&self) -> &File {
        match self.body.as_ref() {
            Some(Body::Unnamed(file)) => file,
            Some(Body::Named(tmp)) => tmp.as_file(),
            None => unreachable!("the body is present until persisted or dropped"),
        }
    }

    fn file(&mut self) -> &mut File {
        match self.body.as_mut() {
            Some(Body::Unnamed(file)) => file,
            Some(Body::Named(tmp)) => tmp.as_file_mut(),
            None => unreachable!("the body is present until persisted or dropped"),
        }
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(Body::Named(tmp)) = self.body.take() {
            let path = tmp.path().to_owned();
            // Remove first, then unregister: a signal in between finds nothing to remove.
            let _ = tmp.close();
            unregister(&path);
        }
    }
}

impl Write for PartialFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

fn temp_builder() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(PREFIX).suffix(SUFFIX);
    builder
}

fn parent_dir(dest: &Path) -> &Path {
    match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// An `O_TMPFILE` file in `dir`, or `None` where the filesystem (or the environment) cannot
/// give one that can later be linked.
fn open_unnamed(dir: &Path) -> io::Result<Option<File>> {
    if std::env::var_os(MODE_ENV).is_some_and(|v| v == "named")
        || !Path::new("/proc/self/fd").is_dir()
    {
        return Ok(None);
    }
    let flags = OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC;
    match rustix::fs::openat(CWD, dir, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => Ok(Some(File::from(fd))),
        // Kernels and filesystems without O_TMPFILE answer one of these.
        Err(e)
            if e == rustix::io::Errno::OPNOTSUPP
                || e == rustix::io::Errno::ISDIR
                || e == rustix::io::Errno::INVAL =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Gives the unnamed `file` the name `path` (fails with `AlreadyExists` if taken).
fn link_unnamed(file: &File, path: &Path) -> io::Result<()> {
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    rustix::fs::linkat(CWD, proc_path.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW)
        .map_err(io::Error::from)
}

/// Makes a new name in `dir` durable. Best effort: some filesystems cannot fsync a directory.
fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

/// Says on stderr which `.tkms-*.partial` files an interrupted run left in `dir`.
fn report_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(PREFIX) && name.ends_with(SUFFIX))
        .collect();
    if names.is_empty() {
        return;
    }
    names.sort();
    eprintln!(
        "warning: {} holds output left by an interrupted tkms run: {}",
        dir.display(),
        names.join(", ")
    );
    eprintln!(
        "hint: such files may hold plaintext; remove them once no other tkms is writing there"
    );
}

/// Named partial outputs to remove if a terminating signal arrives.
fn partials() -> MutexGuard<'static, Vec<PathBuf>> {
    static PARTIALS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    PARTIALS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn unregister(path: &Path) {
    partials().retain(|p| p != path);
}

/// Once per process: SIGINT, SIGTERM and SIGHUP remove the named partial outputs, then end the
/// process as the signal's default action would. SIGXFSZ (a write past RLIMIT_FSIZE) becomes
/// an ordinary write error, so the output is cleaned up like any other failure.
fn install_signal_cleanup() -> io::Result<()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    signal_hook::flag::register(SIGXFSZ, Arc::new(AtomicBool::new(false)))?;
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("tkms-signals".to_owned())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // Held until the process ends: no new partial output can start meanwhile.
                let mut registry = partials();
                for path in registry.drain(..) {
                    let _ = std::fs::remove_file(path);
                }
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        })?;
    let _ = INSTALLED.set(());
    Ok(())
}
