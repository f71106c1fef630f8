//! SM4-GCM throughput per backend, next to AES-256-GCM (aws-lc-rs) and the generic
//! `aes-gcm` over the `sm4` crate, measured in the same run.
//!
//! Time is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time:
//! the build machine is shared, and `openssl speed` (which `benches/sm4-vs-openssl.sh`
//! compares against) also divides by CPU time by default.

#![allow(clippy::unwrap_used)] // bench code

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tkms_sm4::{Backend, Sm4Gcm};

const SIZES: [usize; 3] = [64, 16 << 10, 1 << 20];

/// Nanoseconds this thread spent on a CPU.
struct CpuTime(WallTime);

fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
    stat.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("schedstat run time")
}

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = Duration;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_ns().saturating_sub(start))
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

fn sm4_gcm(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("sm4-gcm");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let mut buf = vec![0u8; size];
        for backend in Backend::ALL {
            let Some(gcm) = Sm4Gcm::with_backend(&[7; 16], backend) else {
                eprintln!("SKIPPED {backend:?}: CPU lacks its instructions");
                continue;
            };
            if backend == Backend::Soft && size > 16 << 10 {
                continue; // ~60 MB/s: not worth the time at 1 MiB
            }
            g.bench_with_input(
                BenchmarkId::new(format!("seal/{backend:?}"), size),
                &size,
                |b, _| {
                    b.iter(|| {
                        gcm.seal_in_place_detached(&[1; 12], b"", black_box(&mut buf))
                            .unwrap()
                    })
                },
            );
            let tag = gcm.seal_in_place_detached(&[1; 12], b"", &mut buf).unwrap();
            let ct = buf.clone();
            g.bench_with_input(
                BenchmarkId::new(format!("open/{backend:?}"), size),
                &size,
                |b, _| {
                    b.iter(|| {
                        buf.copy_from_slice(&ct);
                        gcm.open_in_place_detached(&[1; 12], b"", black_box(&mut buf), &tag)
                            .unwrap()
                    })
                },
            );
            // Out of place, as kms-core's frames use it: no copy before the pass.
            let mut out = vec![0u8; size];
            g.bench_with_input(
                BenchmarkId::new(format!("seal_into/{backend:?}"), size),
                &size,
                |b, _| {
                    b.iter(|| {
                        gcm.seal_detached_into(&[1; 12], b"", black_box(&ct), &mut out)
                            .unwrap()
                    })
                },
            );
            g.bench_with_input(
                BenchmarkId::new(format!("open_into/{backend:?}"), size),
                &size,
                |b, _| {
                    b.iter(|| {
                        gcm.open_detached_into(&[1; 12], b"", black_box(&ct), &tag, &mut out)
                            .unwrap()
                    })
                },
            );
        }

        let reference = AesGcm::<sm4::Sm4, U12>::new(&[7; 16].into());
        if size <= 16 << 10 {
            g.bench_with_input(
                BenchmarkId::new("seal/aes-gcm-crate-over-sm4", size),
                &size,
                |b, _| {
                    b.iter(|| {
                        reference
                            .encrypt_inout_detached(
                                &[1; 12].into(),
                                b"",
                                black_box(buf.as_mut_slice()).into(),
                            )
                            .unwrap()
                    })
                },
            );
        }

        let aes = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).unwrap());
        g.bench_with_input(
            BenchmarkId::new("seal/aes-256-gcm-aws-lc-rs", size),
            &size,
            |b, _| {
                b.iter(|| {
                    let nonce = Nonce::assume_unique_for_key([1; 12]);
                    aes.seal_in_place_separate_tag(nonce, Aad::empty(), black_box(&mut buf))
                        .unwrap()
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime(WallTime));
    targets = sm4_gcm
}
criterion_main!(benches);
