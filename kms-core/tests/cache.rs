//! The data-key cache (docs/caching.md) against a key holder that records every call:
//! everything sealed through the cache opens with and without the opening cache, no data key
//! is used past its limits (time driven by a ManualClock), and the counters match the calls.

#![allow(clippy::unwrap_used)] // in tests an unwrap is an assertion

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kms_core::cache::{CacheLimits, DataKeyCache, LimitError, ManualClock};
use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use kms_core::{
    DataKey, DecryptError, EncryptError, EncryptOptions, EncryptionContext, Suite, WrapError,
};
use proptest::prelude::*;

/// A KMS stand-in: `generate` makes a data key and names it by a serial number (the wrapped
/// key); `unwrap` looks the serial up. Both count their calls.
#[derive(Default)]
struct RecordingKms {
    keys: Mutex<HashMap<Vec<u8>, [u8; 32]>>,
    generate_calls: AtomicU64,
    unwrap_calls: AtomicU64,
}

impl RecordingKms {
    fn generated(&self) -> u64 {
        self.generate_calls.load(Ordering::SeqCst)
    }
    fn unwrapped(&self) -> u64 {
        self.unwrap_calls.load(Ordering::SeqCst)
    }
}

impl KeyWrapper for RecordingKms {
    fn wrap(&self, _: &DataKey, _: &EncryptionContext) -> Result<WrappedKey, WrapError> {
        Err(WrapError::Unsupported("generate only"))
    }

    fn unwrap(
        &self,
        wrapped: &WrappedKey,
        _: &EncryptionContext,
    ) -> Result<Option<DataKey>, WrapError> {
        self.unwrap_calls.fetch_add(1, Ordering::SeqCst);
        let keys = self.keys.lock().unwrap();
        let key = keys.get(&wrapped.ciphertext).ok_or(WrapError::Crypto)?;
        Ok(DataKey::from_slice(key))
    }

    fn generate(&self, _: &EncryptionContext) -> Result<Option<(DataKey, WrappedKey)>, WrapError> {
        let serial = self.generate_calls.fetch_add(1, Ordering::SeqCst);
        let key = DataKey::generate();
        let name = serial.to_be_bytes().to_vec();
        self.keys
            .lock()
            .unwrap()
            .insert(name.clone(), *key.expose_secret());
        let wrapped = WrappedKey {
            method: WrapMethod::KmsSymmetric,
            key_ref: self.key_ref(),
            ciphertext: name,
        };
        Ok(Some((key, wrapped)))
    }

    fn key_ref(&self) -> KeyRef {
        KeyRef::Kms {
            key_id: "recording".into(),
        }
    }
}

fn options(context: usize, suite: Suite) -> EncryptOptions {
    EncryptOptions {
        suite,
        context: EncryptionContext::new().with("tenant", context.to_string()),
        frame_size: 64,
    }
}

/// How one data key (named by its wrapped key) was used.
#[derive(Default)]
struct Use {
    first: Option<Duration>,
    last: Duration,
    messages: u64,
    bytes: u64,
}

#[derive(Clone, Debug)]
enum Step {
    Seal {
        len: usize,
        context: usize,
        sm4: bool,
    },
    Wait(Duration),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..700, 0usize..3, any::<bool>())
            .prop_map(|(len, context, sm4)| Step::Seal { len, context, sm4 }),
        1 => (0u64..40_000).prop_map(|ms| Step::Wait(Duration::from_millis(ms))),
    ]
}

