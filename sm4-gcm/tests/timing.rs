//! Timing-leak test of the SIMD backends, dudect-style (Reparaz, Balasch, Verbauwhede, "Dude, is
//! my code constant time?", DATE 2017): two input classes, fixed and random, are measured in a
//! random interleaving, and Welch's t-test compares their time distributions; |t| above 4.5 says
//! the time depends on the class, i.e. on secret data.
//!
//! Two experiments per backend: the key (fixed vs random key, timing key setup plus a 64-byte
//! seal) and the input (one key, fixed vs random 64-byte plaintext). Each t is computed on every
//! sample and on the samples below several percentiles of the timings (dudect's cropping, which
//! removes interrupts and other machine noise from the tail).
//!
//! Ignored by default (it takes a while and wants a quiet machine); run with
//!
//! ```text
//! cargo test -p tkms-sm4 --test timing -- --ignored --nocapture
//! ```
//!
//! `TKMS_SM4_DUDECT_SAMPLES` sets the samples per experiment (default 200000). The result and the
//! command are recorded in docs/sm4.md ("Timing-leak test"). `Soft` is measured too and
//! reported, never asserted: its table look-ups hit L1 cache in a loop this small, so a quiet
//! t there proves nothing, which is why it is refused without the opt-in.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::hint::black_box;
use std::time::Instant;
use tkms_sm4::{Backend, Sm4Gcm};

/// dudect's threshold: beyond it the two classes' timings differ.
const T_THRESHOLD: f64 = 4.5;
/// Operations timed together per sample, to lift each sample well above the clock's resolution.
const BATCH: usize = 8;
const MSG_LEN: usize = 64;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Welch's t statistic of two samples, computed online (Welford).
#[derive(Default, Clone, Copy)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn push(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }
}

fn welch_t(a: &Moments, b: &Moments) -> f64 {
    let var = |m: &Moments| m.m2 / (m.n - 1.0);
    (a.mean - b.mean) / (var(a) / a.n + var(b) / b.n).sqrt()
}

/// Which experiment: what differs between the classes.
#[derive(Clone, Copy, Debug)]
enum Secret {
    Key,
    Plaintext,
    /// A positive control: the plaintext experiment with a deliberate leak (a second seal when
    /// the first byte is non-zero), which the test must detect, or it could not fail at all.
    LeakyControl,
}

/// The largest |t| over the uncropped samples and the crops below these percentiles.
const CROPS: [f64; 4] = [1.0, 0.9, 0.75, 0.5];

/// Runs one experiment on `backend` and returns max |t| over the crops.
fn experiment(backend: Backend, secret: Secret, samples: usize) -> f64 {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ samples as u64);
    let fixed_key = [0x5au8; 16];
    let fixed_msg = [0u8; MSG_LEN];
    let keyed = Sm4Gcm::with_backend(&fixed_key, backend).unwrap();
    // Inputs first, so generating them is not timed: (class, key, message) per sample.
    let mut inputs = Vec::with_capacity(samples);
    for _ in 0..samples {
        let random_class = rng.next() & 1 == 1;
        let (mut key, mut msg) = (fixed_key, fixed_msg);
        if random_class {
            match secret {
                Secret::Key => rng.fill(&mut key),
                Secret::Plaintext | Secret::LeakyControl => rng.fill(&mut msg),
            }
        }
        inputs.push((random_class, key, msg));
    }
    let nonce = [7u8; 12];
    let mut times = Vec::with_capacity(samples);
    for (random_class, key, msg) in &inputs {
        let start = Instant::now();
        for _ in 0..BATCH {
            let mut buf = *msg;
            let tag = match secret {
                Secret::Key => Sm4Gcm::with_backend(black_box(key), backend)
                    .unwrap()
                    .seal_in_place_detached(&nonce, &[], &mut buf),
                Secret::Plaintext => keyed.seal_in_place_detached(&nonce, &[], black_box(&mut buf)),
                Secret::LeakyControl => {
                    if black_box(buf[0]) != 0 {
                        black_box(keyed.seal_in_place_detached(&nonce, &[], &mut buf.clone())).ok();
                    }
                    keyed.seal_in_place_detached(&nonce, &[], black_box(&mut buf))
                }
            };
            black_box((tag.unwrap(), buf));
        }
        times.push((*random_class, start.elapsed().as_nanos() as f64));
    }
    let mut sorted: Vec<f64> = times.iter().map(|t| t.1).collect();
    sorted.sort_by(f64::total_cmp);
    let mut worst = 0.0f64;
    for crop in CROPS {
        let limit = sorted[((sorted.len() - 1) as f64 * crop) as usize];
        let (mut fixed, mut random) = (Moments::default(), Moments::default());
        for &(random_class, t) in times.iter().filter(|(_, t)| *t <= limit) {
            if random_class {
                random.push(t)
            } else {
                fixed.push(t)
            }
        }
        let t = welch_t(&fixed, &random);
        eprintln!(
            "  {backend:?} {secret:?} crop {crop:.2}: n = {} + {}, mean {:.1} / {:.1} ns per {BATCH}, t = {t:+.2}",
            fixed.n, random.n, fixed.mean, random.mean
        );
        worst = worst.max(t.abs());
    }
    worst
}

#[test]
#[ignore = "timing measurement: run on demand (see the module docs and docs/sm4.md)"]
fn simd_backends_show_no_timing_difference_between_fixed_and_random_secrets() {
    let samples: usize = std::env::var("TKMS_SM4_DUDECT_SAMPLES")
        .map(|v| v.parse().expect("TKMS_SM4_DUDECT_SAMPLES is a number"))
        .unwrap_or(200_000);
    let mut leaks = Vec::new();
    let mut ran = 0;
    for backend in Backend::ALL {
        if !backend.available() {
            eprintln!("{backend:?}: CPU lacks it, not measured");
            continue;
        }
        for secret in [Secret::Key, Secret::Plaintext] {
            let t = experiment(backend, secret, samples);
            eprintln!("{backend:?} {secret:?}: max |t| = {t:.2} over {samples} samples");
            if backend.is_constant_time() {
                ran += 1;
                if t > T_THRESHOLD {
                    leaks.push(format!("{backend:?} {secret:?}: |t| = {t:.2}"));
                }
            }
        }
    }
    assert!(
        ran > 0,
        "no constant-time backend on this CPU: nothing was measured"
    );
    // The same measurement sees a real leak on the fastest backend.
    let fastest = Backend::ALL.into_iter().find(|b| b.available()).unwrap();
    let control = experiment(fastest, Secret::LeakyControl, samples / 4);
    eprintln!("{fastest:?} LeakyControl: max |t| = {control:.2} (must exceed {T_THRESHOLD})");
    assert!(
        control > T_THRESHOLD,
        "the positive control went undetected: |t| = {control:.2}"
    );
    assert!(
        leaks.is_empty(),
        "timing depends on the secret (|t| > {T_THRESHOLD}): {leaks:?}"
    );
}
