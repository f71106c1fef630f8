//! A data-key cache for services that seal and open many small messages: one KMS call per
//! data key instead of one per message, within limits the caller sets (docs/caching.md).
//!
//! [`DataKeyCache::encrypt`] reuses a data key for messages sealed for the same wrapping keys,
//! encryption context and suite while it is younger than `max_age` and has sealed fewer than
//! `max_messages` messages and `max_bytes` bytes. Every message still gets its own random
//! message id, so its content key, header key and commitment are its own.
//! [`DataKeyCache::decrypt`] and [`DataKeyCache::decryptor`] keep unwrapped data keys, keyed by
//! the wrapped keys and the context, for `max_age`: a batch of records sealed under one cached
//! data key costs one unwrap (Decrypt) call.
//!
//! The cache is `Send + Sync`: share one `Arc<DataKeyCache>` across threads and tasks. Keep one
//! cache per caller identity: a key unwrapped for one caller is served to every caller that
//! asks the same cache.

mod clock;
mod limits;
mod lru;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use limits::{CacheLimits, LimitError};
use lru::Lru;

use crate::aead::Cipher;
use crate::context::EncryptionContext;
use crate::error::{DecryptError, EncryptError};
use crate::format::{Header, VersionedHeader, read_versioned};
use crate::message::{
    EncryptOptions, check_seal_options, new_data_key, open_header_with, open_message, seal_message,
    unwrap_data_key, write_header,
};
use crate::secret::DataKey;
use crate::stream::{Decryptor, Encryptor};
use crate::suite::Suite;
use crate::wrap::{KeyRef, KeyWrapper, WrappedKey};

/// What a sealing entry is for: the same wrapping keys, context and suite.
#[derive(Clone, PartialEq, Eq, Hash)]
struct SealKey {
    wrappers: Vec<KeyRef>,
    context: EncryptionContext,
    suite: Suite,
}

/// A data key in use for sealing. The key is zeroized when the last `Arc` drops: when the
/// entry leaves the cache and the messages being sealed with it have their headers.
struct SealEntry {
    data_key: Arc<DataKey>,
    wrapped_keys: Arc<[WrappedKey]>,
    created: Duration,
    messages: u64,
    bytes: u64,
}

/// What an opening entry is for: the same wrapped keys, context and unwrapping keys.
#[derive(Clone, PartialEq, Eq, Hash)]
struct OpenKey {
    wrapped_keys: Vec<WrappedKey>,
    context: EncryptionContext,
    unwrappers: Vec<KeyRef>,
}

struct OpenEntry {
    data_key: Arc<DataKey>,
    created: Duration,
}

/// The cache's counters at one moment, for an application to export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Messages sealed under a cached data key.
    pub seal_hits: u64,
    /// Messages that needed a new data key.
    pub seal_misses: u64,
    /// Messages opened with a cached data key.
    pub open_hits: u64,
    /// Messages whose data key had to be unwrapped.
    pub open_misses: u64,
    /// New data keys: one `generate` of the first wrapper (GenerateDataKey, for a symmetric
    /// KMS CMK) plus one `wrap` per further wrapper.
    pub data_keys_generated: u64,
    /// Data keys unwrapped (one Decrypt call each, for a symmetric KMS CMK).
    pub data_keys_unwrapped: u64,
    /// Entries dropped (and zeroized): expired, used up, evicted or replaced.
    pub entries_dropped: u64,
    /// Entries held now, sealing and opening together.
    pub entries: u64,
}

