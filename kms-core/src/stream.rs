//! Streaming encryption (`std::io::Write`) and decryption (`std::io::Read`).
//!
//! Both sides hold one batch of frames (up to 32 frames, about 2 MiB) and seal or open it in
//! place, in parallel, so memory stays flat whatever the input size.

use std::io::{self, ErrorKind, Read, Write};

use zeroize::Zeroize;

use crate::aead::{Cipher, TAG_LEN};
use crate::body::{open_slots, seal_frames, split_sealed};
use crate::context::EncryptionContext;
use crate::error::{DecryptError, EncryptError};
use crate::format::{Header, MAX_FRAMES, read_versioned};
use crate::message::{EncryptOptions, open_header, seal_header};
use crate::wrap::KeyWrapper;

/// Most frames in one batch.
const MAX_BATCH_FRAMES: usize = 32;
/// Target plaintext bytes in one batch (fewer frames when frames are large).
pub(crate) const BATCH_TARGET_BYTES: usize = 2 * 1024 * 1024;

/// A buffer whose initialised bytes are zeroized on drop (with zeroize's bulk wipe, which is
/// much faster than `Zeroizing<Vec<u8>>`'s element-by-element one). Its users keep plaintext
/// out of the spare capacity.
pub(crate) struct WipeOnDrop(pub(crate) Vec<u8>);

impl Drop for WipeOnDrop {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

impl core::ops::Deref for WipeOnDrop {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl core::ops::DerefMut for WipeOnDrop {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

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
    cipher: Cipher,
    frame_size: usize,
    /// One batch in sealed layout: complete frames (plaintext then room for the tag), then the
    /// plaintext of a partial frame. Sealed in place. Zeroized on drop.
    batch: WipeOnDrop,
    next_index: u64,
    /// Plaintext bytes still allowed, when the data key was charged for a declared length.
    allowance: Option<u64>,
    /// Set when writing failed: the envelope is unusable.
    broken: bool,
}

impl<W: Write> Encryptor<W> {
    /// Writes the header to `out` and returns a writer for the plaintext.
    pub fn new(
        out: W,
        wrappers: &[&dyn KeyWrapper],
        options: &EncryptOptions,
    ) -> Result<Self, EncryptError> {
        let (header, cipher) = seal_header(wrappers, options)?;
        Self::sealed(out, &header, cipher, options.frame_size, None)
    }

    /// Writes `header` and returns a writer that seals with `cipher`, accepting at most
    /// `allowance` plaintext bytes when given.
    pub(crate) fn sealed(
        mut out: W,
        header: &[u8],
        cipher: Cipher,
        frame_size: u32,
        allowance: Option<u64>,
    ) -> Result<Self, EncryptError> {
        out.write_all(header)?;
        Ok(Self {
            out,
            cipher,
            frame_size: frame_size as usize,
            batch: WipeOnDrop(Vec::new()),
            next_index: 0,
            allowance,
            broken: false,
        })
    }

    fn slot(&self) -> usize {
        self.frame_size + TAG_LEN
    }

    /// Bytes of a full batch in sealed layout.
    fn batch_capacity(&self) -> usize {
        batch_frames(self.frame_size) * self.slot()
    }

