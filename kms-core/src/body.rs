//! The envelope body: frames sealed with the STREAM construction, in parallel.
//!
//! > Every frame but the last holds exactly frame_size plaintext bytes; the last holds
//! > 1 ..= frame_size bytes, or 0 when the whole plaintext is empty (one empty final frame).
//! > Frame i (from 0) is AEAD(content_key, nonce(i, last), aad = empty, plaintext) as
//! > ciphertext || 16-byte tag, with no length or separator: the frame size fixes the layout.

use rayon::prelude::*;

use crate::aead::{Cipher, TAG_LEN};
use crate::format::MAX_FRAMES;
use crate::kdf::frame_nonce;

/// Aim for at least this much work per rayon task, so small frames are not scheduled one by one.
const MIN_BYTES_PER_TASK: usize = 64 * 1024;

/// How many frames a sealed buffer of `sealed_len` bytes holds, and its plaintext length.
/// `None` when no valid frame sequence has that length.
pub(crate) fn split_sealed(
    sealed_len: usize,
    frame_size: usize,
    first_index: u64,
) -> Option<(usize, usize)> {
    let slot = frame_size + TAG_LEN;
    if sealed_len == 0 {
        return None;
    }
    let frames = sealed_len.div_ceil(slot);
    let last = sealed_len - (frames - 1) * slot;
    if last < TAG_LEN {
        return None;
    }
    // Only a message that is empty as a whole ends with an empty frame.
    if last == TAG_LEN && (frames > 1 || first_index > 0) {
        return None;
    }
    if first_index + frames as u64 > MAX_FRAMES {
        return None;
    }
    Some((frames, sealed_len - frames * TAG_LEN))
}

/// Bytes that `plaintext_len` bytes of plaintext seal to (at least one frame).
pub(crate) fn sealed_len(plaintext_len: usize, frame_size: usize) -> usize {
    plaintext_len + frame_count(plaintext_len, frame_size) * TAG_LEN
}

/// Frames needed for `plaintext_len` bytes (an empty plaintext is one empty frame).
pub(crate) fn frame_count(plaintext_len: usize, frame_size: usize) -> usize {
    plaintext_len.div_ceil(frame_size).max(1)
}

/// Where frame `index` starts in the body: every frame before it is a full slot.
pub(crate) fn slot_offset(index: u64, frame_size: usize) -> u64 {
    index * (frame_size + TAG_LEN) as u64
}

/// Below this many bytes, handing the work to the rayon pool costs more than it saves.
const PARALLEL_MIN_BYTES: usize = 2 * MIN_BYTES_PER_TASK;

/// Who seals or opens the frames of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Threads {
    /// The rayon pool when there is enough work, else the calling thread.
    Pool,
    /// The calling thread: for callers that already run one task per core (file.rs), where
    /// splitting a task again would only move its frames away from the core that has them
    /// in cache.
    Caller,
}

/// Whether to spread `len` bytes of frames over the rayon pool, or seal/open them on the
/// calling thread (small inputs, or a one-thread pool where the hand-off is pure overhead).
fn in_parallel(threads: Threads, len: usize) -> bool {
    threads == Threads::Pool && len >= PARALLEL_MIN_BYTES && rayon::current_num_threads() > 1
}

fn min_frames_per_task(frame_size: usize) -> usize {
    (MIN_BYTES_PER_TASK / frame_size).max(1)
}

fn index_u32(index: u64) -> u32 {
    u32::try_from(index)
        .expect("frame indices are checked against MAX_FRAMES before sealing or opening")
}

/// Seals frames `first_index..` into `slots` (sealed layout: each slot is a frame's plaintext then
/// room for its tag; the last slot may be shorter). With `source`, each frame is sealed from it
/// straight into its slot; without, `slots` already holds the plaintext and is sealed in place. The last frame gets the final flag
/// when `ends_message`. The caller checks the frame count limit.
pub(crate) fn seal_frames(
    cipher: &Cipher,
    source: Option<&[u8]>,
    slots: &mut [u8],
    frame_size: usize,
    first_index: u64,
    ends_message: bool,
) {
    seal_frames_on(
        Threads::Pool,
        cipher,
        source,
        slots,
        frame_size,
        first_index,
        ends_message,
    );
}

