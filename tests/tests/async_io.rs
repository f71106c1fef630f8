//! AsyncEncryptor as tokio's AsyncWrite and AsyncDecryptor as its AsyncRead: byte-identical
//! envelopes with the blocking streams around frame and batch boundaries, `tokio::io::copy`,
//! no valid message without shutdown, truncation and tampering caught before any
//! unauthenticated byte is released, and sealing that leaves the runtime's worker free.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kms_core::wrap::KeyWrapper;
use kms_core::wrap::local::LocalWrapper;
use kms_core::{AsyncDecryptor, AsyncEncryptor, EncryptOptions, EncryptionContext};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A local RSA key pair (no KMS needed: these tests are about the streams).
fn keys() -> Arc<dyn KeyWrapper> {
    static KEY: std::sync::OnceLock<Arc<dyn KeyWrapper>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let pem = include_str!("../../cli/tests/data/test-only-rsa.key.pem");
        Arc::new(LocalWrapper::from_private_key(pem.as_bytes()).unwrap())
    })
    .clone()
}

fn options(frame_size: u32) -> EncryptOptions {
    EncryptOptions {
        context: EncryptionContext::new().with("stream", "async-io"),
        frame_size,
        ..EncryptOptions::default()
    }
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn seal_async(data: &[u8], frame_size: u32, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = AsyncEncryptor::new(&mut out, &[keys()], &options(frame_size))
        .await
        .unwrap();
    for part in data.chunks(chunk.max(1)) {
        writer.write_all(part).await.unwrap();
    }
    writer.shutdown().await.unwrap();
    drop(writer);
    out
}

async fn open_async(envelope: &[u8], frame_size: u32, chunk: usize) -> std::io::Result<Vec<u8>> {
    let mut reader = AsyncDecryptor::new(envelope, &[keys()], &options(frame_size).context)
        .await
        .map_err(std::io::Error::from)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; chunk.max(1)];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Lengths at, just under and just over frame boundaries (with 64-byte frames a batch is
    /// 32 frames, so batch boundaries are among them), written and read in odd chunks.
    #[test]
    fn async_and_blocking_streams_agree_around_frame_boundaries(
        frames in 0usize..80,
        delta in -1isize..=1,
        frame_size in prop::sample::select(vec![64u32, 1000]),
        write_chunk in 1usize..3000,
        read_chunk in 1usize..3000,
    ) {
        let len = (frames * frame_size as usize).saturating_add_signed(delta);
        let data = plaintext(len);
        let rt = runtime();
        let ctx = options(frame_size).context;

        let sealed = rt.block_on(seal_async(&data, frame_size, write_chunk));
        prop_assert_eq!(kms_core::decrypt(&sealed, &[&*keys()], &ctx).unwrap(), data.clone());
        prop_assert_eq!(rt.block_on(open_async(&sealed, frame_size, read_chunk)).unwrap(), data.clone());

        let blocking = kms_core::encrypt(&data, &[&*keys()], &options(frame_size)).unwrap();
        // Same layout: only the header (fresh message id and data key) differs.
        prop_assert_eq!(blocking.len(), sealed.len());
        prop_assert_eq!(rt.block_on(open_async(&blocking, frame_size, read_chunk)).unwrap(), data);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_io_copy_into_an_encryptor_and_out_of_a_decryptor() {
    let data = plaintext(5 * 1024 * 1024 + 17);
    let mut writer = AsyncEncryptor::new(Vec::new(), &[keys()], &options(4096))
        .await
        .unwrap();
    let copied = tokio::io::copy(&mut &data[..], &mut writer).await.unwrap();
    assert_eq!(copied, data.len() as u64);
    let sealed = writer.finish().await.unwrap();
    let ctx = options(4096).context;
    assert_eq!(kms_core::decrypt(&sealed, &[&*keys()], &ctx).unwrap(), data);

    let mut reader = AsyncDecryptor::new(&sealed[..], &[keys()], &ctx)
        .await
        .unwrap();
    let mut opened = Vec::new();
    tokio::io::copy(&mut reader, &mut opened).await.unwrap();
    assert_eq!(opened, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_without_shutdown_leaves_no_valid_message() {
    let ctx = options(4096).context;
    for len in [0, 100, 3 * 1024 * 1024] {
        let mut out = Vec::new();
        let mut writer = AsyncEncryptor::new(&mut out, &[keys()], &options(4096))
            .await
            .unwrap();
        writer.write_all(&plaintext(len)).await.unwrap();
        // Flushing writes every sealed frame, but never a final one.
        writer.flush().await.unwrap();
        drop(writer);
        assert!(!out.is_empty(), "the header was written");
        assert!(kms_core::decrypt(&out, &[&*keys()], &ctx).is_err());
        let released = open_async(&out, 4096, 65536).await;
        assert!(
            released.is_err(),
            "len {len}: a message without its final frame opened"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_after_shutdown_fails() {
    let mut writer = AsyncEncryptor::new(Vec::new(), &[keys()], &options(4096))
        .await
        .unwrap();
    writer.write_all(b"once").await.unwrap();
    writer.shutdown().await.unwrap();
    assert!(writer.write_all(b"twice").await.is_err());
}

/// Reads `envelope` in small pieces; returns what was released and the error that ended it.
async fn released_before_error(envelope: &[u8]) -> (Vec<u8>, Option<std::io::Error>) {
    let mut reader = match AsyncDecryptor::new(envelope, &[keys()], &options(4096).context).await {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e.into())),
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 10_000];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(e)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_or_tampered_input_releases_only_authenticated_frames() {
    let data = plaintext(3 * 1024 * 1024 + 5000);
    let sealed = seal_async(&data, 4096, 1 << 20).await;
    let (_, header_len) = kms_core::parse_header(&sealed).unwrap();
    let slot = 4096 + 16;
    let frames = data.len().div_ceil(4096);
    // Cut inside the header, at a frame boundary (the final frame missing), inside a frame,
    // one byte short, and just after a whole batch.
    let cuts = [
        header_len / 2,
        header_len,
        header_len + (frames - 1) * slot,
        header_len + 700 * slot + 33,
        sealed.len() - 1,
        header_len + 512 * slot,
    ];
    for cut in cuts {
        let (released, err) = released_before_error(&sealed[..cut]).await;
        assert!(err.is_some(), "a message cut at {cut} read to its end");
        assert_eq!(
            released.len() % 4096,
            0,
            "cut at {cut}: a partial frame came out"
        );
        assert_eq!(released, data[..released.len()]);
        assert!(released.len() < data.len());
    }
    // A flipped bit in frame 300: frames 0..300 at most, never anything after.
    let mut tampered = sealed.clone();
    tampered[header_len + 300 * slot + 99] ^= 4;
    let (released, err) = released_before_error(&tampered).await;
    assert!(err.unwrap().to_string().contains("decrypt"));
    assert!(released.len() <= 300 * 4096);
    assert_eq!(released, data[..released.len()]);
}

#[test]
fn sealing_a_large_stream_leaves_the_worker_free() {
    // One worker thread: a task that counts while the seal is in progress only gets to run
    // if the batches are sealed elsewhere (inline sealing into a Vec never yields).
    let rt = runtime();
    let ticks = Arc::new(AtomicU64::new(0));
    let sealing = Arc::new(AtomicBool::new(true));
    let data = plaintext(64 * 1024 * 1024);
    let sealed = rt.block_on(async {
        let ticker = {
            let (ticks, sealing) = (ticks.clone(), sealing.clone());
            tokio::spawn(async move {
                while sealing.load(Ordering::Relaxed) {
                    ticks.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            })
        };
        // The data key is made on the blocking pool too; count only the writes and shutdown.
        let mut writer = AsyncEncryptor::new(Vec::new(), &[keys()], &options(65536))
            .await
            .unwrap();
        let before = ticks.load(Ordering::Relaxed);
        for part in data.chunks(1 << 20) {
            writer.write_all(part).await.unwrap();
        }
        writer.shutdown().await.unwrap();
        let during = ticks.load(Ordering::Relaxed) - before;
        let sealed = writer.finish().await.unwrap();
        sealing.store(false, Ordering::Relaxed);
        ticker.await.unwrap();
        // 32 batches of 2 MiB: the writer waits for at least some of them.
        assert!(
            during > 0,
            "the ticking task never ran during a 64 MiB seal"
        );
        sealed
    });
    let ctx = options(65536).context;
    assert_eq!(kms_core::decrypt(&sealed, &[&*keys()], &ctx).unwrap(), data);
}