fn limits() -> impl Strategy<Value = CacheLimits> {
    (1u64..90, 1u64..6, 1u64..3000, 1usize..4).prop_map(|(secs, messages, bytes, capacity)| {
        CacheLimits {
            max_age: Duration::from_secs(secs),
            max_messages: messages,
            max_bytes: bytes,
            capacity,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_data_key_outlives_its_limits_and_every_message_opens(
        limits in limits(),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let kms = RecordingKms::default();
        let clock = Arc::new(ManualClock::new());
        let cache = DataKeyCache::with_clock(limits, clock.clone()).unwrap();
        let mut now = Duration::ZERO;
        let mut sealed = Vec::new();
        let mut uses: HashMap<Vec<u8>, Use> = HashMap::new();
        for step in &steps {
            match step {
                Step::Wait(by) => {
                    clock.advance(*by);
                    now += *by;
                }
                Step::Seal { len, context, sm4 } => {
                    let suite = if *sm4 { Suite::Sm4Gcm } else { Suite::Aes256Gcm };
                    let options = options(*context, suite);
                    let plaintext = vec![(*len % 251) as u8; *len];
                    let envelope = cache.encrypt(&plaintext, &[&kms], &options).unwrap();
                    let (header, _) = kms_core::parse_header(&envelope).unwrap();
                    let entry = uses.entry(header.wrapped_keys[0].ciphertext.clone()).or_default();
                    entry.first.get_or_insert(now);
                    entry.last = now;
                    entry.messages += 1;
                    entry.bytes += *len as u64;
                    sealed.push((envelope, plaintext, options.context));
                }
            }
        }
        for u in uses.values() {
            prop_assert!(u.last - u.first.unwrap() < limits.max_age);
            prop_assert!(u.messages <= limits.max_messages);
            // Only a message longer than max_bytes on its own has a data key past it.
            prop_assert!(u.messages == 1 || u.bytes <= limits.max_bytes);
        }
        // Counters: one generate call per data key seen, one hit per other message.
        let stats = cache.stats();
        prop_assert_eq!(kms.generated(), uses.len() as u64);
        prop_assert_eq!(stats.data_keys_generated, kms.generated());
        prop_assert_eq!(stats.seal_misses, kms.generated());
        prop_assert_eq!(stats.seal_hits + stats.seal_misses, sealed.len() as u64);

        let mut message_ids = std::collections::HashSet::new();
        for (envelope, plaintext, context) in &sealed {
            prop_assert!(message_ids.insert(kms_core::parse_header(envelope).unwrap().0.message_id));
            prop_assert_eq!(&kms_core::decrypt(envelope, &[&kms], context).unwrap(), plaintext);
        }
        let uncached_unwraps = kms.unwrapped();
        // Grouped by data key, so opening needs each key once whatever the capacity.
        sealed.sort_by_key(|(envelope, _, _)| {
            kms_core::parse_header(envelope).unwrap().0.wrapped_keys[0].ciphertext.clone()
        });
        prop_assert_eq!(uncached_unwraps, sealed.len() as u64);
        // Opening through the cache: one unwrap per data key (no time passes).
        for (envelope, plaintext, context) in &sealed {
            prop_assert_eq!(&cache.decrypt(envelope, &[&kms], context).unwrap(), plaintext);
        }
        let stats = cache.stats();
        prop_assert_eq!(kms.unwrapped() - uncached_unwraps, uses.len() as u64);
        prop_assert_eq!(stats.data_keys_unwrapped, uses.len() as u64);
        prop_assert_eq!(stats.open_misses, uses.len() as u64);
        prop_assert_eq!(stats.open_hits + stats.open_misses, sealed.len() as u64);
        // Past max_age every opening entry is stale: each data key is unwrapped again.
        clock.advance(limits.max_age);
        for (envelope, plaintext, context) in &sealed {
            prop_assert_eq!(&cache.decrypt(envelope, &[&kms], context).unwrap(), plaintext);
        }
        prop_assert_eq!(cache.stats().data_keys_unwrapped, 2 * uses.len() as u64);
    }
}

#[test]
fn a_stream_opens_through_the_cache_and_shares_its_key() {
    let kms = RecordingKms::default();
    let cache = DataKeyCache::new(CacheLimits::default()).unwrap();
    let options = options(0, Suite::Aes256Gcm);
    let plaintext = vec![9u8; 10_000];
    let a = cache.encrypt(&plaintext, &[&kms], &options).unwrap();
    let b = cache.encrypt(&plaintext, &[&kms], &options).unwrap();
    assert_eq!(kms.generated(), 1);
    for envelope in [&a, &b] {
        let mut out = Vec::new();
        let mut reader = cache
            .decryptor(&envelope[..], &[&kms], &options.context)
            .unwrap();
        std::io::Read::read_to_end(&mut reader, &mut out).unwrap();
        assert_eq!(out, plaintext);
    }
    assert_eq!(kms.unwrapped(), 1);
    // A wrong context never reaches the cache or the KMS.
    let other = EncryptionContext::new().with("tenant", "x");
    assert!(matches!(
        cache.decrypt(&a, &[&kms], &other),
        Err(DecryptError::ContextMismatch)
    ));
    assert_eq!(kms.unwrapped(), 1);
}

#[test]
fn a_tampered_message_fails_and_is_not_cached() {
    let kms = RecordingKms::default();
    let cache = DataKeyCache::new(CacheLimits::default()).unwrap();
    let options = options(0, Suite::Sm4Gcm);
    let envelope = cache.encrypt(b"record", &[&kms], &options).unwrap();
    let mut tampered = envelope.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(
        cache.decrypt(&tampered, &[&kms], &options.context),
        Err(DecryptError::DecryptionFailed)
    ));
    // The header itself was sound, so its key is cached; the body still must authenticate.
    assert_eq!(
        cache.decrypt(&envelope, &[&kms], &options.context).unwrap(),
        b"record"
    );
    // A header whose tag does not verify leaves nothing behind.
    let cache = DataKeyCache::new(CacheLimits::default()).unwrap();
    let mut bad_header = envelope.clone();
    let (_, header_len) = kms_core::parse_header(&envelope).unwrap();
    // The last header byte is part of its tag.
    bad_header[header_len - 1] ^= 1;
    assert!(
        cache
            .decrypt(&bad_header, &[&kms], &options.context)
            .is_err()
    );
    assert_eq!(cache.stats().entries, 0);
}

#[test]
fn limits_are_checked_at_construction() {
    let too_old = CacheLimits {
        max_age: Duration::from_secs(7200),
        ..CacheLimits::default()
    };
    assert_eq!(
        DataKeyCache::new(too_old).unwrap_err(),
        LimitError::AboveCeiling("max_age")
    );
    let no_capacity = CacheLimits {
        capacity: 0,
        ..CacheLimits::default()
    };
    assert_eq!(
        DataKeyCache::new(no_capacity).unwrap_err(),
        LimitError::Zero("capacity")
    );
}

#[test]
fn a_refused_message_spends_no_data_key() {
    let kms = RecordingKms::default();
    let cache = DataKeyCache::new(CacheLimits::default()).unwrap();
    let bad = EncryptOptions {
        frame_size: 1,
        ..options(0, Suite::Aes256Gcm)
    };
    assert!(matches!(
        cache.encrypt(b"x", &[&kms], &bad),
        Err(EncryptError::Format(_))
    ));
    assert!(matches!(
        cache.encrypt(b"x", &[], &options(0, Suite::Aes256Gcm)),
        Err(EncryptError::NoRecipients)
    ));
    assert_eq!(kms.generated(), 0);
}

#[test]
fn a_cached_stream_is_charged_its_declared_length_and_held_to_it() {
    use std::io::Write as _;
    let kms = RecordingKms::default();
    let limits = CacheLimits {
        max_bytes: 1000,
        ..CacheLimits::default()
    };
    let cache = DataKeyCache::new(limits).unwrap();
    let options = options(0, Suite::Aes256Gcm);
    let mut sealed = Vec::new();
    for len in [400, 600] {
        let mut writer = cache.encryptor(Vec::new(), &[&kms], &options, len).unwrap();
        writer.write_all(&vec![1u8; len as usize]).unwrap();
        sealed.push(writer.finish().unwrap());
    }
    // 400 + 600 declared bytes fill one entry; the next stream needs a new data key.
    assert_eq!(kms.generated(), 1);
    let mut writer = cache.encryptor(Vec::new(), &[&kms], &options, 10).unwrap();
    assert_eq!(kms.generated(), 2);
    writer.write_all(&[2u8; 10]).unwrap();
    assert!(
        writer.write_all(&[2u8]).is_err(),
        "past the declared length"
    );
    assert!(writer.finish().is_err(), "the envelope is unusable");
    for (envelope, len) in sealed.iter().zip([400, 600]) {
        assert_eq!(
            kms_core::decrypt(envelope, &[&kms], &options.context).unwrap(),
            vec![1u8; len]
        );
    }
}

#[test]
fn threads_sharing_the_cache_use_every_data_key_to_its_limit() {
    let kms = RecordingKms::default();
    let limits = CacheLimits {
        max_messages: 100,
        ..CacheLimits::default()
    };
    let cache = DataKeyCache::new(limits).unwrap();
    let options = options(0, Suite::Aes256Gcm);
    let sealed: Vec<Vec<Vec<u8>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..1000)
                        .map(|_| cache.encrypt(b"record", &[&kms], &options).unwrap())
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    // Misses wait for one another: 4000 messages, 100 per data key, 40 keys.
    assert_eq!(kms.generated(), 40);
    let stats = cache.stats();
    assert_eq!((stats.seal_misses, stats.seal_hits), (40, 3960));
    let mut per_key: HashMap<Vec<u8>, u64> = HashMap::new();
    for envelope in sealed.iter().flatten() {
        let (header, _) = kms_core::parse_header(envelope).unwrap();
        *per_key
            .entry(header.wrapped_keys[0].ciphertext.clone())
            .or_default() += 1;
    }
    assert!(per_key.values().all(|&n| n == 100), "{per_key:?}");
}
