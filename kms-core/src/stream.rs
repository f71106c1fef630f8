//! Streaming encryption (`std::io::Write`) and decryption (`std::io::Read`).
//!
//! Both sides hold one batch of frames, so memory stays flat whatever the input size: up to 32
//! frames (about 2 MiB) when rayon has several threads to share them, about 64 KiB with one.
//! Whole frames are sealed straight from the writer's buffer and opened straight into the
//! reader's, in parallel; only partial frames and small reads go through the batch in place
//! (docs/performance.md, "tkms CLI at the memory-copy limit" and "Library path").

use std::io::{self, ErrorKind, Read, Write};

use zeroize::Zeroize;

use crate::aead::{Cipher, TAG_LEN};
use crate::body::{open_frames, open_slots, seal_frames, split_sealed};
use crate::context::EncryptionContext;
use crate::error::{DecryptError, EncryptError};
use crate::format::{Header, MAX_FRAMES, read_versioned};
use crate::message::{EncryptOptions, open_header, seal_header};
use crate::wrap::KeyWrapper;

/// Most frames in one batch.
const MAX_BATCH_FRAMES: usize = 32;
/// Target plaintext bytes in one batch when rayon has several threads: enough frames to spread
/// over them in one pass (fewer frames when frames are large).
pub(crate) const BATCH_TARGET_BYTES: usize = 2 * 1024 * 1024;
/// Target plaintext bytes in one batch when rayon has one thread: there is nothing to spread, and
/// a batch this small stays in the core's L2 cache from sealing to writing out (or from reading
/// in to opening), where a 2 MiB one goes through L3 (docs/performance.md, "Library path").
const ONE_THREAD_BATCH_BYTES: usize = 64 * 1024;

/// A buffer whose initialised bytes are zeroized on drop (with zeroize's bulk wipe, which is
/// much faster than `Zeroizing<Vec<u8>>`'s element-by-element one). Its users keep plaintext
/// out of the spare capacity.
#[cfg(feature = "tokio")]
pub(crate) struct WipeOnDrop(pub(crate) Vec<u8>);