#[derive(Default)]
struct Counters {
    seal_hits: AtomicU64,
    seal_misses: AtomicU64,
    open_hits: AtomicU64,
    open_misses: AtomicU64,
    data_keys_generated: AtomicU64,
    data_keys_unwrapped: AtomicU64,
    entries_dropped: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // An entry is replaced whole under the lock, so a panic elsewhere leaves nothing half-done.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A thread-safe data-key cache for sealing and opening (module docs).
pub struct DataKeyCache {
    limits: CacheLimits,
    clock: Arc<dyn Clock>,
    sealing: Mutex<Lru<SealKey, SealEntry>>,
    opening: Mutex<Lru<OpenKey, OpenEntry>>,
    /// Held while a sealing miss fetches a data key, so threads that miss together make one
    /// KMS call, not one each (the request limits this cache exists for).
    sealing_refill: Mutex<()>,
    /// The same for opening misses.
    opening_refill: Mutex<()>,
    counters: Counters,
}

impl core::fmt::Debug for DataKeyCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DataKeyCache")
            .field("limits", &self.limits)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl DataKeyCache {
    /// A cache with these limits, on the system's monotonic clock.
    pub fn new(limits: CacheLimits) -> Result<Self, LimitError> {
        Self::with_clock(limits, Arc::new(MonotonicClock::new()))
    }

    /// A cache with these limits on `clock` (a [`ManualClock`] in tests).
    pub fn with_clock(limits: CacheLimits, clock: Arc<dyn Clock>) -> Result<Self, LimitError> {
        limits.check()?;
        Ok(Self {
            limits,
            clock,
            sealing: Mutex::new(Lru::new(limits.capacity)),
            opening: Mutex::new(Lru::new(limits.capacity)),
            sealing_refill: Mutex::new(()),
            opening_refill: Mutex::new(()),
            counters: Counters::default(),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> &CacheLimits {
        &self.limits
    }

    /// The counters now.
    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CacheStats {
            seal_hits: get(&c.seal_hits),
            seal_misses: get(&c.seal_misses),
            open_hits: get(&c.open_hits),
            open_misses: get(&c.open_misses),
            data_keys_generated: get(&c.data_keys_generated),
            data_keys_unwrapped: get(&c.data_keys_unwrapped),
            entries_dropped: get(&c.entries_dropped),
            entries: (lock(&self.sealing).len() + lock(&self.opening).len()) as u64,
        }
    }

    /// Drops (and zeroizes) every entry past its age. Expired entries are never used; without
    /// this call they leave at the next miss.
    pub fn purge_expired(&self) {
        let now = self.clock.now();
        let max_age = self.limits.max_age;
        let dropped = lock(&self.sealing).retain(|e| now.saturating_sub(e.created) < max_age)
            + lock(&self.opening).retain(|e| now.saturating_sub(e.created) < max_age);
        bump(&self.counters.entries_dropped, dropped);
    }

    /// Drops (and zeroizes) every entry.
    pub fn clear(&self) {
        let dropped = lock(&self.sealing).clear() + lock(&self.opening).clear();
        bump(&self.counters.entries_dropped, dropped);
    }

    /// [`crate::encrypt`] with the data key from this cache.
    pub fn encrypt(
        &self,
        plaintext: &[u8],
        wrappers: &[&dyn KeyWrapper],
        options: &EncryptOptions,
    ) -> Result<Vec<u8>, EncryptError> {
        seal_message(plaintext, options, || {
            self.seal_header(wrappers, options, plaintext.len() as u64)
        })
    }

    /// [`crate::decrypt`] with the data key from this cache.
    pub fn decrypt(
        &self,
        envelope: &[u8],
        unwrappers: &[&dyn KeyWrapper],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, DecryptError> {
        open_message(envelope, |parsed| {
            self.open_header(parsed, unwrappers, context)
        })
    }

    /// [`Encryptor::new`] with the data key from this cache, for a message of exactly
    /// `plaintext_len` bytes at most: the entry is charged that length up front (its
    /// `max_bytes` must hold), and writing more fails.
    pub fn encryptor<W: Write>(
        &self,
        out: W,
        wrappers: &[&dyn KeyWrapper],
        options: &EncryptOptions,
        plaintext_len: u64,
    ) -> Result<Encryptor<W>, EncryptError> {
        let (header, cipher) = self.seal_header(wrappers, options, plaintext_len)?;
        Encryptor::sealed(
            out,
            &header,
            cipher,
            options.frame_size,
            Some(plaintext_len),
        )
    }

    /// [`Decryptor::new`] with the data key from this cache.
    pub fn decryptor<R: Read>(
        &self,
        mut input: R,
        unwrappers: &[&dyn KeyWrapper],
        context: &EncryptionContext,
    ) -> Result<Decryptor<R>, DecryptError> {
        let parsed = read_versioned(&mut input)?;
        let (header, cipher) = self.open_header(parsed, unwrappers, context)?;
        Ok(Decryptor::opened(input, header, cipher))
    }

    /// The header of a new message of `len` plaintext bytes, under a cached data key when one
    /// is within its limits.
    pub(crate) fn seal_header(
        &self,
        wrappers: &[&dyn KeyWrapper],
        options: &EncryptOptions,
        len: u64,
    ) -> Result<(Vec<u8>, Cipher), EncryptError> {
        check_seal_options(options)?;
        let key = SealKey {
            wrappers: wrappers.iter().map(|w| w.key_ref()).collect(),
            context: options.context.clone(),
            suite: options.suite,
        };
        let found = match self.reuse_for_seal(&key, len) {
            Some(found) => found,
            None => {
                let _refill = lock(&self.sealing_refill);
                // Another thread may have refilled the entry while this one waited.
                match self.reuse_for_seal(&key, len) {
                    Some(found) => found,
                    None => self.new_for_seal(key, wrappers, len)?,
                }
            }
        };
        let (data_key, wrapped_keys) = found;
        write_header(options, &data_key, &wrapped_keys)
    }

    /// The cached data key for `key`, counted as used for one more message of `len` bytes, if
    /// that keeps it within every limit. An entry past a limit leaves the cache.
    fn reuse_for_seal(&self, key: &SealKey, len: u64) -> Option<(Arc<DataKey>, Arc<[WrappedKey]>)> {
        let now = self.clock.now();
        let limits = &self.limits;
        let mut sealing = lock(&self.sealing);
        let entry = sealing.get_mut(key)?;
        let usable = now.saturating_sub(entry.created) < limits.max_age
            && entry.messages < limits.max_messages
            && entry.bytes.saturating_add(len) <= limits.max_bytes;
        if !usable {
            sealing.remove(key);
            bump(&self.counters.entries_dropped, 1);
            return None;
        }
        entry.messages += 1;
        entry.bytes += len;
        let found = (Arc::clone(&entry.data_key), Arc::clone(&entry.wrapped_keys));
        // Used up: gone now rather than at the next miss.
        if entry.messages == limits.max_messages || entry.bytes == limits.max_bytes {
            sealing.remove(key);
            bump(&self.counters.entries_dropped, 1);
        }
        bump(&self.counters.seal_hits, 1);
        Some(found)
    }

    /// A new data key for one message of `len` bytes, cached for the next ones unless this
    /// message alone reaches a limit.
    fn new_for_seal(
        &self,
        key: SealKey,
        wrappers: &[&dyn KeyWrapper],
        len: u64,
    ) -> Result<(Arc<DataKey>, Arc<[WrappedKey]>), EncryptError> {
        bump(&self.counters.seal_misses, 1);
        // The key's age counts from before it exists, never from after.
        let created = self.clock.now();
        // The KMS call runs outside the entries' lock: cached keys stay usable meanwhile.
        let (data_key, wrapped_keys) = new_data_key(wrappers, &key.context)?;
        bump(&self.counters.data_keys_generated, 1);
        let data_key = Arc::new(data_key);
        let wrapped_keys: Arc<[WrappedKey]> = wrapped_keys.into();
        let limits = &self.limits;
        if limits.max_messages > 1 && len < limits.max_bytes {
            let entry = SealEntry {
                data_key: Arc::clone(&data_key),
                wrapped_keys: Arc::clone(&wrapped_keys),
                created,
                messages: 1,
                bytes: len,
            };
            self.purge_expired();
            let dropped = lock(&self.sealing).insert(key, entry);
            bump(&self.counters.entries_dropped, dropped);
        }
        Ok((data_key, wrapped_keys))
    }

    /// Authenticates `parsed` with a cached data key, or unwraps one and caches it once the
    /// header authenticated under it.
    pub(crate) fn open_header(
        &self,
        parsed: VersionedHeader,
        unwrappers: &[&dyn KeyWrapper],
        context: &EncryptionContext,
    ) -> Result<(Header, Cipher), DecryptError> {
        // Age counts from before the unwrap, as for sealing.
        let created = self.clock.now();
        let mut missed: Option<OpenKey> = None;
        // Held from a miss until its key is cached (or the header failed).
        let mut refill = None;
        let (header, cipher, data_key) = open_header_with(parsed, context, |header| {
            let key = OpenKey {
                wrapped_keys: header.wrapped_keys.clone(),
                context: header.context.clone(),
                unwrappers: unwrappers.iter().map(|w| w.key_ref()).collect(),
            };
            if let Some(data_key) = self.reuse_for_open(&key) {
                return Ok(data_key);
            }
            refill = Some(lock(&self.opening_refill));
            if let Some(data_key) = self.reuse_for_open(&key) {
                return Ok(data_key);
            }
            bump(&self.counters.open_misses, 1);
            let data_key = unwrap_data_key(header, unwrappers)?;
            bump(&self.counters.data_keys_unwrapped, 1);
            missed = Some(key);
            Ok(Arc::new(data_key))
        })?;
        if let Some(key) = missed {
            let entry = OpenEntry { data_key, created };
            self.purge_expired();
            let dropped = lock(&self.opening).insert(key, entry);
            bump(&self.counters.entries_dropped, dropped);
        }
        drop(refill);
        Ok((header, cipher))
    }

    fn reuse_for_open(&self, key: &OpenKey) -> Option<Arc<DataKey>> {
        let now = self.clock.now();
        let mut opening = lock(&self.opening);
        let entry = opening.get_mut(key)?;
        if now.saturating_sub(entry.created) >= self.limits.max_age {
            opening.remove(key);
            bump(&self.counters.entries_dropped, 1);
            return None;
        }
        bump(&self.counters.open_hits, 1);
        Some(Arc::clone(&entry.data_key))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Weak;

    use super::*;
    use crate::error::WrapError;

    /// Wraps by naming nothing: enough to seal; these tests never open.
    struct Plain;

    impl KeyWrapper for Plain {
        fn wrap(&self, _: &DataKey, _: &EncryptionContext) -> Result<WrappedKey, WrapError> {
            Ok(WrappedKey {
                method: crate::wrap::WrapMethod::KmsSymmetric,
                key_ref: self.key_ref(),
                ciphertext: b"opaque".to_vec(),
            })
        }
        fn unwrap(
            &self,
            _: &WrappedKey,
            _: &EncryptionContext,
        ) -> Result<Option<DataKey>, WrapError> {
            Ok(None)
        }
        fn key_ref(&self) -> KeyRef {
            KeyRef::Kms {
                key_id: "plain".into(),
            }
        }
    }

    fn sealing_keys(cache: &DataKeyCache) -> Vec<Weak<DataKey>> {
        let sealing = lock(&cache.sealing);
        let mut keys = Vec::new();
        for context in ["a", "b"] {
            let key = SealKey {
                wrappers: vec![Plain.key_ref()],
                context: EncryptionContext::new().with("c", context),
                suite: Suite::Aes256Gcm,
            };
            // Peek without touching recency.
            if let Some(entry) = sealing.peek(&key) {
                keys.push(Arc::downgrade(&entry.data_key));
            }
        }
        keys
    }

    fn seal(cache: &DataKeyCache, context: &str) {
        let options = EncryptOptions {
            context: EncryptionContext::new().with("c", context),
            ..EncryptOptions::default()
        };
        cache.encrypt(b"m", &[&Plain], &options).unwrap();
    }

    #[test]
    fn keys_are_dropped_when_they_expire_are_evicted_or_are_used_up() {
        let clock = Arc::new(ManualClock::new());
        let limits = CacheLimits {
            max_age: Duration::from_secs(10),
            max_messages: 3,
            capacity: 1,
            ..CacheLimits::default()
        };
        let cache = DataKeyCache::with_clock(limits, clock.clone()).unwrap();
        seal(&cache, "a");
        let a = sealing_keys(&cache);
        assert_eq!(a.len(), 1);
        // Capacity 1: b evicts a, whose key is dropped (DataKey zeroizes on drop).
        seal(&cache, "b");
        assert!(a[0].upgrade().is_none());
        let b = sealing_keys(&cache);
        // Expired: dropped by purge_expired, not only at the next miss.
        clock.advance(Duration::from_secs(10));
        cache.purge_expired();
        assert!(b[0].upgrade().is_none());
        assert_eq!(cache.stats().entries, 0);
        // Used up: the third message drops the entry at once.
        seal(&cache, "a");
        seal(&cache, "a");
        let a = sealing_keys(&cache);
        seal(&cache, "a");
        assert!(a[0].upgrade().is_none());
        let stats = cache.stats();
        assert_eq!((stats.seal_hits, stats.seal_misses), (2, 3));
        assert_eq!(stats.entries_dropped, 3);
        // clear() drops everything.
        seal(&cache, "b");
        let b = sealing_keys(&cache);
        cache.clear();
        assert!(b[0].upgrade().is_none());
    }
}
