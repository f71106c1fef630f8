//! Envelope seal/open throughput, one-shot and streaming, for both suites, beside the raw AEAD
//! (aws-lc-rs AES-256-GCM; `tkms-sm4`, the SM4-GCM backend of kms-core) on the whole buffer
//! in one call.
//!
//! `cargo bench -p tkms-benches --bench envelope`; one core: `RAYON_NUM_THREADS=1 cargo bench ...`.
//! The `write_floor` and `read_floor` rows (AES-256-GCM) are the least any `Write`/`Read`-based
//! stream can do, beside the in-place raw rows: what separates them is copying through a buffer.

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use kms_core::{
    DataKey, Decryptor, EncryptOptions, EncryptionContext, Encryptor, Suite, WrapError, decrypt,
    encrypt,
};

/// A wrapper that stores the data key under a fixed AES-256-GCM key (the real wrappers cost a
/// KMS call or a public-key operation per message, benchmarked elsewhere).
struct BenchKey(LessSafeKey);

impl BenchKey {
    fn new() -> Self {
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

const SIZES: [(usize, &str); 4] = [
    (1024, "1KiB"),
    (64 * 1024, "64KiB"),
    (1024 * 1024, "1MiB"),
    (64 * 1024 * 1024, "64MiB"),
];

fn stream_seal(plaintext: &[u8], key: &BenchKey, opts: &EncryptOptions) -> Vec<u8> {
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

fn stream_open(
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
const FLOOR_FRAME: usize = 64 * 1024;

fn frame_nonce(index: usize) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&(index as u64).to_be_bytes());
    Nonce::assume_unique_for_key(nonce)
}

/// The least any `Write`-based sealer does: seal each frame from the caller's buffer into one
/// reused buffer and append it, with its tag, to the output. `stream_seal` does this plus the
/// header and re-sealing its last frame as final (docs/performance.md, "Library path").
fn write_floor(raw: &LessSafeKey, plaintext: &[u8], slot: &mut [u8]) -> Vec<u8> {
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
fn read_floor(raw: &LessSafeKey, frames: &[u8], slot: &mut [u8], buf: &mut [u8]) -> usize {
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

fn bench_suite(c: &mut Criterion, suite: Suite) {
    let key = BenchKey::new();
    let opts = EncryptOptions {
        suite,
        ..EncryptOptions::default()
    };
    let mut group = c.benchmark_group(format!("envelope/{suite}"));
    for (size, label) in SIZES {
        let big = size >= 64 * 1024 * 1024;
        group.sample_size(if big { 10 } else { 30 });
        group.measurement_time(Duration::from_secs(if big { 8 } else { 3 }));
        group.warm_up_time(Duration::from_secs(1));
        group.throughput(Throughput::Bytes(size as u64));
        let plaintext = vec![0x5Au8; size];
        let envelope = encrypt(&plaintext, &[&key], &opts).expect("encrypt");
        let mut scratch = plaintext.clone();

        match suite {
            Suite::Aes256Gcm => {
                let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[3u8; 32]).expect("key"));
                let tag = raw
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key([0; 12]),
                        Aad::empty(),
                        &mut scratch,
                    )
                    .expect("seal");
                let sealed = scratch.clone();
                group.bench_function(BenchmarkId::new("raw_seal", label), |b| {
                    b.iter(|| {
                        raw.seal_in_place_separate_tag(
                            Nonce::assume_unique_for_key([0; 12]),
                            Aad::empty(),
                            &mut scratch,
                        )
                        .expect("seal")
                    })
                });
                // The floor for any API that returns a new buffer: allocate it, seal into it.
                group.bench_function(BenchmarkId::new("raw_seal_alloc", label), |b| {
                    b.iter(|| {
                        let mut out = vec![0u8; size];
                        let mut tag = [0u8; 16];
                        raw.seal_out_of_place_scatter(
                            Nonce::assume_unique_for_key([0; 12]),
                            Aad::empty(),
                            &plaintext,
                            &mut out,
                            &[],
                            &mut tag,
                        )
                        .expect("seal");
                        (out, tag)
                    })
                });
                group.bench_function(BenchmarkId::new("raw_open", label), |b| {
                    b.iter_batched_ref(
                        || sealed.clone(),
                        |buf| {
                            raw.open_in_place_separate_tag(
                                Nonce::assume_unique_for_key([0; 12]),
                                Aad::empty(),
                                tag.as_ref(),
                                buf,
                            )
                            .expect("open")
                            .len()
                        },
                        criterion::BatchSize::LargeInput,
                    )
                });
                let mut slot = vec![0u8; FLOOR_FRAME + 16];
                group.bench_function(BenchmarkId::new("write_floor", label), |b| {
                    b.iter(|| write_floor(&raw, black_box(&plaintext), &mut slot))
                });
                let frames = write_floor(&raw, &plaintext, &mut slot);
                let mut buf = vec![0u8; FLOOR_FRAME];
                group.bench_function(BenchmarkId::new("read_floor", label), |b| {
                    b.iter(|| read_floor(&raw, black_box(&frames), &mut slot, &mut buf))
                });
            }
            _ => {
                let raw = tkms_sm4::Sm4Gcm::new(&[3u8; 16]).expect("SM4 allowed on this CPU");
                let tag = raw
                    .seal_in_place_detached(&[0u8; 12], &[], &mut scratch)
                    .expect("seal");
                let sealed = scratch.clone();
                group.bench_function(BenchmarkId::new("raw_seal", label), |b| {
                    b.iter(|| raw.seal_in_place_detached(&[0u8; 12], &[], &mut scratch))
                });
                group.bench_function(BenchmarkId::new("raw_open", label), |b| {
                    b.iter_batched_ref(
                        || sealed.clone(),
                        |buf| {
                            raw.open_in_place_detached(&[0u8; 12], &[], buf, &tag)
                                .expect("open")
                        },
                        criterion::BatchSize::LargeInput,
                    )
                });
            }
        }
        group.bench_function(BenchmarkId::new("seal", label), |b| {
            b.iter(|| encrypt(black_box(&plaintext), &[&key], &opts).expect("encrypt"))
        });
        group.bench_function(BenchmarkId::new("open", label), |b| {
            b.iter(|| decrypt(black_box(&envelope), &[&key], &opts.context).expect("decrypt"))
        });
        group.bench_function(BenchmarkId::new("stream_seal", label), |b| {
            b.iter(|| stream_seal(black_box(&plaintext), &key, &opts))
        });
        let mut buf = vec![0u8; 64 * 1024];
        group.bench_function(BenchmarkId::new("stream_open", label), |b| {
            b.iter(|| stream_open(black_box(&envelope), &key, &opts.context, &mut buf))
        });
    }
    group.finish();
}

fn envelope(c: &mut Criterion) {
    bench_suite(c, Suite::Aes256Gcm);
    bench_suite(c, Suite::Sm4Gcm);
}

criterion_group!(benches, envelope);
criterion_main!(benches);