#[cfg(feature = "tokio")]
impl Drop for WipeOnDrop {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

#[cfg(feature = "tokio")]
impl core::ops::Deref for WipeOnDrop {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

#[cfg(feature = "tokio")]
impl core::ops::DerefMut for WipeOnDrop {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

/// Frames in one batch of a stream, fixed when the stream starts (the async decryptor sizes its
/// reads by it).
fn batch_frames(frame_size: usize) -> usize {
    let target = if rayon::current_num_threads() > 1 {
        BATCH_TARGET_BYTES
    } else {
        ONE_THREAD_BATCH_BYTES
    };
    frames_for(target, frame_size)
}

/// Frames in a batch of about `target` plaintext bytes.
fn frames_for(target: usize, frame_size: usize) -> usize {
    (target / frame_size).clamp(1, MAX_BATCH_FRAMES)
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
/// Whole frames of a write are sealed straight from the caller's buffer into the batch (no
/// copy); only a partial frame is copied in, and sealed in place once complete. A frame sealed
/// before the stream ends gets the non-final flag; if it turns out to be the last, `finish`
/// opens it (it is still in the batch) and seals it again as final. So the last frame always
/// carries the final flag, and no frame is written before its flag is known. `flush` flushes
/// the inner writer only: a partial frame cannot be sealed before the stream ends.
pub struct Encryptor<W: Write> {
    out: W,
    cipher: Cipher,
    frame_size: usize,
    /// Frames in a full batch.
    batch_frames: usize,
    batch: SealBatch,
    /// Index of the batch's first frame.
    next_index: u64,
    /// Plaintext bytes still allowed, when the data key was charged for a declared length.
    allowance: Option<u64>,
    /// Set when writing failed: the envelope is unusable.
    broken: bool,
}

/// One batch in sealed layout, allocated at the first write: `sealed` bytes of sealed frames,
/// then up to `filled` the plaintext of frames not yet sealed (complete ones with room for the
/// tag, then at most one partial one). Only that plaintext is wiped on drop: the rest is
/// ciphertext.
#[derive(Default)]
struct SealBatch {
    buf: Vec<u8>,
    sealed: usize,
    filled: usize,
}

impl SealBatch {
    /// Makes `buf[..end]` addressable, zero-filling only what was never used (a small message
    /// does not pay for a whole batch).
    fn room(&mut self, end: usize) {
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
    }
}

impl Drop for SealBatch {
    fn drop(&mut self) {
        if let Some(plaintext) = self.buf.get_mut(self.sealed..self.filled) {
            plaintext.zeroize();
        }
    }
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
            batch_frames: batch_frames(frame_size as usize),
            batch: SealBatch::default(),
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
        self.batch_frames * self.slot()
    }

    /// Index of the frame that starts at byte `at` of the batch, checked so that `frames`
    /// frames from there all have an index.
    fn frame_index(&mut self, at: usize, frames: usize) -> io::Result<u64> {
        let first = self.next_index + (at / self.slot()) as u64;
        if first + frames as u64 > MAX_FRAMES {
            self.broken = true;
            return Err(too_many_frames());
        }
        Ok(first)
    }

    /// Seals the plaintext frames after `sealed` in place; the last one gets the final flag
    /// when `ends_message`.
    fn seal_pending(&mut self, ends_message: bool) -> io::Result<()> {
        let (sealed, filled) = (self.batch.sealed, self.batch.filled);
        if sealed == filled {
            return Ok(());
        }
        let first = self.frame_index(sealed, (filled - sealed).div_ceil(self.slot()))?;
        let pending = &mut self.batch.buf[sealed..filled];
        seal_frames(
            &self.cipher,
            None,
            pending,
            self.frame_size,
            first,
            ends_message,
        );
        self.batch.sealed = filled;
        Ok(())
    }

    /// Seals whole frames of `plaintext` (as many as fit in the batch) straight into it, with
    /// the non-final flag; returns the plaintext bytes taken.
    fn seal_from(&mut self, plaintext: &[u8], capacity: usize) -> io::Result<usize> {
        // Complete frames already in the batch come first: more plaintext follows them.
        self.seal_pending(false)?;
        let start = self.batch.filled;
        let frames = (plaintext.len() / self.frame_size).min((capacity - start) / self.slot());
        let first = self.frame_index(start, frames)?;
        let end = start + frames * self.slot();
        self.batch.room(end);
        let taken = frames * self.frame_size;
        let slots = &mut self.batch.buf[start..end];
        seal_frames(
            &self.cipher,
            Some(&plaintext[..taken]),
            slots,
            self.frame_size,
            first,
            false,
        );
        (self.batch.sealed, self.batch.filled) = (end, end);
        Ok(taken)
    }

    /// Writes the sealed batch and starts the next one. Only called when more plaintext
    /// follows, so every frame in it is rightly non-final.
    fn write_batch(&mut self) -> io::Result<()> {
        self.seal_pending(false)?;
        let filled = self.batch.filled;
        let result = self.out.write_all(&self.batch.buf[..filled]);
        self.next_index += filled.div_ceil(self.slot()) as u64;
        (self.batch.sealed, self.batch.filled) = (0, 0);
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

    /// Plaintext bytes held but not yet sealed (with room for their tags).
    #[cfg(feature = "tokio")]
    pub(crate) fn buffered(&self) -> usize {
        self.batch.filled - self.batch.sealed
    }

    /// The last frame was sealed from the caller's buffer before the stream was known to end
    /// there: open it again and seal it with the final flag.
    fn reseal_last_as_final(&mut self) -> io::Result<()> {
        let filled = self.batch.filled;
        let start = (filled - 1) / self.slot() * self.slot();
        let index = self.next_index + (start / self.slot()) as u64;
        let last = &mut self.batch.buf[start..filled];
        if open_slots(&self.cipher, last, self.frame_size, index, false).is_err() {
            // Cannot happen: the frame was sealed under this key and index a moment ago.
            self.broken = true;
            return Err(io::Error::other("a sealed frame failed to open again"));
        }
        seal_frames(&self.cipher, None, last, self.frame_size, index, true);
        Ok(())
    }

    /// Seals the final frame and returns the inner writer (flushed).
    pub fn finish(mut self) -> Result<W, EncryptError> {
        if self.broken {
            return Err(
                io::Error::other("an earlier write failed; the envelope is incomplete").into(),
            );
        }
        let filled = self.batch.filled;
        // A batch is written only when more plaintext follows, so an empty one at the end
        // means an empty message: one empty frame.
        if filled == 0 || !filled.is_multiple_of(self.slot()) {
            // Room for the tag of the last (partial, or the one empty) frame.
            self.batch.room(filled + TAG_LEN);
            self.batch.filled += TAG_LEN;
        }
        if self.batch.sealed < self.batch.filled {
            self.seal_pending(true)?;
        } else {
            self.reseal_last_as_final()?;
        }
        self.out.write_all(&self.batch.buf[..self.batch.filled])?;
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
        if self.batch.buf.capacity() < capacity {
            // Untouched capacity costs no memory until written, so reserve a whole batch.
            self.batch
                .buf
                .reserve_exact(capacity - self.batch.buf.len());
        }
        let mut rest = buf;
        while !rest.is_empty() {
            if self.batch.filled == capacity {
                // More plaintext exists, so every frame in the batch is not the last.
                self.write_batch()?;
            }
            let in_frame = self.batch.filled % self.slot();
            if in_frame == 0 && rest.len() >= self.frame_size {
                let taken = self.seal_from(rest, capacity)?;
                rest = &rest[taken..];
                continue;
            }
            let take = rest.len().min(self.frame_size - in_frame);
            let at = self.batch.filled;
            self.batch.room(at + take + TAG_LEN);
            self.batch.buf[at..at + take].copy_from_slice(&rest[..take]);
            self.batch.filled += take;
            rest = &rest[take..];
            if in_frame + take == self.frame_size {
                // Room for the tag; written when the frame is sealed.
                self.batch.filled += TAG_LEN;
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
/// message). A read whose buffer holds at least the next frame gets whole frames opened
/// straight into it, in parallel (no copy); a smaller read gets the rest of the batch opened in
/// place and copied out. Plaintext is released only up to the first frame that fails; that
/// failure is then returned (as [`DecryptError::DecryptionFailed`] inside an `io::Error`) and
/// repeated on every later read.
pub struct Decryptor<R: Read> {
    input: R,
    header: Header,
    cipher: Cipher,
    frame_size: usize,
    /// Frames in a full batch.
    batch_frames: usize,
    batch: OpenBatch,
    /// Index of the batch's first frame.
    first_index: u64,
    /// Frames in the batch, and whether its last one ends the message.
    frames: usize,
    at_end: bool,
    /// Next frame of the batch neither opened in place nor released.
    unopened: usize,
    /// Plaintext opened in place and not yet released: positions in the batch.
    pos: usize,
    ready_end: usize,
    /// A frame failed: report it once the plaintext before it is consumed.
    failed: bool,
}

/// One batch in sealed layout plus a look-ahead byte: ciphertext, except frames opened in place
/// for small reads (`holds_plaintext`), which are wiped before the buffer is refilled or freed.
#[derive(Default)]
struct OpenBatch {
    buf: Vec<u8>,
    /// Bytes read into `buf`.
    len: usize,
    /// Bytes of the sealed frames (without the look-ahead byte).
    end: usize,
    holds_plaintext: bool,
}

impl OpenBatch {
    fn wipe_plaintext(&mut self) {
        if self.holds_plaintext {
            // Only the frames: the look-ahead byte after them is ciphertext still to open.
            self.buf[..self.end].zeroize();
            self.holds_plaintext = false;
        }
    }

    /// Keeps the look-ahead byte after the opened frames and reads until `target` bytes or
    /// the end of `input`.
    fn refill(&mut self, input: &mut impl Read, target: usize) -> io::Result<()> {
        let carried = self.len - self.end;
        self.buf.copy_within(self.end..self.len, 0);
        (self.len, self.end) = (carried, 0);
        if self.buf.len() < target {
            // First batch: `read_to_end` fills spare capacity without zero-filling it first
            // (for slices and files), and a short message never needs a whole batch.
            self.buf.truncate(carried);
            self.buf.reserve_exact(target - carried);
            input
                .by_ref()
                .take((target - carried) as u64)
                .read_to_end(&mut self.buf)?;
            self.len = self.buf.len();
            return Ok(());
        }
        // Later batches read into the same initialised bytes: no fill per batch.
        while self.len < target {
            match input.read(&mut self.buf[self.len..target]) {
                Ok(0) => break,
                Ok(n) => self.len += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Drop for OpenBatch {
    fn drop(&mut self) {
        self.wipe_plaintext();
    }
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
            batch_frames: batch_frames(frame_size),
            batch: OpenBatch::default(),
            first_index: 0,
            frames: 0,
            at_end: false,
            unopened: 0,
            pos: 0,
            ready_end: 0,
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
        (start + self.frame_size).min(self.batch.end - TAG_LEN)
    }

    /// The input (the async stream feeds ciphertext through it).
    #[cfg(feature = "tokio")]
    pub(crate) fn get_mut(&mut self) -> &mut R {
        &mut self.input
    }

    /// Uses batches of about [`BATCH_TARGET_BYTES`] even with one rayon thread: each batch of
    /// the async stream is a trip through tokio's blocking pool, worth it only for a large one.
    /// Called before the first batch is read.
    #[cfg(feature = "tokio")]
    pub(crate) fn use_large_batches(&mut self) {
        debug_assert!(self.frames == 0 && self.batch.len == 0, "no batch read yet");
        self.batch_frames = frames_for(BATCH_TARGET_BYTES, self.frame_size);
    }

    /// Most input bytes one [`next_batch`](Self::next_batch) reads.
    #[cfg(feature = "tokio")]
    pub(crate) fn batch_input_len(&self) -> usize {
        self.batch_frames * self.slot() + 1
    }

    /// The final frame was opened and all plaintext released.
    #[cfg(feature = "tokio")]
    pub(crate) fn is_done(&self) -> bool {
        self.at_end && !self.failed && self.unopened == self.frames && self.pos >= self.ready_end
    }

    /// A frame failed and the plaintext before it was released.
    #[cfg(feature = "tokio")]
    pub(crate) fn is_failed(&self) -> bool {
        self.failed && self.unopened == self.frames && self.pos >= self.ready_end
    }

    /// Reads the next batch and opens it in place (the async stream runs this on the blocking
    /// pool, then only copies out).
    #[cfg(feature = "tokio")]
    pub(crate) fn next_batch(&mut self) -> io::Result<()> {
        self.read_batch()?;
        if self.unopened < self.frames {
            self.open_rest_in_place();
        }
        Ok(())
    }

    /// Releases authenticated plaintext into `buf`: frames already opened in place (copied,
    /// skipping their tags), else whole frames opened straight into `buf`, else the rest of the
    /// batch opened in place first. Returns 0 once the current batch is used up.
    pub(crate) fn copy_released(&mut self, buf: &mut [u8]) -> usize {
        if buf.is_empty() {
            return 0;
        }
        loop {
            let mut written = 0;
            while written < buf.len() && self.pos < self.ready_end {
                let end = self.frame_plain_end(self.pos);
                let n = (buf.len() - written).min(end.saturating_sub(self.pos));
                buf[written..written + n].copy_from_slice(&self.batch.buf[self.pos..self.pos + n]);
                written += n;
                self.pos += n;
                if self.pos >= end {
                    self.pos = (self.pos / self.slot() + 1) * self.slot();
                }
            }
            if written > 0 {
                return written;
            }
            if self.unopened >= self.frames {
                return 0;
            }
            if self.plain_len(self.unopened, self.unopened + 1) <= buf.len() {
                match self.open_into(buf) {
                    // Only the one empty frame of an empty message yields nothing.
                    0 => continue,
                    n => return n,
                }
            }
            self.open_rest_in_place();
        }
    }

    /// Plaintext bytes of frames `from..to` of the batch.
    fn plain_len(&self, from: usize, to: usize) -> usize {
        let sealed = (to * self.slot()).min(self.batch.end) - from * self.slot();
        sealed - (to - from) * TAG_LEN
    }

    /// Reads the next batch (opened later, by `copy_released`).
    fn read_batch(&mut self) -> io::Result<()> {
        let slot = self.slot();
        let batch = self.batch_frames;
        self.first_index += self.frames as u64;
        (self.frames, self.unopened, self.pos, self.ready_end) = (0, 0, 0, 0);
        self.batch.wipe_plaintext();
        let target = batch * slot + 1;
        self.batch.refill(&mut self.input, target)?;
        let len = self.batch.len;
        let at_end = len < target;
        let (sealed_len, frames) = if at_end {
            match split_sealed(len, self.frame_size, self.first_index) {
                Some((frames, _)) => (len, frames),
                None => {
                    self.failed = true;
                    return Ok(());
                }
            }
        } else {
            (batch * slot, batch)
        };
        let limit = if at_end { MAX_FRAMES } else { MAX_FRAMES - 1 };
        if self.first_index + frames as u64 > limit {
            self.failed = true;
            return Ok(());
        }
        (self.batch.end, self.frames, self.at_end) = (sealed_len, frames, at_end);
        Ok(())
    }

    /// Opens as many whole frames as fit in `buf` (at least one) straight into it; returns the
    /// plaintext bytes released.
    fn open_into(&mut self, buf: &mut [u8]) -> usize {
        let (from, slot) = (self.unopened, self.slot());
        let mut to = from + (buf.len() / self.frame_size).min(self.frames - from);
        if to < self.frames && self.plain_len(from, to + 1) <= buf.len() {
            // The batch's last frame may be short.
            to += 1;
        }
        let plain = self.plain_len(from, to);
        let sealed = &self.batch.buf[from * slot..(to * slot).min(self.batch.end)];
        let ends_message = self.at_end && to == self.frames;
        let index = self.first_index + from as u64;
        let out = &mut buf[..plain];
        self.unopened = to;
        match open_frames(
            &self.cipher,
            sealed,
            out,
            self.frame_size,
            index,
            ends_message,
        ) {
            Ok(()) => plain,
            Err(bad) => {
                // `out` holds the frames before the bad one, zeros after.
                self.failed = true;
                self.unopened = self.frames;
                bad * self.frame_size
            }
        }
    }

    /// Opens the rest of the batch in place, for reads smaller than a frame.
    fn open_rest_in_place(&mut self) {
        let (from, slot) = (self.unopened, self.slot());
        let index = self.first_index + from as u64;
        let slots = &mut self.batch.buf[from * slot..self.batch.end];
        self.batch.holds_plaintext = true;
        let result = open_slots(&self.cipher, slots, self.frame_size, index, self.at_end);
        self.pos = from * slot;
        self.ready_end = match result {
            Ok(()) => self.batch.end,
            Err(bad) => {
                self.failed = true;
                (from + bad) * slot
            }
        };
        self.unopened = self.frames;
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
            if self.at_end {
                return Ok(0);
            }
            self.read_batch()?;
        }
    }
}
