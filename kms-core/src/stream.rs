//! Streaming encryption (`std::io::Write`) and decryption (`std::io::Read`).
//!
//! Both sides work on a bounded batch of frames at a time (sealed or opened in parallel), so
//! memory stays flat whatever the input size: at most about two batches of up to 2 MiB each.

use std::io::{self, ErrorKind, Read, Write};

use zeroize::Zeroizing;

use crate::aead::{FrameCipher, TAG_LEN};
use crate::body::{open_frames, seal_frames, sealed_len, split_sealed};
use crate::context::EncryptionContext;
use crate::error::{DecryptError, EncryptError};
use crate::format::{Header, MAX_FRAMES, read_versioned};
use crate::message::{EncryptOptions, open_header, seal_header};
use crate::wrap::KeyWrapper;

/// Most frames in one batch.
const MAX_BATCH_FRAMES: usize = 32;
/// Target plaintext bytes in one batch (fewer frames when frames are large).
const BATCH_TARGET_BYTES: usize = 2 * 1024 * 1024;

fn batch_frames(frame_size: usize) -> usize {
    (BATCH_TARGET_BYTES / frame_size).clamp(1, MAX_BATCH_FRAMES)
}

fn too_many_frames() -> io::Error {
    io::Error::new(
        ErrorKind::InvalidInput,
        "message too long: more than 2^32 frames at this frame size",
    )
}

/// Seals a stream: write plaintext, then call [`Encryptor::finish`] (dropping without finishing
/// leaves a truncated envelope that will never decrypt).
///
/// A frame is sealed only once the next byte is known to exist (or at `finish`), so the last
/// frame always carries the final flag. `flush` flushes the inner writer only: a partial frame
/// cannot be sealed before the stream ends.
pub struct Encryptor<W: Write> {
    out: W,
    cipher: FrameCipher,
    frame_size: usize,
    /// Plaintext not yet sealed: at most one batch. Zeroized on drop.
    pending: Zeroizing<Vec<u8>>,
    /// Reused output buffer for one sealed batch.
    sealed: Vec<u8>,
    next_index: u64,
    /// Set when writing failed: the envelope is unusable.
    broken: bool,
}

impl<W: Write> Encryptor<W> {
    /// Writes the header to `out` and returns a writer for the plaintext.
    pub fn new(
        mut out: W,
        wrappers: &[&dyn KeyWrapper],
        options: &EncryptOptions,
    ) -> Result<Self, EncryptError> {
        let (header, cipher) = seal_header(wrappers, options)?;
        out.write_all(&header)?;
        let frame_size = options.frame_size as usize;
        let batch = batch_frames(frame_size) * frame_size;
        Ok(Self {
            out,
            cipher,
            frame_size,
            pending: Zeroizing::new(Vec::with_capacity(batch)),
            sealed: Vec::new(),
            next_index: 0,
            broken: false,
        })
    }

    fn batch_len(&self) -> usize {
        batch_frames(self.frame_size) * self.frame_size
    }

    /// Seals whole frames of `plaintext` that are known not to be the last, and writes them.
    fn seal_and_write(&mut self, plaintext: &[u8], ends_message: bool) -> io::Result<()> {
        let frames = crate::body::frame_count(plaintext.len(), self.frame_size) as u64;
        // Non-final frames need room for at least one more frame after them.
        let limit = if ends_message {
            MAX_FRAMES
        } else {
            MAX_FRAMES - 1
        };
        if self.next_index + frames > limit {
            self.broken = true;
            return Err(too_many_frames());
        }
        self.sealed
            .resize(sealed_len(plaintext.len(), self.frame_size), 0);
        seal_frames(
            &self.cipher,
            plaintext,
            &mut self.sealed,
            self.frame_size,
            self.next_index,
            ends_message,
        );
        self.next_index += frames;
        if let Err(err) = self.out.write_all(&self.sealed) {
            self.broken = true;
            return Err(err);
        }
        Ok(())
    }

    fn seal_pending(&mut self, ends_message: bool) -> io::Result<()> {
        let pending = core::mem::take(&mut *self.pending);
        let result = self.seal_and_write(&pending, ends_message);
        // Keep the allocation; zeroize the plaintext it held.
        let mut pending = Zeroizing::new(pending);
        zeroize::Zeroize::zeroize(&mut *pending);
        core::mem::swap(&mut self.pending, &mut pending);
        result
    }

