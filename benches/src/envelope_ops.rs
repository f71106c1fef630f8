//! What the envelope bench (benches/envelope.rs) and the fixed-work loop
//! (examples/stream_loop.rs) both run: a cheap data-key wrapper, the streams as an app writes
//! them, and the floor rows, so the loop's CPU times measure exactly the bench's operations.

use std::io::{Read, Write};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use kms_core::{DataKey, Decryptor, EncryptOptions, EncryptionContext, Encryptor, WrapError};

/// A wrapper that stores the data key under a fixed AES-256-GCM key (the real wrappers cost a
/// KMS call or a public-key operation per message, benchmarked elsewhere).
pub struct BenchKey(LessSafeKey);

impl Default for BenchKey {
    fn default() -> Self {
        Self(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("32-byte key"),
        ))
    }
}

impl KeyWrapper for BenchKey {
    fn wrap(&self, data_key: &DataKey, _: &EncryptionContext) -> Result<WrappedKey, WrapError> {
        let mut buf = data_key.expose_secret().to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::empty(),
                &mut buf,
            )
            .map_err(|_| WrapError::Crypto)?;
        Ok(WrappedKey {
            method: WrapMethod::RsaOaepSha256,
            key_ref: self.key_ref(),
            ciphertext: buf,
        })
    }
    fn unwrap(
        &self,
        wrapped: &WrappedKey,
        _: &EncryptionContext,
    ) -> Result<Option<DataKey>, WrapError> {
        let mut buf = wrapped.ciphertext.clone();
        let plain = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::empty(),
                &mut buf,
            )
            .map_err(|_| WrapError::Crypto)?;
        Ok(DataKey::from_slice(plain))
    }
    fn key_ref(&self) -> KeyRef {
        KeyRef::PublicKey {
            fingerprint: [1; 32],
        }
    }
}

pub fn stream_seal(plaintext: &[u8], key: &BenchKey, opts: &EncryptOptions) -> Vec<u8> {
    let mut enc = Encryptor::new(
        Vec::with_capacity(plaintext.len() + plaintext.len() / 1024 + 4096),
        &[key],
        opts,
    )
    .expect("encryptor");
    // Feed in 64 KiB writes, like `std::io::copy` would.
    for chunk in plaintext.chunks(64 * 1024) {
        enc.write_all(chunk).expect("write");
    }
    enc.finish().expect("finish")
}

pub fn stream_open(
    envelope: &[u8],
    key: &BenchKey,
    context: &EncryptionContext,
    buf: &mut [u8],
) -> usize {
    let mut dec = Decryptor::new(envelope, &[key], context).expect("decryptor");
    let mut total = 0;
    loop {
        let n = dec.read(buf).expect("read");
        if n == 0 {
            return total;
        }
        total += n;
    }
}

/// Frame size of the floor rows: the default, as the stream rows use.
pub const FLOOR_FRAME: usize = 64 * 1024;

pub fn frame_nonce(index: usize) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&(index as u64).to_be_bytes());
    Nonce::assume_unique_for_key(nonce)
}

/// The least any `Write`-based sealer does: seal each frame from the caller's buffer into one
/// reused buffer and append it, with its tag, to the output. `stream_seal` does this plus the
/// header and re-sealing its last frame as final (docs/performance.md, "Library path").
pub fn write_floor(raw: &LessSafeKey, plaintext: &[u8], slot: &mut [u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + plaintext.len() / 1024 + 4096);
    let mut tag = [0u8; 16];
    for (i, frame) in plaintext.chunks(FLOOR_FRAME).enumerate() {
        let body = &mut slot[..frame.len()];
        raw.seal_out_of_place_scatter(frame_nonce(i), Aad::empty(), frame, body, &[], &mut tag)
            .expect("seal");
        out.extend_from_slice(body);
        out.extend_from_slice(&tag);
    }
    out
}

/// The least any `Read`-based opener does: copy each sealed frame out of the input into one
/// reused buffer (what `Read` costs), then open it into the caller's buffer.
pub fn read_floor(raw: &LessSafeKey, frames: &[u8], slot: &mut [u8], buf: &mut [u8]) -> usize {
    let mut total = 0;
    for (i, sealed) in frames.chunks(FLOOR_FRAME + 16).enumerate() {
        let slot = &mut slot[..sealed.len()];
        slot.copy_from_slice(sealed);
        let (body, tag) = slot.split_at(slot.len() - 16);
        let out = &mut buf[..body.len()];
        raw.open_separate_gather(frame_nonce(i), Aad::empty(), body, tag, out)
            .expect("open");
        total += out.len();
    }
    total
}
