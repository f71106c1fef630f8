//! Behaviour of the local-key wrappers (`RsaWrapper`, `Sm2Wrapper`): round trips, addressing
//! (`Ok(None)` for stanzas meant for another key), opaque failures, no secrets in `Debug`.

#![allow(clippy::unwrap_used)] // in tests an unwrap is an assertion

use kms_core::wrap::rsa::RsaWrapper;
use kms_core::wrap::sm2::Sm2Wrapper;
use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use kms_core::{DataKey, EncryptionContext, FormatError, WrapError};
use std::sync::OnceLock;

/// RSA key generation is slow; share one key pair per test binary.
fn rsa() -> &'static RsaWrapper {
    static KEY: OnceLock<RsaWrapper> = OnceLock::new();
    KEY.get_or_init(|| RsaWrapper::generate().unwrap())
}

fn rsa_public() -> RsaWrapper {
    RsaWrapper::from_public_key(rsa().public_key_pem().unwrap().as_bytes()).unwrap()
}

fn ctx() -> EncryptionContext {
    EncryptionContext::new().with("purpose", "test")
}

fn check_round_trip_and_addressing(
    full: &dyn KeyWrapper,
    public: &dyn KeyWrapper,
    other: &dyn KeyWrapper,
    method: WrapMethod,
) {
    let key = DataKey::generate();
    let wrapped = public.wrap(&key, &ctx()).unwrap();
    assert_eq!(wrapped.method, method);
    assert_eq!(wrapped.key_ref, full.key_ref());
    assert_eq!(public.key_ref(), full.key_ref());
    // Randomised: two wraps of one key differ.
    assert_ne!(
        public.wrap(&key, &ctx()).unwrap().ciphertext,
        wrapped.ciphertext
    );

    let unwrapped = full
        .unwrap(&wrapped, &ctx())
        .unwrap()
        .expect("addressed to this key");
    assert_eq!(unwrapped.expose_secret(), key.expose_secret());
    // The public half recognises its stanza but says it needs the private key.
    assert!(matches!(
        public.unwrap(&wrapped, &ctx()),
        Err(WrapError::NoPrivateKey)
    ));
    // Another key of the same kind: not addressed.
    assert!(other.unwrap(&wrapped, &ctx()).unwrap().is_none());
    // Same key id but another method: not addressed.
    let mut renamed = wrapped.clone();
    renamed.method = if method == WrapMethod::Sm2 {
        WrapMethod::RsaOaepSha256
    } else {
        WrapMethod::Sm2
    };
    assert!(full.unwrap(&renamed, &ctx()).unwrap().is_none());
    let kms = WrappedKey {
        key_ref: KeyRef::Kms { key_id: "k".into() },
        ..wrapped.clone()
    };
    assert!(full.unwrap(&kms, &ctx()).unwrap().is_none());

    // Any damage is the one opaque error.
    for i in [
        0,
        wrapped.ciphertext.len() / 2,
        wrapped.ciphertext.len() - 1,
    ] {
        let mut bad = wrapped.clone();
        bad.ciphertext[i] ^= 0x01;
        assert!(
            matches!(full.unwrap(&bad, &ctx()), Err(WrapError::Crypto)),
            "byte {i}"
        );
    }
    let mut short = wrapped.clone();
    short.ciphertext.pop();
    assert!(matches!(
        full.unwrap(&short, &ctx()),
        Err(WrapError::Crypto)
    ));
    let mut empty = wrapped;
    empty.ciphertext.clear();
    assert!(matches!(
        full.unwrap(&empty, &ctx()),
        Err(WrapError::Crypto)
    ));
}

#[test]
fn rsa_round_trip_and_addressing() {
    let other = RsaWrapper::generate().unwrap();
    check_round_trip_and_addressing(rsa(), &rsa_public(), &other, WrapMethod::RsaOaepSha256);
    assert_eq!(rsa().public_key_der(), rsa_public().public_key_der());
    assert_eq!(
        rsa()
            .wrap(&DataKey::generate(), &ctx())
            .unwrap()
            .ciphertext
            .len(),
        256
    );
}