/// [`seal_frames`] on the given [`Threads`].
pub(crate) fn seal_frames_on(
    threads: Threads,
    cipher: &Cipher,
    source: Option<&[u8]>,
    slots: &mut [u8],
    frame_size: usize,
    first_index: u64,
    ends_message: bool,
) {
    let frames = slots.len().div_ceil(frame_size + TAG_LEN);
    let seal_one = |(i, slot): (usize, &mut [u8])| {
        let (body, tag) = slot.split_at_mut(slot.len() - TAG_LEN);
        let last = ends_message && i + 1 == frames;
        let nonce = frame_nonce(index_u32(first_index + i as u64), last);
        let sealed_tag = match source {
            Some(source) => {
                cipher.seal_into(&nonce, &[], &source[i * frame_size..][..body.len()], body)
            }
            None => cipher.seal_in_place(&nonce, &[], body),
        };
        tag.copy_from_slice(&sealed_tag);
    };
    if in_parallel(threads, slots.len()) {
        slots
            .par_chunks_mut(frame_size + TAG_LEN)
            .with_min_len(min_frames_per_task(frame_size))
            .enumerate()
            .for_each(seal_one);
    } else {
        slots
            .chunks_mut(frame_size + TAG_LEN)
            .enumerate()
            .for_each(seal_one);
    }
}

/// Opens frames `first_index..` of `sealed` (sealed layout) into `out`, the contiguous
/// plaintext (length from [`split_sealed`]), each frame straight from its slot.
/// On failure returns the position (within this call) of the first frame that did not
/// authenticate: `out` then holds the plaintext of the frames before it and zeros after.
pub(crate) fn open_frames(
    cipher: &Cipher,
    sealed: &[u8],
    out: &mut [u8],
    frame_size: usize,
    first_index: u64,
    ends_message: bool,
) -> Result<(), usize> {
    open_frames_on(
        Threads::Pool,
        cipher,
        sealed,
        out,
        frame_size,
        first_index,
        ends_message,
    )
}

/// [`open_frames`] on the given [`Threads`].
pub(crate) fn open_frames_on(
    threads: Threads,
    cipher: &Cipher,
    sealed: &[u8],
    out: &mut [u8],
    frame_size: usize,
    first_index: u64,
    ends_message: bool,
) -> Result<(), usize> {
    let slot = frame_size + TAG_LEN;
    let frames = sealed.len().div_ceil(slot);
    debug_assert_eq!(out.len() + frames * TAG_LEN, sealed.len());
    let open_one = |i: usize, input: &[u8], output: &mut [u8]| -> bool {
        let (body, tag) = input.split_at(input.len() - TAG_LEN);
        let tag: &[u8; TAG_LEN] = tag.try_into().expect("split at TAG_LEN from the end");
        let last = ends_message && i + 1 == frames;
        let nonce = frame_nonce(index_u32(first_index + i as u64), last);
        cipher.open_into(&nonce, &[], body, tag, output).is_ok()
    };
    let results: Vec<bool> = if out.is_empty() {
        // The one empty frame of an empty message.
        vec![open_one(0, sealed, &mut [])]
    } else if in_parallel(threads, sealed.len()) {
        sealed
            .par_chunks(slot)
            .zip(out.par_chunks_mut(frame_size))
            .with_min_len(min_frames_per_task(frame_size))
            .enumerate()
            .map(|(i, (input, output))| open_one(i, input, output))
            .collect()
    } else {
        sealed
            .chunks(slot)
            .zip(out.chunks_mut(frame_size))
            .enumerate()
            .map(|(i, (input, output))| open_one(i, input, output))
            .collect()
    };
    first_failure(results, out, frame_size)
}

