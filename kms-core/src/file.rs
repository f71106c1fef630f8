//! Whole files by positioned I/O: every core reads a run of frames at its offset, seals or
//! opens it, and writes the result at its offset, with no hand-off between threads
//! (docs/performance.md, "Positional file I/O").
//!
//! This works because a frame depends only on its index and final flag, and both follow from
//! the file's length (docs/envelope-format.md, "Body"). The input must keep its length while it
//! is read: a file that shrinks or grows meanwhile is an error, never a silently different
//! message. The output is written at offsets in no particular order, so it is a file only the
//! caller uses, kept or discarded as a whole: on error it holds some of the frames, and
//! [`decrypt_file`] truncates it to nothing (best effort) so no plaintext stays there.

use std::fs::File;
use std::io::{self, BufReader, ErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use zeroize::Zeroize;

use crate::aead::Cipher;
use crate::body::{
    Threads, frame_count, open_frames_on, seal_frames_on, sealed_len, slot_offset, split_sealed,
};
use crate::cache::DataKeyCache;
use crate::context::EncryptionContext;
use crate::error::{DecryptError, EncryptError, FormatError};
use crate::format::{Header, MAX_FRAMES, VersionedHeader, check_frame_size, read_versioned};
use crate::message::{EncryptOptions, open_header, seal_header};
use crate::wrap::KeyWrapper;

/// Plaintext bytes of one run: small enough that a run's plaintext and ciphertext stay in a
/// core's L2 cache between the read, the cipher and the write; large enough that the syscalls
/// cost nothing next to the copies.
const RUN_BYTES: usize = 512 * 1024;

/// The buffer the header is read through (headers are small, but read field by field).
const HEADER_READ: usize = 8 * 1024;

/// Called with the plaintext bytes of each run done, from any worker thread.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Seals the regular file `input` into `output` for every key in `wrappers` (at least one), and
/// returns the plaintext length. The result is byte for byte what [`crate::encrypt`] or
/// [`crate::Encryptor`] would write, with another random message id.
///
/// `output` is written from offset 0 at positions in no particular order and set to the
/// envelope's length; it must not be in append mode. Frames are sealed on all rayon threads.
/// If `input` changes size while it is read, this fails with [`EncryptError::Read`].
pub fn encrypt_file(
    input: &File,
    output: &File,
    wrappers: &[&dyn KeyWrapper],
    options: &EncryptOptions,
    progress: Option<Progress<'_>>,
) -> Result<u64, EncryptError> {
    let len = input.metadata().map_err(EncryptError::Read)?.len();
    seal_file(input, len, output, options, progress, || {
        seal_header(wrappers, options)
    })
}

/// Opens the envelope in the regular file `input` into `output` with the first of `unwrappers`
/// that can unwrap one of its data keys, and returns the plaintext length. `context` must equal
/// the context the message was sealed with.
///
/// Each frame's plaintext is written (at its offset, in no particular order) only after the
/// frame authenticated; on any error `output` is truncated to nothing (best effort) and must be
/// discarded. `output` must not be in append mode. If `input` changes size while it is read,
/// this fails with [`DecryptError::Io`].
pub fn decrypt_file(
    input: &File,
    output: &File,
    unwrappers: &[&dyn KeyWrapper],
    context: &EncryptionContext,
    progress: Option<Progress<'_>>,
) -> Result<u64, DecryptError> {
    let len = input.metadata()?.len();
    open_file(input, len, output, progress, |parsed| {
        open_header(parsed, unwrappers, context)
    })
}

impl DataKeyCache {
    /// [`encrypt_file`] with the data key from this cache: the entry is charged the file's
    /// length up front (its `max_bytes` must hold).
    pub fn encrypt_file(
        &self,
        input: &File,
        output: &File,
        wrappers: &[&dyn KeyWrapper],
        options: &EncryptOptions,
        progress: Option<Progress<'_>>,
    ) -> Result<u64, EncryptError> {
        let len = input.metadata().map_err(EncryptError::Read)?.len();
        seal_file(input, len, output, options, progress, || {
            self.seal_header(wrappers, options, len)
        })
    }

    /// [`decrypt_file`] with the data key from this cache.
    pub fn decrypt_file(
        &self,
        input: &File,
        output: &File,
        unwrappers: &[&dyn KeyWrapper],
        context: &EncryptionContext,
        progress: Option<Progress<'_>>,
    ) -> Result<u64, DecryptError> {
        let len = input.metadata()?.len();
        open_file(input, len, output, progress, |parsed| {
            self.open_header(parsed, unwrappers, context)
        })
    }
}

/// [`encrypt_file`] of an input of `len` bytes (the tests give a wrong length to play a file
/// that changes size), under the header and cipher that `header` returns once the options are
/// known to fit the message.
pub(crate) fn seal_file(
    input: &File,
    len: u64,
    output: &File,
    options: &EncryptOptions,
    progress: Option<Progress<'_>>,
    header: impl FnOnce() -> Result<(Vec<u8>, Cipher), EncryptError>,
) -> Result<u64, EncryptError> {
    check_frame_size(options.frame_size)?;
    let frame_size = options.frame_size as usize;
    let too_long = || FormatError::UnsupportedFrameSize(options.frame_size);
    let plaintext_len = usize::try_from(len).map_err(|_| too_long())?;
    let frames = frame_count(plaintext_len, frame_size) as u64;
    if frames > MAX_FRAMES {
        return Err(too_long().into());
    }
    let (header, cipher) = header()?;
    let layout = Layout {
        frame_size,
        frames,
        run_frames: run_frames(frame_size),
        plaintext_len: len,
        header_len: header.len() as u64,
        body_len: sealed_len(plaintext_len, frame_size) as u64,
    };
    output.set_len(layout.header_len + layout.body_len)?;
    output.write_all_at(&header, 0)?;
    each_run(
        layout.runs(),
        || layout.buffers(),
        |buffers, index| -> Result<(), EncryptError> {
            let run = layout.run(index);
            let plaintext = &mut buffers.plaintext.0[..run.plaintext_len()];
            input
                .read_exact_at(plaintext, run.plaintext.start)
                .map_err(|e| EncryptError::Read(changed_if_eof(e, len)))?;
            let sealed = &mut buffers.sealed[..run.sealed_len()];
            seal_frames_on(
                Threads::Caller,
                &cipher,
                Some(plaintext),
                sealed,
                frame_size,
                run.first,
                run.ends_message,
            );
            output.write_all_at(sealed, run.sealed.start)?;
            report(progress, plaintext.len());
            Ok(())
        },
    )?;
    check_unchanged(input, len).map_err(EncryptError::Read)?;
    Ok(len)
}

/// [`decrypt_file`] of an input of `len` bytes (as [`seal_file`]), with the header and cipher
/// that `open` authenticates.
pub(crate) fn open_file(
    input: &File,
    len: u64,
    output: &File,
    progress: Option<Progress<'_>>,
    open: impl FnOnce(VersionedHeader) -> Result<(Header, Cipher), DecryptError>,
) -> Result<u64, DecryptError> {
    let mut reader = BufReader::with_capacity(HEADER_READ, ReadAt { file: input, at: 0 });
    let parsed = read_versioned(&mut reader)?;
    let VersionedHeader::V1(v1) = &parsed;
    let header_len = v1.encoded_len() as u64;
    let (header, cipher) = open(parsed)?;
    // A header read past `len` means the file grew after its length was taken.
    let body_len = len
        .checked_sub(header_len)
        .ok_or_else(|| changed_size(len))?;
    let frame_size = header.frame_size as usize;
    let body = usize::try_from(body_len).map_err(|_| DecryptError::DecryptionFailed)?;
    let (frames, plaintext_len) =
        split_sealed(body, frame_size, 0).ok_or(DecryptError::DecryptionFailed)?;
    let layout = Layout {
        frame_size,
        frames: frames as u64,
        run_frames: run_frames(frame_size),
        plaintext_len: plaintext_len as u64,
        header_len,
        body_len,
    };
    let opened = output
        .set_len(layout.plaintext_len)
        .map_err(DecryptError::Write)
        .and_then(|()| {
            each_run(
                layout.runs(),
                || layout.buffers(),
                |buffers, index| -> Result<(), DecryptError> {
                    let run = layout.run(index);
                    let sealed = &mut buffers.sealed[..run.sealed_len()];
                    input
                        .read_exact_at(sealed, run.sealed.start)
                        .map_err(|e| DecryptError::Io(changed_if_eof(e, len)))?;
                    let plaintext = &mut buffers.plaintext.0[..run.plaintext_len()];
                    open_frames_on(
                        Threads::Caller,
                        &cipher,
                        sealed,
                        plaintext,
                        frame_size,
                        run.first,
                        run.ends_message,
                    )
                    .map_err(|_| DecryptError::DecryptionFailed)?;
                    output
                        .write_all_at(plaintext, run.plaintext.start)
                        .map_err(DecryptError::Write)?;
                    report(progress, plaintext.len());
                    Ok(())
                },
            )
        })
        .and_then(|()| check_unchanged(input, len).map_err(DecryptError::Io));
    if let Err(err) = opened {
        // Authenticated frames may have been written: take them back out of the file.
        let _ = output.set_len(0);
        return Err(err);
    }
    Ok(layout.plaintext_len)
}

/// Frames per run: whole frames, [`RUN_BYTES`] of them or one larger frame.
fn run_frames(frame_size: usize) -> u64 {
    (RUN_BYTES / frame_size).max(1) as u64
}

/// Where the runs of one message lie: runs of `run_frames` frames (the last may have fewer),
/// each at its offset in the plaintext and in the envelope.
struct Layout {
    frame_size: usize,
    frames: u64,
    run_frames: u64,
    plaintext_len: u64,
    header_len: u64,
    body_len: u64,
}

/// One run: its first frame, its bytes in the plaintext and in the envelope, and whether it
/// holds the final frame.
struct Run {
    first: u64,
    plaintext: core::ops::Range<u64>,
    sealed: core::ops::Range<u64>,
    ends_message: bool,
}

impl Run {
    fn plaintext_len(&self) -> usize {
        (self.plaintext.end - self.plaintext.start) as usize
    }

    fn sealed_len(&self) -> usize {
        (self.sealed.end - self.sealed.start) as usize
    }
}

impl Layout {
    fn runs(&self) -> u64 {
        self.frames.div_ceil(self.run_frames)
    }

    fn run(&self, index: u64) -> Run {
        let first = index * self.run_frames;
        let end = (first + self.run_frames).min(self.frames);
        let frame_size = self.frame_size as u64;
        let body = |frame| slot_offset(frame, self.frame_size).min(self.body_len);
        Run {
            first,
            plaintext: first * frame_size..(end * frame_size).min(self.plaintext_len),
            sealed: self.header_len + body(first)..self.header_len + body(end),
            ends_message: end == self.frames,
        }
    }

    /// Buffers for the largest run (no more than the whole message: a small file allocates
    /// little).
    fn buffers(&self) -> RunBuffers {
        let plaintext = (self.run_frames * self.frame_size as u64).min(self.plaintext_len);
        let sealed = slot_offset(self.run_frames, self.frame_size).min(self.body_len);
        RunBuffers {
            plaintext: Wiped(vec![0; plaintext as usize]),
            sealed: vec![0; sealed as usize],
        }
    }
}

/// One worker's buffers, reused for each of its runs.
struct RunBuffers {
    plaintext: Wiped,
    /// Only ever ciphertext: not wiped.
    sealed: Vec<u8>,
}

/// A plaintext buffer, zeroized when dropped (each run overwrites the one before).
struct Wiped(Vec<u8>);

impl Drop for Wiped {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

/// Runs `work` for runs `0..runs` on every rayon thread, each thread taking the next run until
/// none is left or a run failed (then the others stop at their next run); returns a failure.
/// One run, or a one-thread pool, stays on the calling thread.
fn each_run<B, E: Send>(
    runs: u64,
    new_buffers: impl Fn() -> B + Sync,
    work: impl Fn(&mut B, u64) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let next = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let worker = || -> Result<(), E> {
        let mut buffers: Option<B> = None;
        while !failed.load(Ordering::Relaxed) {
            let run = next.fetch_add(1, Ordering::Relaxed);
            if run >= runs {
                break;
            }
            let buffers = buffers.get_or_insert_with(&new_buffers);
            if let Err(err) = work(buffers, run) {
                failed.store(true, Ordering::Relaxed);
                return Err(err);
            }
        }
        Ok(())
    };
    if runs <= 1 || rayon::current_num_threads() == 1 {
        return worker();
    }
    rayon::broadcast(|_| worker()).into_iter().collect()
}

fn report(progress: Option<Progress<'_>>, bytes: usize) {
    if let Some(progress) = progress {
        progress(bytes as u64);
    }
}

/// A `Read` over `file` by positioned reads, so the file's own offset is left alone.
struct ReadAt<'a> {
    file: &'a File,
    at: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

fn changed_size(len: u64) -> io::Error {
    io::Error::other(format!(
        "the file changed size while it was being read (it had {len} bytes at the start)"
    ))
}

/// A read that ended early means the file shrank.
fn changed_if_eof(err: io::Error, len: u64) -> io::Error {
    if err.kind() == ErrorKind::UnexpectedEof {
        changed_size(len)
    } else {
        err
    }
}

/// Fails if `input` has bytes beyond `len`: it grew while it was read.
fn check_unchanged(input: &File, len: u64) -> io::Result<()> {
    let mut byte = [0u8; 1];
    loop {
        match input.read_at(&mut byte, len) {
            Ok(0) => return Ok(()),
            Ok(_) => return Err(changed_size(len)),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