    /// Seals the final frame and returns the inner writer (flushed).
    pub fn finish(mut self) -> Result<W, EncryptError> {
        if self.broken {
            return Err(
                io::Error::other("an earlier write failed; the envelope is incomplete").into(),
            );
        }
        self.seal_pending(true)?;
        self.out.flush()?;
        let Self { out, .. } = self;
        Ok(out)
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.broken {
            return Err(io::Error::other(
                "an earlier write failed; the envelope is incomplete",
            ));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let batch = self.batch_len();
        let mut consumed = 0;
        if self.pending.len() == batch {
            // More plaintext exists, so the pending frames are not the last.
            self.seal_pending(false)?;
        } else if self.pending.is_empty() && buf.len() > batch {
            // Fast path: seal straight from the caller's buffer, no copy into `pending`.
            self.seal_and_write(&buf[..batch], false)?;
            consumed = batch;
        }
        // Always keep at least one byte pending once frames were written, so `finish`
        // has a non-empty final frame to seal.
        let take = (buf.len() - consumed).min(batch - self.pending.len());
        self.pending
            .extend_from_slice(&buf[consumed..consumed + take]);
        Ok(consumed + take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Opens a stream: reads yield only authenticated plaintext.
///
/// A batch of frames is read ahead (one byte beyond it tells whether the batch ends the
/// message), opened in parallel, and its plaintext released only up to the first frame that
/// fails; that failure is then returned (as [`DecryptError::DecryptionFailed`] inside an
/// `io::Error`) and repeated on every later read.
pub struct Decryptor<R: Read> {
    input: R,
    header: Header,
    cipher: FrameCipher,
    frame_size: usize,
    /// Ciphertext read but not yet opened: one batch plus one look-ahead byte.
    sealed: Vec<u8>,
    /// Authenticated plaintext not yet returned. Zeroized on drop.
    plain: Zeroizing<Vec<u8>>,
    plain_pos: usize,
    next_index: u64,
    /// The final frame was opened.
    done: bool,
    /// A frame failed: report it once the plaintext before it is consumed.
    failed: bool,
}

impl<R: Read> Decryptor<R> {
    /// Reads and checks the header, unwraps the data key, and returns a reader for the plaintext.
    pub fn new(
        mut input: R,
        unwrappers: &[&dyn KeyWrapper],
        context: &EncryptionContext,
    ) -> Result<Self, DecryptError> {
        let parsed = read_versioned(&mut input)?;
        let (header, cipher) = open_header(parsed, unwrappers, context)?;
        let frame_size = header.frame_size as usize;
        let batch = batch_frames(frame_size);
        Ok(Self {
            input,
            header,
            cipher,
            frame_size,
            sealed: Vec::with_capacity(batch * (frame_size + TAG_LEN) + 1),
            plain: Zeroizing::new(Vec::with_capacity(batch * frame_size)),
            plain_pos: 0,
            next_index: 0,
            done: false,
            failed: false,
        })
    }

    /// The envelope's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Reads until `sealed` holds `target` bytes or the input ends. True at end of input.
    fn fill(&mut self, target: usize) -> io::Result<bool> {
        let mut filled = self.sealed.len();
        self.sealed.resize(target, 0);
        while filled < target {
            match self.input.read(&mut self.sealed[filled..]) {
                Ok(0) => {
                    self.sealed.truncate(filled);
                    return Ok(true);
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.sealed.truncate(filled);
                    return Err(e);
                }
            }
        }
        Ok(false)
    }

    /// Opens the next batch into `plain`.
    fn next_batch(&mut self) -> io::Result<()> {
        let slot = self.frame_size + TAG_LEN;
        let batch = batch_frames(self.frame_size);
        let at_end = self.fill(batch * slot + 1)?;
        let (sealed_part, frames, ends_message) = if at_end {
            (self.sealed.len(), None, true)
        } else {
            (batch * slot, Some(batch), false)
        };
        let (frames, plaintext_len) = match frames {
            Some(frames) => (frames, frames * self.frame_size),
            None => match split_sealed(sealed_part, self.frame_size, self.next_index) {
                Some(split) => split,
                None => return self.fail(),
            },
        };
        if self.next_index + frames as u64
            > if ends_message {
                MAX_FRAMES
            } else {
                MAX_FRAMES - 1
            }
        {
            return self.fail();
        }
        self.plain.clear();
        self.plain.resize(plaintext_len, 0);
        self.plain_pos = 0;
        let result = open_frames(
            &self.cipher,
            &self.sealed[..sealed_part],
            &mut self.plain,
            self.frame_size,
            self.next_index,
            ends_message,
        );
        // Keep the look-ahead byte for the next batch.
        self.sealed.drain(..sealed_part);
        self.next_index += frames as u64;
        match result {
            Ok(()) => {
                self.done = ends_message;
                Ok(())
            }
            Err(bad) => {
                self.plain.truncate(bad * self.frame_size);
                self.failed = true;
                Ok(())
            }
        }
    }

    fn fail(&mut self) -> io::Result<()> {
        self.failed = true;
        self.plain.clear();
        self.plain_pos = 0;
        Ok(())
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.plain_pos < self.plain.len() {
                let n = buf.len().min(self.plain.len() - self.plain_pos);
                buf[..n].copy_from_slice(&self.plain[self.plain_pos..self.plain_pos + n]);
                self.plain_pos += n;
                return Ok(n);
            }
            if self.failed {
                return Err(DecryptError::DecryptionFailed.into());
            }
            if self.done {
                return Ok(0);
            }
            self.next_batch()?;
        }
    }
}