/// Opens frames `first_index..` in place in `slots` (sealed layout): afterwards slot `i` starts
/// with frame `i`'s plaintext. Failure as in [`open_frames`] (slots from the bad one are zeroed).
pub(crate) fn open_slots(
    cipher: &Cipher,
    slots: &mut [u8],
    frame_size: usize,
    first_index: u64,
    ends_message: bool,
) -> Result<(), usize> {
    let slot_len = frame_size + TAG_LEN;
    let frames = slots.len().div_ceil(slot_len);
    let open_one = |(i, slot): (usize, &mut [u8])| {
        let (body, tag) = slot.split_at_mut(slot.len() - TAG_LEN);
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().expect("split at TAG_LEN from the end");
        let last = ends_message && i + 1 == frames;
        let nonce = frame_nonce(index_u32(first_index + i as u64), last);
        cipher.open_in_place(&nonce, &[], body, tag).is_ok()
    };
    let results: Vec<bool> = if in_parallel(Threads::Pool, slots.len()) {
        slots
            .par_chunks_mut(slot_len)
            .with_min_len(min_frames_per_task(frame_size))
            .enumerate()
            .map(open_one)
            .collect()
    } else {
        slots
            .chunks_mut(slot_len)
            .enumerate()
            .map(open_one)
            .collect()
    };
    first_failure(results, slots, slot_len)
}

fn first_failure(results: Vec<bool>, out: &mut [u8], stride: usize) -> Result<(), usize> {
    match results.iter().position(|ok| !ok) {
        None => Ok(()),
        Some(bad) => {
            // Frames after a bad one may have opened, but a stream stops at its first failure.
            out[bad * stride..].fill(0);
            Err(bad)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::Suite;

    #[test]
    fn geometry() {
        // frame size 64: slot 80
        assert_eq!(sealed_len(0, 64), 16);
        assert_eq!(sealed_len(64, 64), 80);
        assert_eq!(sealed_len(65, 64), 97);
        assert_eq!(split_sealed(16, 64, 0), Some((1, 0)));
        assert_eq!(split_sealed(80, 64, 0), Some((1, 64)));
        assert_eq!(split_sealed(97, 64, 0), Some((2, 65)));
        assert_eq!(
            split_sealed(0, 64, 0),
            None,
            "no frames at all is a truncation"
        );
        assert_eq!(
            split_sealed(90, 64, 0),
            None,
            "a last frame shorter than a tag"
        );
        assert_eq!(
            split_sealed(96, 64, 0),
            None,
            "an empty final frame after a full one"
        );
        assert_eq!(
            split_sealed(16, 64, 3),
            None,
            "an empty final frame after earlier batches"
        );
        assert_eq!(split_sealed(80, 64, MAX_FRAMES - 1), Some((1, 64)));
        assert_eq!(
            split_sealed(160, 64, MAX_FRAMES - 1),
            None,
            "frame index would exceed u32"
        );
    }

    #[test]
    fn seal_then_open_many_frames_and_first_failure() {
        let cipher = Cipher::new(Suite::Aes256Gcm, &[1u8; 32]).unwrap();
        let plaintext: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut sealed = vec![0u8; sealed_len(plaintext.len(), 64)];
        seal_frames(&cipher, Some(&plaintext), &mut sealed, 64, 0, true);
        // Sealing from a source and sealing slots in place agree.
        let mut slots = Vec::new();
        for frame in plaintext.chunks(64) {
            slots.extend_from_slice(frame);
            slots.extend_from_slice(&[0u8; TAG_LEN]);
        }
        seal_frames(&cipher, None, &mut slots, 64, 0, true);
        assert_eq!(slots, sealed);
        let mut out = vec![0u8; plaintext.len()];
        open_frames(&cipher, &sealed, &mut out, 64, 0, true).unwrap();
        assert_eq!(out, plaintext);
        // Wrong position in the stream or missing final flag: everything fails from frame 0.
        assert_eq!(open_frames(&cipher, &sealed, &mut out, 64, 1, true), Err(0));
        assert_eq!(
            open_frames(&cipher, &sealed, &mut out, 64, 0, false),
            Err(15)
        );
        sealed[80 * 4 + 3] ^= 0x80;
        assert_eq!(open_frames(&cipher, &sealed, &mut out, 64, 0, true), Err(4));
        assert_eq!(&out[..256], &plaintext[..256]);
        assert!(out[256..].iter().all(|&b| b == 0));
        // In place: slots before the bad one hold plaintext, the rest is zeroed.
        slots[80 * 2 + 70] ^= 1;
        assert_eq!(open_slots(&cipher, &mut slots, 64, 0, true), Err(2));
        assert_eq!(&slots[..64], &plaintext[..64]);
        assert_eq!(&slots[80..144], &plaintext[64..128]);
        assert!(slots[160..].iter().all(|&b| b == 0));
    }
}
