//! kms-core's data-key cache against the mock KMS: the cache's counters equal the calls the
//! KMS answered, a disabled or deleted key stops sealing within `max_age`, and `tkms serve`'s
//! audit trail shows one GenerateDataKey and one Decrypt per data key.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kms_core::cache::{CacheLimits, DataKeyCache, ManualClock};
use kms_core::kms::{KmsError, KmsTransport};
use kms_core::wrap::kms::{KmsUnwrapper, KmsWrapper};
use kms_core::{EncryptError, EncryptOptions, EncryptionContext, WrapError};
use mock_hsm::{AuditQuery, Hsm, HsmConfig, InProcess, ResultFilter};
use proptest::prelude::*;
use serde_json::json;
use zeroize::Zeroizing;

#[path = "support/audited_server.rs"]
mod support;

/// The mock in-process, counting the calls it answered successfully, by action.
struct Counting {
    inner: InProcess,
    answered: Mutex<HashMap<String, u64>>,
}

impl Counting {
    fn new() -> Arc<Self> {
        let hsm = Arc::new(Hsm::open(HsmConfig::in_memory()).unwrap());
        Arc::new(Self {
            inner: InProcess::new(hsm),
            answered: Mutex::new(HashMap::new()),
        })
    }

    fn answered(&self, action: &str) -> u64 {
        self.answered
            .lock()
            .unwrap()
            .get(action)
            .copied()
            .unwrap_or(0)
    }
}

impl KmsTransport for Counting {
    fn call(&self, action: &str, params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let answer = self.inner.call(action, params)?;
        *self
            .answered
            .lock()
            .unwrap()
            .entry(action.to_owned())
            .or_default() += 1;
        Ok(answer)
    }
}

fn create_key(kms: &dyn KmsTransport, alias: &str) -> String {
    let params = json!({"Alias": alias, "KeyUsage": "ENCRYPT_DECRYPT"}).to_string();
    let out: serde_json::Value =
        serde_json::from_slice(&kms.call("CreateKey", params.as_bytes()).unwrap()).unwrap();
    out["KeyId"].as_str().unwrap().to_owned()
}

