//! The envelope parser on arbitrary bytes: `parse_header` and a full `decrypt` (with a key that
//! matches nothing) must return an error or a header, never panic or over-read.
#![no_main]

use kms_core::wrap::KeyWrapper;
use kms_core::wrap::local::LocalWrapper;
use libfuzzer_sys::fuzz_target;

const TEST_KEY: &[u8] = include_bytes!("../../tests/testdata/golden/local-sm2.key.pem");

fuzz_target!(|data: &[u8]| {
    if let Ok((header, len)) = kms_core::parse_header(data) {
        assert!(len <= data.len());
        assert!(!header.wrapped_keys.is_empty());
    }
    let identity = LocalWrapper::from_key(TEST_KEY).expect("the test key parses");
    let identities: [&dyn KeyWrapper; 1] = [&identity];
    let _ = kms_core::decrypt(data, &identities, &kms_core::EncryptionContext::new());
});
