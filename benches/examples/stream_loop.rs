//! One envelope operation on 1 MiB (or `size` bytes), `iterations` times: fixed work for
//! `perf stat -e task-clock` and `perf record`, whose CPU time is steadier than criterion's wall
//! time on a shared machine (docs/performance.md, "Library path").
//!
//! `RAYON_NUM_THREADS=1 target/release/examples/stream_loop OP ITERATIONS [SIZE]`, OP one of:
//! - `raw_seal`: aws-lc-rs AES-256-GCM in place on the whole buffer (the bench's raw_seal);
//! - `copy`: copy the whole buffer once; `raw_open`: that copy, then open in place;
//! - `stream_seal`, `stream_open`: kms-core's Encryptor (64 KiB writes) and Decryptor (64 KiB
//!   reads), as the bench's rows;
//! - `slot_seal`: seal each 64 KiB frame into one reused buffer, nothing more;
//! - `slot_seal_copy`: that, then append the buffer to a Vec (the bench's write_floor);
//! - `slot_copy_seal_copy`: copy each frame into the buffer, seal it there, append it (what
//!   keeping each write's last frame back, instead of re-sealing it in `finish`, would cost);
//! - `direct_seal`: seal each frame straight into a zeroed output (no `Write` can do this);
//! - `open_a`: copy each sealed frame into a buffer, open it into the caller's (the bench's
//!   read_floor); `open_b`: copy it into the caller's buffer, open in place there; `open_c`: open
//!   straight from the input (no `Read` can do this).

// A measurement loop: any failure is a bug to see at once.
#![allow(clippy::unwrap_used)]
use std::hint::black_box;
use std::io::{Read, Write};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use kms_core::{
    DataKey, Decryptor, EncryptOptions, EncryptionContext, Encryptor, WrapError, encrypt,
};

