//! Several wrapped keys, data-key generation by the first wrapper, and key commitment.

use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod};
use kms_core::{
    DecryptError, EncryptError, EncryptOptions, EncryptionContext, Suite, decrypt, encrypt,
    parse_header,
};
use proptest::prelude::*;

use crate::support::{PublicOnly, TestKey, pattern, spec_expand, spec_hmac};

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_wrapped_key_opens_the_same_plaintext(recipients in 1usize..6, len in 0usize..2000, sm4 in any::<bool>()) {
        let keys: Vec<TestKey> = (0..recipients as u8).map(|i| TestKey::new(10 + i)).collect();
        let wrappers: Vec<&dyn KeyWrapper> = keys.iter().map(|k| k as &dyn KeyWrapper).collect();
        let suite = if sm4 { Suite::Sm4Gcm } else { Suite::Aes256Gcm };
        let opts = EncryptOptions { suite, frame_size: 128, ..EncryptOptions::default() };
        let envelope = encrypt(&pattern(len), &wrappers, &opts).unwrap();
        let (header, _) = parse_header(&envelope).unwrap();
        prop_assert_eq!(header.wrapped_keys.len(), recipients);
        for (i, key) in keys.iter().enumerate() {
            prop_assert_eq!(&header.wrapped_keys[i].key_ref, &key.key_ref(), "wrapped keys keep the wrappers' order");
            prop_assert_eq!(decrypt(&envelope, &[key], &opts.context).unwrap(), pattern(len));
        }
    }
}

#[test]
fn first_wrapper_generates_the_data_key_when_it_can() {
    let kms = TestKey::kms(20);
    let local = TestKey::new(21);
    let opts = EncryptOptions::default();
    let envelope = encrypt(b"hello", &[&kms, &local], &opts).unwrap();
    let (header, _) = parse_header(&envelope).unwrap();
    assert_eq!(header.wrapped_keys[0].method, WrapMethod::KmsSymmetric);
    assert_eq!(
        header.wrapped_keys[0].key_ref,
        KeyRef::Kms {
            key_id: "test-key-20".into()
        }
    );
    assert_eq!(
        decrypt(&envelope, &[&kms], &opts.context).unwrap(),
        b"hello"
    );
    assert_eq!(
        decrypt(&envelope, &[&local], &opts.context).unwrap(),
        b"hello"
    );
}

#[test]
fn no_recipients_is_an_error() {
    assert!(matches!(
        encrypt(b"x", &[], &EncryptOptions::default()),
        Err(EncryptError::NoRecipients)
    ));
    assert!(matches!(
        kms_core::Encryptor::new(Vec::new(), &[], &EncryptOptions::default()),
        Err(EncryptError::NoRecipients)
    ));
}

#[test]
fn no_matching_key_names_the_wrapped_keys() {
    let a = TestKey::new(30);
    let b = TestKey::kms(31);
    let envelope = encrypt(b"x", &[&a, &b], &EncryptOptions::default()).unwrap();
    let stranger = TestKey::new(32);
    let Err(DecryptError::NoMatchingKey(names)) =
        decrypt(&envelope, &[&stranger], &EncryptionContext::new())
    else {
        panic!("expected NoMatchingKey")
    };
    assert_eq!(
        names,
        format!("sha256:{}, kms:test-key-31", hex::encode([30 ^ 0xA5; 32]))
    );
    // No unwrappers at all, or one that only holds the public key: still no matching key.
    assert!(matches!(
        decrypt(&envelope, &[], &EncryptionContext::new()),
        Err(DecryptError::NoMatchingKey(_))
    ));
    let public = PublicOnly(TestKey::new(30));
    assert!(matches!(
        decrypt(&envelope, &[&public], &EncryptionContext::new()),
        Err(DecryptError::NoMatchingKey(_))
    ));
    // The unwrappers are tried in order, and a later one still works.
    assert_eq!(
        decrypt(
            &envelope,
            &[&stranger, &public, &b],
            &EncryptionContext::new()
        )
        .unwrap(),
        b"x"
    );
}

#[test]
fn a_wrapped_key_that_fails_to_unwrap_is_opaque() {
    let a = TestKey::new(40);
    let mut envelope = encrypt(b"x", &[&a], &EncryptOptions::default()).unwrap();
    // Corrupt the wrapped key's ciphertext (offset: see tamper.rs; no context here: 46 + 2 + 1 + 38).
    envelope[46 + 2 + 1 + 38 + 20] ^= 1;
    assert!(matches!(
        decrypt(&envelope, &[&a], &EncryptionContext::new()),
        Err(DecryptError::DecryptionFailed)
    ));
}

/// Key commitment: a header whose second wrapped key holds a *different* data key must not
/// decrypt through that key, even when its header tag is valid under that key.
#[test]
fn commitment_rejects_a_second_data_key() {
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        let (a, b) = (TestKey::new(50), TestKey::new(51));
        let opts = EncryptOptions {
            suite,
            frame_size: 64,
            ..EncryptOptions::default()
        };
        let envelope = encrypt(&pattern(300), &[&a, &b], &opts).unwrap();
        let (header, header_len) = parse_header(&envelope).unwrap();
        // Header layout (empty context): ... count @48, key 1 @49 (98 bytes), key 2 @147 (98 bytes),
        // commitment @245, tag @277, end 309.
        assert_eq!(header_len, 309);
        let other_key = [0x77u8; 32];
        let forged_wrap = b.wrap_bytes(&other_key, &opts.context);
        let mut forged = envelope.clone();
        forged[147 + 38..147 + 98].copy_from_slice(&forged_wrap.ciphertext);

        // Forgery 1: keep everything else; the header no longer authenticates for either key.
        assert!(matches!(
            decrypt(&forged, &[&b], &opts.context),
            Err(DecryptError::DecryptionFailed)
        ));
        assert!(matches!(
            decrypt(&forged, &[&a], &opts.context),
            Err(DecryptError::DecryptionFailed)
        ));

        // Forgery 2: an attacker who knows both data keys makes the header tag valid under the
        // second key and seals a body under it too, but leaves the first key's commitment:
        // only the commitment check stops it.
        let body_b =
            crate::conformance::seal_body(suite, &other_key, &header.message_id, 64, &pattern(5));
        let header_key_b = spec_expand(
            suite,
            &other_key,
            &header.message_id,
            "tkms/v1/header-key",
            32,
        );
        let tag = spec_hmac(suite, &header_key_b, &forged[..277]);
        forged[277..309].copy_from_slice(&tag);
        let mut forged_message = forged[..header_len].to_vec();
        forged_message.extend_from_slice(&body_b);
        assert!(matches!(
            decrypt(&forged_message, &[&b], &opts.context),
            Err(DecryptError::DecryptionFailed)
        ));

        // Control: with the second key's commitment as well, the same forgery opens, so the
        // failure above is the commitment check and nothing else...
        let commit_b = spec_expand(
            suite,
            &other_key,
            &header.message_id,
            "tkms/v1/key-commitment",
            32,
        );
        forged[245..277].copy_from_slice(&commit_b);
        let tag = spec_hmac(suite, &header_key_b, &forged[..277]);
        forged[277..309].copy_from_slice(&tag);
        let mut control = forged[..header_len].to_vec();
        control.extend_from_slice(&body_b);
        assert_eq!(decrypt(&control, &[&b], &opts.context).unwrap(), pattern(5));
        // ...and that header is then useless to the first key: one header, one data key.
        assert!(matches!(
            decrypt(&control, &[&a], &opts.context),
            Err(DecryptError::DecryptionFailed)
        ));
    }
}
