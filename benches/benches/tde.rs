//! TDE (docs/tde.md): random page reads and writes for AES-256-GCM and SM4-GCM pages, master
//! key rotation time against tablespace size, rekey throughput. The KMS is mock-hsm in process.
//!
//! ```sh
//! cargo bench -p tkms-benches --bench tde
//! TKMS_TDE_ROTATE_GIB=1,10 cargo bench -p tkms-benches --bench tde -- rotate_master
//! ```
//! `TKMS_TDE_ROTATE_GIB` lists the tablespace sizes for the rotation bench (default `1`); the
//! pages are really written (encrypted, journaled) once before measuring. `TKMS_BENCH_DIR`
//! picks the scratch directory (default: the system temp directory).

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kms_core::Suite;
use kms_core::kms::KmsTransport;
use kms_core::tde::{InitOptions, Instance};
use mock_hsm::{Hsm, HsmConfig, InProcess};

const PAGE: usize = 16 * 1024;
/// 64 MiB tables for the page benches (in the page cache after loading, like a warm buffer pool).
const TABLE_PAGES: u64 = 4096;

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let base =
            std::env::var_os("TKMS_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
        let dir = base.join(format!("tkms-tde-bench-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn kms() -> (InProcess, String) {
    let hsm = Arc::new(Hsm::open(HsmConfig::in_memory()).unwrap());
    let kms = InProcess::new(hsm);
    let out = kms.call("CreateKey", br#"{"Alias":"tde-bench"}"#).unwrap();
    let text = String::from_utf8(out.to_vec()).unwrap();
    let start = text.find("\"KeyId\":\"").unwrap() + 9;
    let key_id = text[start..].split('"').next().unwrap().to_owned();
    (kms, key_id)
}

/// An instance in `scratch` with table `t` of `pages` pages of `PAGE` bytes.
fn instance_with_table(scratch: &Scratch, kms: &InProcess, cmk: &str, suite: Suite, pages: u64) {
    let options = InitOptions {
        suite,
        page_size: PAGE as u32,
    };
    let instance = Instance::create(&scratch.0, kms, cmk, options).unwrap();
    let mut t = instance.create_tablespace("t").unwrap();
    let mut input = std::io::Read::take(std::io::repeat(0x5a), pages * PAGE as u64);
    assert_eq!(t.load(&mut input).unwrap(), pages);
}

/// xorshift64: cheap page numbers that the branch predictor and prefetcher cannot learn.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn pages(c: &mut Criterion) {
    let (kms, cmk) = kms();
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        let scratch = Scratch::new(suite.name());
        instance_with_table(&scratch, &kms, &cmk, suite, TABLE_PAGES);
        let instance = Instance::open(&scratch.0, &kms).unwrap();
        let mut t = instance.open_tablespace("t").unwrap();

        let mut g = c.benchmark_group(format!("tde_pages/{}", suite.name()));
        g.throughput(Throughput::Bytes(PAGE as u64));
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        g.bench_function("random_read_16k", |b| {
            b.iter(|| black_box(t.read_page(next(&mut rng) % TABLE_PAGES).unwrap()))
        });
        let content = vec![0xa5u8; PAGE];
        g.sample_size(20).measurement_time(Duration::from_secs(5));
        g.bench_function("random_write_16k_journaled", |b| {
            b.iter(|| {
                t.write_page(next(&mut rng) % TABLE_PAGES, &content)
                    .unwrap()
            })
        });
        // 256 pages per atomic commit: the four fsyncs are shared.
        let batch: Vec<&[u8]> = (0..256).map(|_| content.as_slice()).collect();
        g.throughput(Throughput::Bytes(256 * PAGE as u64));
        g.bench_function("write_256_pages_one_commit", |b| {
            b.iter(|| {
                t.write_pages((next(&mut rng) % (TABLE_PAGES / 256)) * 256, &batch)
                    .unwrap()
            })
        });
        // Rekey: every page decrypted and re-encrypted under a new tablespace key.
        g.throughput(Throughput::Bytes(TABLE_PAGES * PAGE as u64));
        g.sample_size(10).measurement_time(Duration::from_secs(10));
        g.bench_function("rekey_64MiB", |b| b.iter(|| t.rekey().unwrap()));
        g.finish();
    }
}

fn rotate_master(c: &mut Criterion) {
    let sizes: Vec<u64> = std::env::var("TKMS_TDE_ROTATE_GIB")
        .unwrap_or_else(|_| "1".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("TKMS_TDE_ROTATE_GIB: comma-separated GiB counts")
        })
        .collect();
    let (kms, cmk) = kms();
    let mut g = c.benchmark_group("tde_rotate_master");
    g.sample_size(20);
    for gib in sizes {
        let scratch = Scratch::new(&format!("rotate-{gib}"));
        instance_with_table(&scratch, &kms, &cmk, Suite::Aes256Gcm, gib * 65536);
        let mut instance = Instance::open(&scratch.0, &kms).unwrap();
        g.bench_with_input(
            BenchmarkId::new("one_tablespace", format!("{gib}GiB")),
            &gib,
            |b, _| {
                b.iter(|| {
                    let report = instance.rotate_master(&kms).unwrap();
                    assert_eq!(report.pages_untouched, gib * 65536);
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, pages, rotate_master);
criterion_main!(benches);
