//! The async streams against the blocking ones: seals and opens S MiB through `Encryptor` /
//! `Decryptor` and through `AsyncEncryptor` / `AsyncDecryptor` (on a 2-worker tokio runtime),
//! alternating, and prints the median of each and their ratio (docs/performance.md).
//!
//! ```text
//! cargo run --release -p kms-core --features tokio --example async_streams -- 1 64
//! ```
//! Arguments: sizes in MiB (default 1 64); `ROUNDS` (default 7) runs per mode and size. The
//! data key is wrapped by a local test-only RSA key, so no KMS call is timed.

// A benchmark: any failure is a bug to see at once.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_core::wrap::KeyWrapper;
use kms_core::wrap::local::LocalWrapper;
use kms_core::{AsyncDecryptor, AsyncEncryptor, Decryptor, EncryptOptions, Encryptor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 256 * 1024;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn blocking_seal(key: &Arc<dyn KeyWrapper>, data: &[u8]) -> Vec<u8> {
    let mut w = Encryptor::new(Vec::new(), &[&**key], &EncryptOptions::default()).unwrap();
    for part in data.chunks(CHUNK) {
        w.write_all(part).unwrap();
    }
    w.finish().unwrap()
}

fn blocking_open(key: &Arc<dyn KeyWrapper>, sealed: &[u8], out: &mut Vec<u8>) {
    let ctx = EncryptOptions::default().context;
    let mut r = Decryptor::new(sealed, &[&**key], &ctx).unwrap();
    out.clear();
    r.read_to_end(out).unwrap();
}

async fn async_seal(key: &Arc<dyn KeyWrapper>, data: &[u8]) -> Vec<u8> {
    let keys = std::slice::from_ref(key);
    let mut w = AsyncEncryptor::new(Vec::new(), keys, &EncryptOptions::default())
        .await
        .unwrap();
    for part in data.chunks(CHUNK) {
        w.write_all(part).await.unwrap();
    }
    w.finish().await.unwrap()
}

async fn async_open(key: &Arc<dyn KeyWrapper>, sealed: &[u8], out: &mut Vec<u8>) {
    let ctx = EncryptOptions::default().context;
    let mut r = AsyncDecryptor::new(sealed, std::slice::from_ref(key), &ctx)
        .await
        .unwrap();
    out.clear();
    r.read_to_end(out).await.unwrap();
}

fn main() {
    let pem = include_bytes!("../../cli/tests/data/test-only-rsa.key.pem");
    let key: Arc<dyn KeyWrapper> = Arc::new(LocalWrapper::from_private_key(pem).unwrap());
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("sizes in MiB"))
        .collect();
    let sizes = if sizes.is_empty() { vec![1, 64] } else { sizes };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for mib in sizes {
        let data: Vec<u8> = (0..mib << 20).map(|i| (i % 251) as u8).collect();
        let mut opened = Vec::with_capacity(data.len());
        let [mut bs, mut bo, mut as_, mut ao] = [(); 4].map(|()| Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            let sealed = blocking_seal(&key, &data);
            bs.push(t.elapsed());
            let t = Instant::now();
            blocking_open(&key, &sealed, &mut opened);
            bo.push(t.elapsed());
            assert!(opened == data);
            let t = Instant::now();
            let sealed = rt.block_on(async_seal(&key, &data));
            as_.push(t.elapsed());
            let t = Instant::now();
            rt.block_on(async_open(&key, &sealed, &mut opened));
            ao.push(t.elapsed());
            assert!(opened == data);
        }
        let mbps = |d: Duration| mib as f64 / d.as_secs_f64();
        let (bs, bo, as_, ao) = (median(bs), median(bo), median(as_), median(ao));
        println!(
            "size_mib={mib} rounds={rounds} seal_blocking_ms={:.2} seal_async_ms={:.2} seal_ratio={:.2} \
             open_blocking_ms={:.2} open_async_ms={:.2} open_ratio={:.2} seal_async_mib_s={:.0} open_async_mib_s={:.0}",
            bs.as_secs_f64() * 1e3,
            as_.as_secs_f64() * 1e3,
            as_.as_secs_f64() / bs.as_secs_f64(),
            bo.as_secs_f64() * 1e3,
            ao.as_secs_f64() * 1e3,
            ao.as_secs_f64() / bo.as_secs_f64(),
            mbps(as_),
            mbps(ao),
        );
    }
}