fn context(tenant: usize) -> EncryptionContext {
    EncryptionContext::new().with("tenant", tenant.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn counters_equal_the_calls_the_kms_answered(
        max_messages in 1u64..8,
        records in prop::collection::vec((0usize..3, 0usize..300, any::<bool>()), 1..60),
    ) {
        let kms = Counting::new();
        create_key(&*kms, "records");
        let transport: Arc<dyn KmsTransport> = kms.clone();
        let wrapper = KmsWrapper::for_key(transport.clone(), "records").unwrap();
        let opener = KmsUnwrapper::new(transport);
        let clock = Arc::new(ManualClock::new());
        let limits = CacheLimits { max_messages, ..CacheLimits::default() };
        let cache = DataKeyCache::with_clock(limits, clock.clone()).unwrap();
        let mut sealed = Vec::new();
        for (tenant, len, wait) in &records {
            if *wait {
                clock.advance(Duration::from_secs(20));
            }
            let options = EncryptOptions { context: context(*tenant), ..Default::default() };
            let plaintext = vec![*tenant as u8; *len];
            sealed.push((cache.encrypt(&plaintext, &[&wrapper], &options).unwrap(), plaintext, *tenant));
        }
        let stats = cache.stats();
        prop_assert_eq!(stats.data_keys_generated, kms.answered("GenerateDataKey"));
        prop_assert_eq!(stats.seal_misses, kms.answered("GenerateDataKey"));
        prop_assert_eq!(stats.seal_hits + stats.seal_misses, records.len() as u64);
        prop_assert_eq!(kms.answered("Encrypt"), 0);
        // Opened in order through a fresh cache: every hit saves a Decrypt.
        let reader = DataKeyCache::with_clock(CacheLimits::default(), clock.clone()).unwrap();
        for (envelope, plaintext, tenant) in &sealed {
            prop_assert_eq!(&reader.decrypt(envelope, &[&opener], &context(*tenant)).unwrap(), plaintext);
        }
        let stats = reader.stats();
        prop_assert_eq!(stats.data_keys_unwrapped, kms.answered("Decrypt"));
        prop_assert_eq!(stats.open_hits + stats.open_misses, records.len() as u64);
        prop_assert!(kms.answered("Decrypt") <= kms.answered("GenerateDataKey"));
        // And without any cache, one Decrypt per message.
        let before = kms.answered("Decrypt");
        for (envelope, plaintext, tenant) in &sealed {
            prop_assert_eq!(&kms_core::decrypt(envelope, &[&opener], &context(*tenant)).unwrap(), plaintext);
        }
        prop_assert_eq!(kms.answered("Decrypt") - before, records.len() as u64);
    }
}

fn expect_refusal(result: Result<Vec<u8>, EncryptError>, code: &str) {
    match result {
        Err(EncryptError::Wrap(WrapError::Kms(e))) => assert_eq!(e.code, code),
        other => panic!("expected {code}, got {other:?}"),
    }
}

#[test]
fn a_disabled_or_deleted_key_stops_sealing_within_max_age() {
    let kms = Counting::new();
    let key_id = create_key(&*kms, "app");
    let transport: Arc<dyn KmsTransport> = kms.clone();
    let wrapper = KmsWrapper::for_key(transport, "app").unwrap();
    let clock = Arc::new(ManualClock::new());
    let limits = CacheLimits {
        max_age: Duration::from_secs(30),
        ..CacheLimits::default()
    };
    let cache = DataKeyCache::with_clock(limits, clock.clone()).unwrap();
    let options = EncryptOptions::default();
    cache.encrypt(b"one", &[&wrapper], &options).unwrap();

    let call = |action: &str, params: serde_json::Value| {
        kms.call(action, params.to_string().as_bytes()).unwrap();
    };
    call("DisableKey", json!({"KeyId": key_id}));
    // Within max_age the cached data key still seals (docs/caching.md) ...
    clock.advance(Duration::from_secs(29));
    cache.encrypt(b"two", &[&wrapper], &options).unwrap();
    // ... and from max_age on, the KMS's refusal reaches the caller.
    clock.advance(Duration::from_secs(1));
    expect_refusal(
        cache.encrypt(b"three", &[&wrapper], &options),
        "ResourceUnavailable.CmkDisabled",
    );
    assert_eq!(kms.answered("GenerateDataKey"), 1);

    call("EnableKey", json!({"KeyId": key_id}));
    cache.encrypt(b"four", &[&wrapper], &options).unwrap();
    // The KMS schedules the deletion of disabled keys only.
    call("DisableKey", json!({"KeyId": key_id}));
    call(
        "ScheduleKeyDeletion",
        json!({"KeyId": key_id, "PendingWindowInDays": 7}),
    );
    clock.advance(Duration::from_secs(30));
    expect_refusal(
        cache.encrypt(b"five", &[&wrapper], &options),
        "ResourceUnavailable.KeyPendingDelete",
    );
}

#[test]
fn tkms_serve_audit_trail_counts_one_call_per_data_key() {
    let (_server, audit, kms) = support::audited_server();
    create_key(&*kms, "audited");
    let wrapper = KmsWrapper::for_key(kms.clone(), "audited").unwrap();
    let opener = KmsUnwrapper::new(kms.clone());

    // 250 records, 100 per data key: 3 data keys.
    let limits = CacheLimits {
        max_messages: 100,
        ..CacheLimits::default()
    };
    let writer = DataKeyCache::new(limits).unwrap();
    let options = EncryptOptions::default();
    let records: Vec<Vec<u8>> = (0..250u32).map(|i| i.to_be_bytes().repeat(64)).collect();
    let sealed: Vec<Vec<u8>> = records
        .iter()
        .map(|r| writer.encrypt(r, &[&wrapper], &options).unwrap())
        .collect();
    let reader = DataKeyCache::new(CacheLimits::default()).unwrap();
    for (envelope, record) in sealed.iter().zip(&records) {
        assert_eq!(
            &reader
                .decrypt(envelope, &[&opener], &options.context)
                .unwrap(),
            record
        );
    }

    let rows = |action: &str| {
        audit
            .query(&AuditQuery {
                action: Some(action.to_owned()),
                result: Some(ResultFilter::Ok),
                ..AuditQuery::default()
            })
            .unwrap()
            .len() as u64
    };
    assert_eq!(rows("GenerateDataKey"), 3);
    assert_eq!(rows("Decrypt"), 3);
    assert_eq!(writer.stats().data_keys_generated, 3);
    assert_eq!(reader.stats().data_keys_unwrapped, 3);
    assert_eq!(reader.stats().open_hits, 247);
}
