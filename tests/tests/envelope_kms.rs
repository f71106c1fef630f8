//! Envelope encryption against the real mock HSM in-process: the KMS half of kms-core's
//! behaviour (GenerateDataKey on seal, Decrypt on open, rotation, key states, many recipients).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kms_core::kms::{KmsClient, KmsTransport};
use kms_core::wrap::KeyWrapper;
use kms_core::wrap::kms::{KmsUnwrapper, KmsWrapper};
use kms_core::wrap::local::LocalWrapper;
use kms_core::{DecryptError, EncryptOptions, EncryptionContext, Suite, WrapError};
use mock_hsm::{Hsm, HsmConfig, InProcess};
use serde_json::json;

fn hsm() -> (Arc<Hsm>, Arc<dyn KmsTransport>) {
    let hsm = Arc::new(Hsm::open(HsmConfig::in_memory().with_mock_clock()).unwrap());
    let transport: Arc<dyn KmsTransport> = Arc::new(InProcess::new(hsm.clone()));
    (hsm, transport)
}

fn create_key(kms: &Arc<dyn KmsTransport>, alias: &str, usage: &str) -> String {
    let params = json!({"Alias": alias, "KeyUsage": usage}).to_string();
    let out = kms.call("CreateKey", params.as_bytes()).unwrap();
    let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
    out["KeyId"].as_str().unwrap().to_owned()
}

fn call(kms: &Arc<dyn KmsTransport>, action: &str, params: serde_json::Value) {
    kms.call(action, params.to_string().as_bytes()).unwrap();
}

#[test]
fn seal_survives_rotation_and_follows_key_state() {
    let (hsm, kms) = hsm();
    let key_id = create_key(&kms, "app", "ENCRYPT_DECRYPT");
    let ctx = EncryptionContext::new().with("table", "orders");
    let wrapper = KmsWrapper::for_key(kms.clone(), "app").unwrap();
    let opener = KmsUnwrapper::new(kms.clone());
    let plaintext = vec![7u8; 200_000];

    let mut sealed = Vec::new();
    for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
        let options = EncryptOptions {
            suite,
            context: ctx.clone(),
            ..Default::default()
        };
        sealed.push(kms_core::encrypt(&plaintext, &[&wrapper], &options).unwrap());
    }

    // A year of rotations: every old envelope still opens.
    call(
        &kms,
        "EnableKeyRotation",
        json!({"KeyId": key_id, "RotateDays": 30}),
    );
    hsm.mock_clock().unwrap().advance(365 * 86_400);
    hsm.run_due_rotations().unwrap();
    let options = EncryptOptions {
        context: ctx.clone(),
        ..Default::default()
    };
    sealed.push(kms_core::encrypt(&plaintext, &[&wrapper], &options).unwrap());
    for envelope in &sealed {
        assert_eq!(
            kms_core::decrypt(envelope, &[&opener], &ctx).unwrap(),
            plaintext
        );
    }

    // A disabled CMK refuses to unwrap, with the KMS's own code; enabling it again restores access.
    call(&kms, "DisableKey", json!({"KeyId": key_id}));
    match kms_core::decrypt(&sealed[0], &[&opener], &ctx) {
        Err(DecryptError::Kms(e)) => assert_eq!(e.code, "ResourceUnavailable.CmkDisabled"),
        other => panic!("expected the KMS refusal, got {other:?}"),
    }
    call(&kms, "EnableKey", json!({"KeyId": key_id}));
    assert_eq!(
        kms_core::decrypt(&sealed[0], &[&opener], &ctx).unwrap(),
        plaintext
    );

    // The context is bound: a different one never reaches the KMS.
    let other = EncryptionContext::new().with("table", "users");
    assert!(matches!(
        kms_core::decrypt(&sealed[0], &[&opener], &other),
        Err(DecryptError::ContextMismatch)
    ));
}

#[test]
fn one_message_opens_through_kms_or_offline_recovery_key() {
    let (_hsm, kms) = hsm();
    create_key(&kms, "app", "ENCRYPT_DECRYPT");
    let rsa_cmk = create_key(&kms, "app-rsa", "ASYMMETRIC_DECRYPT_RSA_2048");
    let sm2_cmk = create_key(&kms, "app-sm2", "ASYMMETRIC_DECRYPT_SM2");
    let recovery = kms_core::wrap::sm2::Sm2Wrapper::generate().unwrap();
    let recovery_pub = LocalWrapper::from_public_key(&recovery_public_pem(&recovery)).unwrap();

    let symmetric = KmsWrapper::for_key(kms.clone(), "app").unwrap();
    let rsa = KmsWrapper::for_key(kms.clone(), &rsa_cmk).unwrap();
    let sm2 = KmsWrapper::for_key(kms.clone(), &sm2_cmk).unwrap();
    let recipients: [&dyn KeyWrapper; 4] = [&symmetric, &rsa, &sm2, &recovery_pub];
    let ctx = EncryptionContext::new();
    let options = EncryptOptions {
        suite: Suite::Sm4Gcm,
        ..Default::default()
    };
    let plaintext = b"one message, four ways in".repeat(5000);
    let sealed = kms_core::encrypt(&plaintext, &recipients, &options).unwrap();
    let (header, _) = kms_core::parse_header(&sealed).unwrap();
    assert_eq!(header.wrapped_keys.len(), 4);

    // Through the KMS (it tries the wrapped keys the envelope names) and offline.
    let opener = KmsUnwrapper::new(kms.clone());
    assert_eq!(
        kms_core::decrypt(&sealed, &[&opener], &ctx).unwrap(),
        plaintext
    );
    assert_eq!(
        kms_core::decrypt(&sealed, &[&recovery], &ctx).unwrap(),
        plaintext
    );

    // Each KMS key alone: disable the others and it still opens.
    for (keep, others) in [
        ("app-rsa", ["app", "app-sm2"]),
        ("app-sm2", ["app", "app-rsa"]),
    ] {
        for alias in others {
            let id = kms.describe_key(&resolve(&kms, alias)).unwrap().key_id;
            call(&kms, "DisableKey", json!({"KeyId": id}));
        }
        assert_eq!(
            kms_core::decrypt(&sealed, &[&opener], &ctx).unwrap(),
            plaintext,
            "via {keep}"
        );
        for alias in others {
            call(&kms, "EnableKey", json!({"KeyId": resolve(&kms, alias)}));
        }
    }
}

#[test]
fn signing_keys_cannot_wrap() {
    let (_hsm, kms) = hsm();
    create_key(&kms, "signer", "ASYMMETRIC_SIGN_VERIFY_SM2");
    assert!(matches!(
        KmsWrapper::for_key(kms, "signer"),
        Err(WrapError::Unsupported(_))
    ));
}

fn resolve(kms: &Arc<dyn KmsTransport>, alias: &str) -> String {
    let out = kms
        .call(
            "ListKeyDetail",
            json!({"SearchKeyAlias": alias, "KeyUsage": "ALL", "Limit": 200})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
    out["KeyMetadatas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Alias"] == alias)
        .unwrap()["KeyId"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn recovery_public_pem(key: &kms_core::wrap::sm2::Sm2Wrapper) -> Vec<u8> {
    key.public_key_pem().unwrap().into_bytes()
}