    /// Seals the frames in `batch` and writes them.
    fn seal_batch(&mut self, ends_message: bool) -> io::Result<()> {
        let frames = self.batch.len().div_ceil(self.slot()) as u64;
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
        seal_frames(
            &self.cipher,
            None,
            &mut self.batch,
            self.frame_size,
            self.next_index,
            ends_message,
        );
        self.next_index += frames;
        let result = self.out.write_all(&self.batch);
        // Ciphertext only from here on; the capacity is reused for the next batch.
        self.batch.clear();
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// The inner writer (the async stream drains its sealed bytes from here).
    #[cfg(feature = "tokio")]
    pub(crate) fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Plaintext bytes held but not yet sealed.
    #[cfg(feature = "tokio")]
    pub(crate) fn buffered(&self) -> usize {
        self.batch.len()
    }

    /// Seals the final frame and returns the inner writer (flushed).
    pub fn finish(mut self) -> Result<W, EncryptError> {
        if self.broken {
            return Err(
                io::Error::other("an earlier write failed; the envelope is incomplete").into(),
            );
        }
        let partial = self.batch.len() % self.slot();
        if partial > 0 || self.batch.is_empty() {
            // Room for the tag of the last (partial, or the one empty) frame.
            self.batch.extend_from_slice(&[0u8; TAG_LEN]);
        }
        self.seal_batch(true)?;
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
        if let Some(allowance) = &mut self.allowance {
            let Some(left) = allowance.checked_sub(buf.len() as u64) else {
                self.broken = true;
                return Err(io::Error::new(
                    ErrorKind::InvalidInput,
                    "more plaintext than the length declared to the data-key cache",
                ));
            };
            *allowance = left;
        }
        let capacity = self.batch_capacity();
        if self.batch.capacity() < capacity {
            // Untouched capacity costs no memory until written, so reserve a whole batch.
            let additional = capacity - self.batch.len();
            self.batch.reserve_exact(additional);
        }
        let mut rest = buf;
        while !rest.is_empty() {
            if self.batch.len() == capacity {
                // More plaintext exists, so every frame in the batch is not the last.
                self.seal_batch(false)?;
            }
            let in_frame = self.batch.len() % self.slot();
            let take = rest.len().min(self.frame_size - in_frame);
            self.batch.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if in_frame + take == self.frame_size {
                self.batch.extend_from_slice(&[0u8; TAG_LEN]);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Opens a stream: reads yield only authenticated plaintext.
///
/// A batch of frames is read ahead (one byte beyond it tells whether the batch ends the
/// message), opened in place in parallel, and its plaintext released only up to the first
/// frame that fails; that failure is then returned (as [`DecryptError::DecryptionFailed`]
/// inside an `io::Error`) and repeated on every later read.
pub struct Decryptor<R: Read> {
    input: R,
    header: Header,
    cipher: Cipher,
    frame_size: usize,
    /// One batch in sealed layout plus a look-ahead byte; opened in place, so it holds
    /// plaintext after opening. Zeroized on drop.
    batch: WipeOnDrop,
    /// Frames of `batch` that opened and may be released.
    ready_frames: usize,
    /// Bytes of `batch` that belong to the opened frames (without the look-ahead byte).
    batch_end: usize,
    /// Next plaintext byte to release, as a position in `batch`.
    pos: usize,
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
        Ok(Self::opened(input, header, cipher))
    }

    /// A reader for the body after `input`'s header, authenticated as `header` and `cipher`.
    pub(crate) fn opened(input: R, header: Header, cipher: Cipher) -> Self {
        let frame_size = header.frame_size as usize;
        Self {
            input,
            header,
            cipher,
            frame_size,
            batch: WipeOnDrop(Vec::new()),
            ready_frames: 0,
            batch_end: 0,
            pos: 0,
            next_index: 0,
            done: false,
            failed: false,
        }
    }

    /// The envelope's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    fn slot(&self) -> usize {
        self.frame_size + TAG_LEN
    }

    /// End (exclusive) of the plaintext of the frame that holds position `pos`.
    fn frame_plain_end(&self, pos: usize) -> usize {
        let start = pos / self.slot() * self.slot();
        (start + self.frame_size).min(self.batch_end - TAG_LEN)
    }

    /// The input (the async stream feeds ciphertext through it).
    #[cfg(feature = "tokio")]
    pub(crate) fn get_mut(&mut self) -> &mut R {
        &mut self.input
    }

    /// Most input bytes one [`next_batch`](Self::next_batch) reads.
    #[cfg(feature = "tokio")]
    pub(crate) fn batch_input_len(&self) -> usize {
        batch_frames(self.frame_size) * self.slot() + 1
    }

    /// The final frame was opened and all plaintext released.
    #[cfg(feature = "tokio")]
    pub(crate) fn is_done(&self) -> bool {
        self.done && !self.has_released()
    }

    /// A frame failed and the plaintext before it was released.
    #[cfg(feature = "tokio")]
    pub(crate) fn is_failed(&self) -> bool {
        self.failed && !self.has_released()
    }

    #[cfg(feature = "tokio")]
    fn has_released(&self) -> bool {
        self.pos < (self.ready_frames * self.slot()).min(self.batch_end)
    }

    /// Copies released (authenticated) plaintext into `buf`, skipping the tags; returns the
    /// bytes copied (0 when the current batch is used up).
    pub(crate) fn copy_released(&mut self, buf: &mut [u8]) -> usize {
        let ready_end = (self.ready_frames * self.slot()).min(self.batch_end);
        let mut written = 0;
        while written < buf.len() && self.pos < ready_end {
            let end = self.frame_plain_end(self.pos);
            let n = (buf.len() - written).min(end.saturating_sub(self.pos));
            buf[written..written + n].copy_from_slice(&self.batch[self.pos..self.pos + n]);
            written += n;
            self.pos += n;
            if self.pos >= end {
                self.pos = (self.pos / self.slot() + 1) * self.slot();
            }
        }
        written
    }

    /// Reads and opens the next batch.
    pub(crate) fn next_batch(&mut self) -> io::Result<()> {
        let slot = self.slot();
        let batch = batch_frames(self.frame_size);
        // Wipe the released plaintext, then drop it but keep the look-ahead byte: plaintext is
        // never left in the vector's spare capacity.
        let released = self.batch_end;
        self.batch[..released].zeroize();
        self.batch.drain(..released);
        let target = batch * slot + 1;
        let want = target - self.batch.len();
        self.batch.reserve_exact(want);
        // `read_to_end` fills spare capacity without zero-filling it first.
        (&mut self.input)
            .take(want as u64)
            .read_to_end(&mut self.batch)?;
        let at_end = self.batch.len() < target;
        let (sealed_len, frames) = if at_end {
            match split_sealed(self.batch.len(), self.frame_size, self.next_index) {
                Some((frames, _)) => (self.batch.len(), frames),
                None => return self.fail(),
            }
        } else {
            (batch * slot, batch)
        };
        let limit = if at_end { MAX_FRAMES } else { MAX_FRAMES - 1 };
        if self.next_index + frames as u64 > limit {
            return self.fail();
        }
        let result = open_slots(
            &self.cipher,
            &mut self.batch[..sealed_len],
            self.frame_size,
            self.next_index,
            at_end,
        );
        self.next_index += frames as u64;
        self.batch_end = sealed_len;
        self.pos = 0;
        match result {
            Ok(()) => {
                self.ready_frames = frames;
                self.done = at_end;
            }
            Err(bad) => {
                self.ready_frames = bad;
                self.failed = true;
            }
        }
        Ok(())
    }

    fn fail(&mut self) -> io::Result<()> {
        self.failed = true;
        self.ready_frames = 0;
        self.pos = 0;
        Ok(())
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let written = self.copy_released(buf);
            if written > 0 {
                return Ok(written);
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
