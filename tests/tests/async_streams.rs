//! kms-core's AsyncEncryptor and AsyncDecryptor (feature `tokio`): the same envelopes as the
//! blocking streams, frames released only once they authenticate, the KMS call off the
//! runtime's workers, and the data-key cache with a declared length.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use kms_core::cache::{CacheLimits, DataKeyCache};
use kms_core::kms::KmsTransport;
use kms_core::wrap::kms::{KmsUnwrapper, KmsWrapper};
use kms_core::wrap::{KeyRef, KeyWrapper, WrappedKey};
use kms_core::{
    AsyncDecryptor, AsyncEncryptor, DataKey, EncryptOptions, EncryptionContext, WrapError,
};
use mock_hsm::{Hsm, HsmConfig, InProcess};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn kms() -> (Arc<dyn KeyWrapper>, Arc<dyn KeyWrapper>) {
    let hsm = Arc::new(Hsm::open(HsmConfig::in_memory()).unwrap());
    let transport: Arc<dyn KmsTransport> = Arc::new(InProcess::new(hsm));
    let params = json!({"Alias": "streams", "KeyUsage": "ENCRYPT_DECRYPT"}).to_string();
    transport.call("CreateKey", params.as_bytes()).unwrap();
    let wrapper = KmsWrapper::for_key(transport.clone(), "streams").unwrap();
    (Arc::new(wrapper), Arc::new(KmsUnwrapper::new(transport)))
}

fn options() -> EncryptOptions {
    EncryptOptions {
        context: EncryptionContext::new().with("stream", "async"),
        frame_size: 4096,
        ..EncryptOptions::default()
    }
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

async fn seal(wrapper: &Arc<dyn KeyWrapper>, data: &[u8], chunk: usize) -> Vec<u8> {
    let mut writer = AsyncEncryptor::new(Vec::new(), std::slice::from_ref(wrapper), &options())
        .await
        .unwrap();
    for part in data.chunks(chunk.max(1)) {
        writer.write_all(part).await.unwrap();
    }
    writer.finish().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_and_blocking_streams_read_each_other() {
    let (wrapper, opener) = kms();
    let ctx = options().context;
    // Empty, one frame, and past one 2 MiB batch in odd-sized writes.
    for (len, chunk) in [(0, 1), (100, 7), (5 * 1024 * 1024 + 3, 100_003)] {
        let data = plaintext(len);
        let sealed = seal(&wrapper, &data, chunk).await;
        assert_eq!(kms_core::decrypt(&sealed, &[&*opener], &ctx).unwrap(), data);

        let blocking = kms_core::encrypt(&data, &[&*wrapper], &options()).unwrap();
        let mut reader = AsyncDecryptor::new(
            std::io::Cursor::new(blocking),
            std::slice::from_ref(&opener),
            &ctx,
        )
        .await
        .unwrap();
        assert_eq!(reader.header().frame_size, 4096);
        let mut opened = Vec::new();
        reader.read_to_end(&mut opened).await.unwrap();
        assert_eq!(opened, data);
    }
}

#[tokio::test]
async fn a_bad_frame_releases_only_the_frames_before_it() {
    let (wrapper, opener) = kms();
    let data = plaintext(3 * 1024 * 1024);
    let mut sealed = seal(&wrapper, &data, 65_536).await;
    let (_, header_len) = kms_core::parse_header(&sealed).unwrap();
    // Corrupt frame 600 (of 768): the frames before it come out, nothing after.
    let slot = 4096 + 16;
    sealed[header_len + 600 * slot + 10] ^= 1;
    let mut reader = AsyncDecryptor::new(
        std::io::Cursor::new(sealed),
        std::slice::from_ref(&opener),
        &options().context,
    )
    .await
    .unwrap();
    let mut released = Vec::new();
    let mut buf = vec![0u8; 100_000];
    let err = loop {
        match reader.read(&mut buf).await {
            Ok(0) => panic!("a corrupt message read to its end"),
            Ok(n) => released.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(released, data[..600 * 4096]);
    assert!(err.to_string().contains("decrypt"), "{err}");
    // The failure repeats.
    assert!(reader.read(&mut buf).await.is_err());
}

/// A wrapper whose key holder answers only once another task on the runtime has run.
struct NeedsTheRuntime(std::sync::Mutex<mpsc::Receiver<()>>);

impl KeyWrapper for NeedsTheRuntime {
    fn wrap(&self, _: &DataKey, _: &EncryptionContext) -> Result<WrappedKey, WrapError> {
        self.0
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| WrapError::Unsupported("the runtime was blocked"))?;
        Ok(WrappedKey {
            method: kms_core::wrap::WrapMethod::KmsSymmetric,
            key_ref: self.key_ref(),
            ciphertext: b"k".to_vec(),
        })
    }
    fn unwrap(&self, _: &WrappedKey, _: &EncryptionContext) -> Result<Option<DataKey>, WrapError> {
        Ok(None)
    }
    fn key_ref(&self) -> KeyRef {
        KeyRef::Kms {
            key_id: "slow".into(),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_key_call_does_not_block_the_runtime() {
    // One worker thread: if the wrap ran on it, the task that unblocks the wrap never would.
    let (tx, rx) = mpsc::channel();
    let wrapper: Arc<dyn KeyWrapper> = Arc::new(NeedsTheRuntime(std::sync::Mutex::new(rx)));
    let unblock = tokio::spawn(async move {
        tokio::task::yield_now().await;
        tx.send(()).unwrap();
    });
    let writer = AsyncEncryptor::new(Vec::new(), &[wrapper], &options())
        .await
        .unwrap();
    writer.finish().await.unwrap();
    unblock.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_streams_share_a_data_key_within_the_declared_length() {
    let (wrapper, opener) = kms();
    let cache = Arc::new(
        DataKeyCache::new(CacheLimits {
            max_bytes: 10_000,
            ..CacheLimits::default()
        })
        .unwrap(),
    );
    let mut sealed = Vec::new();
    for _ in 0..3 {
        let mut writer = AsyncEncryptor::with_cache(
            Vec::new(),
            std::slice::from_ref(&wrapper),
            &options(),
            cache.clone(),
            3000,
        )
        .await
        .unwrap();
        writer.write_all(&plaintext(3000)).await.unwrap();
        sealed.push(writer.finish().await.unwrap());
    }
    // 3 × 3000 declared bytes fit one entry's 10 000.
    let stats = cache.stats();
    assert_eq!((stats.seal_misses, stats.seal_hits), (1, 2));
    for envelope in &sealed {
        let mut reader = AsyncDecryptor::with_cache(
            std::io::Cursor::new(envelope.clone()),
            std::slice::from_ref(&opener),
            &options().context,
            cache.clone(),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, plaintext(3000));
    }
    assert_eq!(cache.stats().data_keys_unwrapped, 1);

    // Writing past the declared length fails.
    let mut writer = AsyncEncryptor::with_cache(
        Vec::new(),
        std::slice::from_ref(&wrapper),
        &options(),
        cache.clone(),
        10,
    )
    .await
    .unwrap();
    writer.write_all(&[0u8; 11]).await.unwrap(); // gathered, not sealed yet
    assert!(writer.finish().await.is_err());
}
