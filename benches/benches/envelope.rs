//! Envelope seal/open throughput, one-shot and streaming, for both suites, beside the raw AEAD
//! (aws-lc-rs AES-256-GCM; `tkms-sm4`, the SM4-GCM backend of kms-core) on the whole buffer
//! in one call.
//!
//! `cargo bench -p tkms-benches --bench envelope`; one core: `RAYON_NUM_THREADS=1 cargo bench ...`.
//! The `write_floor` and `read_floor` rows (AES-256-GCM) are the least any `Write`/`Read`-based
//! stream can do, beside the in-place raw rows: what separates them is copying through a buffer.

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kms_core::{EncryptOptions, Suite, decrypt, encrypt};
use tkms_benches::envelope_ops::{
    BenchKey, FLOOR_FRAME, read_floor, stream_open, stream_seal, write_floor,
};

const SIZES: [(usize, &str); 4] = [
    (1024, "1KiB"),
    (64 * 1024, "64KiB"),
    (1024 * 1024, "1MiB"),
    (64 * 1024 * 1024, "64MiB"),
];

fn bench_suite(c: &mut Criterion, suite: Suite) {
    let key = BenchKey::default();
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
