//! Seals N records of S bytes through the KMS at `TKMS_ENDPOINT` (credentials from the
//! `TENCENTCLOUD_*` variables) with the data-key cache and without, opens them all, and prints
//! one line per mode (docs/caching.md, docs/performance.md):
//!
//! ```text
//! mode=cached records=N seal_per_s=X open_per_s=Y generate_data_key_calls=G decrypt_calls=D
//! ```
//!
//! ```text
//! cargo run --release -p kms-core --example cached_records -- [N [S]]   # default 100000 1024
//! ```
//! The CMK is `TKMS_KEY` (a KeyId or alias) when set; otherwise the example creates one
//! (CreateKey, alias `cached-records-<random>`), which suits `tkms serve`. The cached mode
//! uses `max_age` 60 s and at most 10 000 messages per data key. Records are sealed and opened
//! on all rayon threads; each mode opens through a fresh cache, like a separate reader.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kms_core::cache::{CacheLimits, DataKeyCache};
use kms_core::http::HttpKms;
use kms_core::kms::{KmsError, KmsTransport};
use kms_core::wrap::KeyWrapper;
use kms_core::wrap::kms::{KmsUnwrapper, KmsWrapper};
use kms_core::{EncryptOptions, EncryptionContext};
use rayon::prelude::*;
use zeroize::Zeroizing;

/// The HTTP client, counting the calls that reached the KMS, by action.
struct Counted {
    inner: HttpKms,
    calls: Mutex<HashMap<String, u64>>,
}

impl Counted {
    fn take(&self, action: &str) -> u64 {
        self.calls
            .lock()
            .map_or(0, |mut c| c.remove(action).unwrap_or(0))
    }
}

impl KmsTransport for Counted {
    fn call(&self, action: &str, params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(action.to_owned()).or_default() += 1;
        }
        self.inner.call(action, params)
    }
}

type Error = Box<dyn std::error::Error>;

fn arg(n: usize, default: usize) -> Result<usize, Error> {
    match std::env::args().nth(n) {
        Some(value) => Ok(value.parse()?),
        None => Ok(default),
    }
}

fn cmk(kms: &dyn KmsTransport) -> Result<String, Error> {
    if let Ok(key) = std::env::var("TKMS_KEY") {
        return Ok(key);
    }
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix)?;
    let alias = format!("cached-records-{}", hex::encode(suffix));
    let params = serde_json::json!({"Alias": alias, "KeyUsage": "ENCRYPT_DECRYPT"});
    kms.call("CreateKey", params.to_string().as_bytes())?;
    Ok(alias)
}

fn main() -> Result<(), Error> {
    let records = arg(1, 100_000)?;
    let size = arg(2, 1024)?;
    let kms = Arc::new(Counted {
        inner: HttpKms::from_env()?,
        calls: Mutex::new(HashMap::new()),
    });
    let key = cmk(&*kms)?;
    let wrapper = KmsWrapper::for_key(kms.clone(), &key)?;
    let opener = KmsUnwrapper::new(kms.clone());
    let options = EncryptOptions {
        context: EncryptionContext::new().with("bench", "cached_records"),
        ..EncryptOptions::default()
    };
    let plaintexts: Vec<Vec<u8>> = (0..records)
        .map(|i| {
            let mut record = vec![0u8; size];
            let tag = (i as u64).to_be_bytes();
            for (byte, t) in record.iter_mut().zip(tag.iter().cycle()) {
                *byte = *t;
            }
            record
        })
        .collect();
    let limits = CacheLimits {
        max_age: Duration::from_secs(60),
        max_messages: 10_000,
        ..CacheLimits::default()
    };

    for mode in ["cached", "uncached"] {
        kms.take("GenerateDataKey");
        kms.take("Decrypt");
        let writer = DataKeyCache::new(limits)?;
        let reader = DataKeyCache::new(limits)?;
        let wrappers: [&dyn KeyWrapper; 1] = [&wrapper];
        let unwrappers: [&dyn KeyWrapper; 1] = [&opener];

        let start = Instant::now();
        let sealed = plaintexts
            .par_iter()
            .map(|p| match mode {
                "cached" => writer.encrypt(p, &wrappers, &options),
                _ => kms_core::encrypt(p, &wrappers, &options),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let seal_secs = start.elapsed().as_secs_f64();

        let start = Instant::now();
        let opened = sealed
            .par_iter()
            .map(|e| match mode {
                "cached" => reader.decrypt(e, &unwrappers, &options.context),
                _ => kms_core::decrypt(e, &unwrappers, &options.context),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let open_secs = start.elapsed().as_secs_f64();
        if opened != plaintexts {
            return Err("a record did not open to what was sealed".into());
        }

        println!(
            "mode={mode} records={records} seal_per_s={:.0} open_per_s={:.0} generate_data_key_calls={} decrypt_calls={}",
            records as f64 / seal_secs,
            records as f64 / open_secs,
            kms.take("GenerateDataKey"),
            kms.take("Decrypt"),
        );
    }
    Ok(())
}