struct BenchKey(LessSafeKey);
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args[1].as_str();
    let iters: usize = args[2].parse().unwrap();
    let size: usize = args.get(3).map_or(1 << 20, |s| s.parse().unwrap());
    let key = BenchKey(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &[7u8; 32]).unwrap(),
    ));
    let opts = EncryptOptions::default();
    let plaintext = vec![0x5Au8; size];
    let envelope = encrypt(&plaintext, &[&key], &opts).unwrap();
    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[3u8; 32]).unwrap());
    let mut scratch = plaintext.clone();
    let tag = raw
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut scratch,
        )
        .unwrap();
    let sealed = scratch.clone();
    let mut buf = vec![0u8; 64 * 1024];
    let mut sealed_frames = Vec::new();
    for (i, chunk) in plaintext.chunks(64 * 1024).enumerate() {
        let mut n = [0u8; 12];
        n[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let mut c = chunk.to_vec();
        let t = raw
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(n), Aad::empty(), &mut c)
            .unwrap();
        sealed_frames.extend_from_slice(&c);
        sealed_frames.extend_from_slice(t.as_ref());
    }
    let mut total = 0usize;
    for _ in 0..iters {
        match what {
            "raw_seal" => {
                let t = raw
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key([0; 12]),
                        Aad::empty(),
                        &mut scratch,
                    )
                    .unwrap();
                total += t.as_ref()[0] as usize;
            }
            "raw_open" => {
                scratch.copy_from_slice(&sealed);
                total += raw
                    .open_in_place_separate_tag(
                        Nonce::assume_unique_for_key([0; 12]),
                        Aad::empty(),
                        tag.as_ref(),
                        &mut scratch,
                    )
                    .unwrap()
                    .len();
            }
            "slot_seal" => {
                // floor for a Write-based sealer: seal each frame into a hot slot
                let mut slot = vec![0u8; 64 * 1024];
                for (i, chunk) in black_box(&plaintext).chunks(64 * 1024).enumerate() {
                    let mut n = [0u8; 12];
                    n[..8].copy_from_slice(&(i as u64).to_be_bytes());
                    let mut t = [0u8; 16];
                    raw.seal_out_of_place_scatter(
                        Nonce::assume_unique_for_key(n),
                        Aad::empty(),
                        chunk,
                        &mut slot,
                        &[],
                        &mut t,
                    )
                    .unwrap();
                    total += t[0] as usize;
                }
            }
            "slot_seal_copy" => {
                let mut out = Vec::with_capacity(plaintext.len() + plaintext.len() / 1024 + 4096);
                let mut slot = vec![0u8; 64 * 1024];
                for (i, chunk) in black_box(&plaintext).chunks(64 * 1024).enumerate() {
                    let mut n = [0u8; 12];
                    n[..8].copy_from_slice(&(i as u64).to_be_bytes());
                    let mut t = [0u8; 16];
                    raw.seal_out_of_place_scatter(
                        Nonce::assume_unique_for_key(n),
                        Aad::empty(),
                        chunk,
                        &mut slot,
                        &[],
                        &mut t,
                    )
                    .unwrap();
                    out.write_all(&slot).unwrap();
                    out.write_all(&t).unwrap();
                }
                total += black_box(out).len();
            }
            "slot_copy_seal_copy" => {
                let mut out = Vec::with_capacity(plaintext.len() + plaintext.len() / 1024 + 4096);
                let mut slot = vec![0u8; 64 * 1024];
                for (i, chunk) in black_box(&plaintext).chunks(64 * 1024).enumerate() {
                    let mut n = [0u8; 12];
                    n[..8].copy_from_slice(&(i as u64).to_be_bytes());
                    slot.copy_from_slice(chunk);
                    let t = raw
                        .seal_in_place_separate_tag(
                            Nonce::assume_unique_for_key(n),
                            Aad::empty(),
                            &mut slot,
                        )
                        .unwrap();
                    out.write_all(&slot).unwrap();
                    out.write_all(t.as_ref()).unwrap();
                }
                total += black_box(out).len();
            }
            "direct_seal" => {
                // seal straight into the output Vec (what no Write-based API can do)
                let mut out = vec![0u8; plaintext.len()];
                for (i, (chunk, o)) in black_box(&plaintext)
                    .chunks(64 * 1024)
                    .zip(out.chunks_mut(64 * 1024))
                    .enumerate()
                {
                    let mut n = [0u8; 12];
                    n[..8].copy_from_slice(&(i as u64).to_be_bytes());
                    let mut t = [0u8; 16];
                    raw.seal_out_of_place_scatter(
                        Nonce::assume_unique_for_key(n),
                        Aad::empty(),
                        chunk,
                        o,
                        &[],
                        &mut t,
                    )
                    .unwrap();
                }
                total += black_box(out).len();
            }
            "open_a" | "open_b" | "open_c" => {
                // frames of 64 KiB + 16 from `sealed_frames`
                let slot_len = 64 * 1024 + 16;
                let mut batch = vec![0u8; slot_len];
                for (i, env) in black_box(&sealed_frames).chunks(slot_len).enumerate() {
                    let mut n = [0u8; 12];
                    n[..8].copy_from_slice(&(i as u64).to_be_bytes());
                    let (body, tag) = env.split_at(64 * 1024);
                    match what {
                        "open_a" => {
                            batch.copy_from_slice(env);
                            let (b, t) = batch.split_at(64 * 1024);
                            raw.open_separate_gather(
                                Nonce::assume_unique_for_key(n),
                                Aad::empty(),
                                b,
                                t,
                                &mut buf,
                            )
                            .unwrap();
                        }
                        "open_b" => {
                            buf.copy_from_slice(body);
                            raw.open_in_place_separate_tag(
                                Nonce::assume_unique_for_key(n),
                                Aad::empty(),
                                tag,
                                &mut buf,
                            )
                            .unwrap();
                        }
                        _ => {
                            raw.open_separate_gather(
                                Nonce::assume_unique_for_key(n),
                                Aad::empty(),
                                body,
                                tag,
                                &mut buf,
                            )
                            .unwrap();
                        }
                    }
                    total += buf[7] as usize;
                }
            }
            "copy" => {
                scratch.copy_from_slice(&sealed);
                total += scratch[5] as usize;
            }
            "stream_seal" => {
                let mut enc = Encryptor::new(
                    Vec::with_capacity(plaintext.len() + plaintext.len() / 1024 + 4096),
                    &[&key],
                    &opts,
                )
                .unwrap();
                for chunk in black_box(&plaintext).chunks(64 * 1024) {
                    enc.write_all(chunk).unwrap();
                }
                total += enc.finish().unwrap().len();
            }
            "stream_open" => {
                let mut dec =
                    Decryptor::new(black_box(&envelope[..]), &[&key], &opts.context).unwrap();
                loop {
                    let n = dec.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
            }
            _ => {}
        }
    }
    println!("{total}");
}