#[test]
fn sm2_round_trip_and_addressing() {
    let full = Sm2Wrapper::generate().unwrap();
    let public = Sm2Wrapper::from_public_key(full.public_key_pem().unwrap().as_bytes()).unwrap();
    let other = Sm2Wrapper::generate().unwrap();
    check_round_trip_and_addressing(&full, &public, &other, WrapMethod::Sm2);
}

#[test]
fn sm2_wrapped_keys_are_der_c1c3c2_within_the_kms_limit() {
    let full = Sm2Wrapper::generate().unwrap();
    let wrapped = full.wrap(&DataKey::generate(), &ctx()).unwrap();
    // SEQUENCE { INTEGER x, INTEGER y, OCTET STRING(32) C3, OCTET STRING(32) C2 }
    assert_eq!(wrapped.ciphertext[0], 0x30);
    assert!(
        wrapped.ciphertext.len() <= 256,
        "AsymmetricSm2Decrypt takes at most 256 bytes"
    );
    let c2c3 = &wrapped.ciphertext[wrapped.ciphertext.len() - 68..];
    assert_eq!(&c2c3[..2], &[0x04, 0x20]);
    assert_eq!(&c2c3[34..36], &[0x04, 0x20]);
}

#[test]
fn private_keys_round_trip_through_pem() {
    let pem = rsa().private_key_pem().unwrap().unwrap();
    let again = RsaWrapper::from_private_key(pem.as_bytes()).unwrap();
    assert_eq!(again.fingerprint(), rsa().fingerprint());
    assert!(rsa_public().private_key_pem().unwrap().is_none());

    let sm2 = Sm2Wrapper::generate().unwrap();
    let pem = sm2.private_key_pem().unwrap().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert_eq!(
        Sm2Wrapper::from_private_key(pem.as_bytes())
            .unwrap()
            .fingerprint(),
        sm2.fingerprint()
    );
}

#[test]
fn debug_output_never_shows_key_material() {
    let sm2 = Sm2Wrapper::generate().unwrap();
    let pem = sm2.private_key_pem().unwrap().unwrap();
    let scalar_b64: String = pem
        .lines()
        .nth(1)
        .unwrap()
        .chars()
        .skip(40)
        .take(20)
        .collect();
    let shown = format!("{sm2:?} {:?}", rsa());
    assert!(shown.contains("has_private_key: true"), "{shown}");
    assert!(!shown.contains(&scalar_b64));
    // The sm2 crate's own Debug prints the scalar; ours must not delegate to it.
    assert!(
        !shown.contains("DecryptingKey") && !shown.contains("NonZeroScalar"),
        "{shown}"
    );
    let rsa_pem = rsa().private_key_pem().unwrap().unwrap();
    assert!(!shown.contains(rsa_pem.lines().nth(5).unwrap()));
}

#[test]
fn malformed_keys_get_specific_errors() {
    for bad in [
        &b""[..],
        b"not a key",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        &[0x30, 0x03, 0x02, 0x01, 0x01],
    ] {
        assert!(matches!(
            RsaWrapper::from_public_key(bad),
            Err(WrapError::Format(FormatError::MalformedKey(_)))
        ));
        assert!(matches!(
            RsaWrapper::from_private_key(bad),
            Err(WrapError::Format(FormatError::MalformedKey(_)))
        ));
        assert!(matches!(
            Sm2Wrapper::from_public_key(bad),
            Err(WrapError::Format(FormatError::MalformedKey(_)))
        ));
        assert!(matches!(
            Sm2Wrapper::from_private_key(bad),
            Err(WrapError::Format(FormatError::MalformedKey(_)))
        ));
    }
    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert!(matches!(
        RsaWrapper::from_private_key(encrypted.as_bytes()),
        Err(WrapError::Unsupported(_))
    ));
    assert!(
        Sm2Wrapper::from_private_scalar(&[0u8; 32]).is_err(),
        "zero is not a private key"
    );
}
