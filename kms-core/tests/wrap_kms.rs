//! The KMS wrappers against an in-memory fake `KmsTransport` (a test double that speaks the
//! Tencent JSON shapes and does real cryptography: AES-256-GCM blobs bound to the context,
//! RSA-OAEP-SHA256 and SM2 private keys). The same wrappers run against mock-hsm in the
//! workspace integration tests.

#![allow(clippy::unwrap_used)] // in tests an unwrap is an assertion

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, PrivateDecryptingKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kms_core::kms::{KmsClient as _, KmsError, KmsTransport};
use kms_core::wrap::kms::{KmsAsymmetricWrapper, KmsSymmetricWrapper, KmsUnwrapper, KmsWrapper};
use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use kms_core::{DataKey, EncryptionContext, WrapError};
use serde_json::{Value, json};
use sm2::pkcs8::EncodePublicKey as _;
use zeroize::Zeroizing;

const SYM_ID: &str = "11111111-1111-1111-1111-111111111111";
const SYM2_ID: &str = "22222222-2222-2222-2222-222222222222";
const RSA_ID: &str = "33333333-3333-3333-3333-333333333333";
const SM2_ID: &str = "44444444-4444-4444-4444-444444444444";
const SIGN_ID: &str = "55555555-5555-5555-5555-555555555555";

enum Material {
    Symmetric([u8; 32]),
    Rsa(PrivateDecryptingKey),
    Sm2(sm2::SecretKey),
    SignOnly,
}

struct FakeKey {
    alias: String,
    usage: &'static str,
    enabled: bool,
    material: Material,
}

/// In-memory Tencent KMS: the actions the wrappers call, with the documented error codes.
struct FakeKms {
    keys: Mutex<BTreeMap<String, FakeKey>>,
    calls: Mutex<Vec<(String, Value)>>,
}

fn err(code: &str, message: &str) -> KmsError {
    KmsError::new(code, message)
}

impl FakeKms {
    fn new() -> Arc<Self> {
        let mut keys = BTreeMap::new();
        let mut sym = |id: &str, alias: &str, byte: u8| {
            keys.insert(
                id.to_owned(),
                FakeKey {
                    alias: alias.into(),
                    usage: "ENCRYPT_DECRYPT",
                    enabled: true,
                    material: Material::Symmetric([byte; 32]),
                },
            );
        };
        sym(SYM_ID, "app", 1);
        sym(SYM2_ID, "app-old", 2);
        keys.insert(
            RSA_ID.into(),
            FakeKey {
                alias: "rsa".into(),
                usage: "ASYMMETRIC_DECRYPT_RSA_2048",
                enabled: true,
                material: Material::Rsa(PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap()),
            },
        );
        let mut scalar = [0u8; 32];
        loop {
            getrandom::fill(&mut scalar).unwrap();
            if let Ok(secret) = sm2::SecretKey::from_slice(&scalar) {
                keys.insert(
                    SM2_ID.into(),
                    FakeKey {
                        alias: "sm2".into(),
                        usage: "ASYMMETRIC_DECRYPT_SM2",
                        enabled: true,
                        material: Material::Sm2(secret),
                    },
                );
                break;
            }
        }
        keys.insert(
            SIGN_ID.into(),
            FakeKey {
                alias: "signer".into(),
                usage: "ASYMMETRIC_SIGN_VERIFY_SM2",
                enabled: true,
                material: Material::SignOnly,
            },
        );
        Arc::new(Self {
            keys: Mutex::new(keys),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn disable(&self, key_id: &str) {
        self.keys.lock().unwrap().get_mut(key_id).unwrap().enabled = false;
    }

    fn calls(&self, action: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(a, _)| a == action)
            .map(|(_, p)| p.clone())
            .collect()
    }

    fn call_count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    fn seal(key_id: &str, key: &[u8; 32], plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).unwrap();
        let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
        let mut buf = plaintext.to_vec();
        let aad = [key_id.as_bytes(), &[0], context.as_bytes()].concat();
        aead.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad[..]),
            &mut buf,
        )
        .unwrap();
        format!(
            "{}-k-{}-k-{}",
            B64.encode(key_id),
            B64.encode(nonce),
            B64.encode(buf)
        )
    }

    fn dispatch(&self, action: &str, p: &Value) -> Result<Value, KmsError> {
        let keys = self.keys.lock().unwrap();
        let str_param = |name: &str| p[name].as_str().unwrap_or_default().to_owned();
        let context = str_param("EncryptionContext");
        let key = |id: &str| {
            keys.get(id)
                .ok_or_else(|| err("ResourceUnavailable.CmkNotFound", "no such key"))
        };
        let usable = |id: &str| {
            let k = key(id)?;
            if k.enabled {
                Ok(k)
            } else {
                Err(err(
                    "ResourceUnavailable.CmkDisabled",
                    "the CMK is disabled",
                ))
            }
        };
        let invalid_ct = || err("InvalidParameterValue.InvalidCiphertext", "bad ciphertext");
        match action {
            "DescribeKey" => {
                let id = str_param("KeyId");
                let k = key(&id)?;
                Ok(
                    json!({"KeyMetadata": {"KeyId": id, "Alias": k.alias, "KeyUsage": k.usage,
                    "KeyState": if k.enabled {"Enabled"} else {"Disabled"}, "Type": 2}}),
                )
            }
            "ListKeyDetail" => {
                let search = str_param("SearchKeyAlias");
                let found: Vec<Value> = keys
                    .iter()
                    .filter(|(id, k)| k.alias.contains(&search) || id.contains(&search))
                    .map(|(id, k)| json!({"KeyId": id, "Alias": k.alias, "KeyUsage": k.usage}))
                    .collect();
                Ok(json!({"TotalCount": found.len(), "KeyMetadatas": found}))
            }
            "GetPublicKey" => {
                let id = str_param("KeyId");
                let spki = match &usable(&id)?.material {
                    Material::Rsa(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
                    Material::Sm2(k) => k.public_key().to_public_key_der().unwrap().into_vec(),
                    _ => {
                        return Err(err(
                            "InvalidParameterValue.InvalidKeyUsage",
                            "not asymmetric",
                        ));
                    }
                };
                Ok(json!({"KeyId": id, "PublicKey": B64.encode(&spki), "PublicKeyPem": "unused"}))
            }
            "GenerateDataKey" | "Encrypt" => {
                let id = str_param("KeyId");
                let Material::Symmetric(material) = &usable(&id)?.material else {
                    return Err(err(
                        "InvalidParameterValue.InvalidKeyUsage",
                        "not symmetric",
                    ));
                };
                let plaintext = if action == "Encrypt" {
                    Zeroizing::new(
                        B64.decode(str_param("Plaintext"))
                            .map_err(|_| err("InvalidParameterValue.InvalidPlaintext", "b64"))?,
                    )
                } else {
                    let n = p["NumberOfBytes"]
                        .as_u64()
                        .ok_or_else(|| err("InvalidParameter", "NumberOfBytes"))?
                        as usize;
                    let mut bytes = Zeroizing::new(vec![0u8; n]);
                    getrandom::fill(&mut bytes).unwrap();
                    bytes
                };
                let blob = Self::seal(&id, material, &plaintext, &context);
                Ok(
                    json!({"KeyId": id, "CiphertextBlob": blob, "Plaintext": B64.encode(&plaintext)}),
                )
            }
            "Decrypt" => {
                let blob = str_param("CiphertextBlob");
                let parts: Vec<&str> = blob.split("-k-").collect();
                let [id, nonce, ct] = parts[..] else {
                    return Err(invalid_ct());
                };
                let id = String::from_utf8(B64.decode(id).map_err(|_| invalid_ct())?)
                    .map_err(|_| invalid_ct())?;
                let Material::Symmetric(material) = &usable(&id)?.material else {
                    return Err(invalid_ct());
                };
                let nonce: [u8; 12] = B64
                    .decode(nonce)
                    .ok()
                    .and_then(|n| n.try_into().ok())
                    .ok_or_else(invalid_ct)?;
                let mut buf = B64.decode(ct).map_err(|_| invalid_ct())?;
                let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, material).unwrap());
                let aad = [id.as_bytes(), &[0], context.as_bytes()].concat();
                let plaintext = aead
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad[..]),
                        &mut buf,
                    )
                    .map_err(|_| invalid_ct())?;
                Ok(json!({"KeyId": id, "Plaintext": B64.encode(plaintext)}))
            }
            "AsymmetricRsaDecrypt" => {
                let id = str_param("KeyId");
                let Material::Rsa(k) = &usable(&id)?.material else {
                    return Err(err("InvalidParameterValue.InvalidKeyUsage", "not RSA"));
                };
                if str_param("Algorithm") != "RSAES_OAEP_SHA_256" {
                    return Err(err(
                        "InvalidParameterValue",
                        "this fake only does RSAES_OAEP_SHA_256",
                    ));
                }
                let ct = B64
                    .decode(str_param("Ciphertext"))
                    .map_err(|_| invalid_ct())?;
                let oaep = OaepPrivateDecryptingKey::new(k.clone()).unwrap();
                let mut out = vec![0u8; oaep.min_output_size()];
                let plaintext = oaep
                    .decrypt(&OAEP_SHA256_MGF1SHA256, &ct, &mut out, None)
                    .map_err(|_| err("FailedOperation.DecryptError", "decryption failed"))?;
                Ok(json!({"KeyId": id, "Plaintext": B64.encode(plaintext)}))
            }
            "AsymmetricSm2Decrypt" => {
                let id = str_param("KeyId");
                let Material::Sm2(k) = &usable(&id)?.material else {
                    return Err(err("InvalidParameterValue.InvalidKeyUsage", "not SM2"));
                };
                let ct = B64
                    .decode(str_param("Ciphertext"))
                    .map_err(|_| invalid_ct())?;
                if ct.len() > 256 {
                    return Err(err(
                        "InvalidParameterValue.InvalidCiphertext",
                        "over 256 bytes",
                    ));
                }
                let plaintext = sm2::pke::DecryptingKey::new(k.clone())
                    .decrypt_der(&ct)
                    .map_err(|_| err("FailedOperation.DecryptError", "decryption failed"))?;
                Ok(json!({"KeyId": id, "Plaintext": B64.encode(plaintext)}))
            }
            other => Err(err(
                "InvalidAction",
                &format!("{other} is not supported by the fake"),
            )),
        }
    }
}

impl KmsTransport for FakeKms {
    fn call(&self, action: &str, params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let params: Value = serde_json::from_slice(params).expect("the client sends JSON");
        self.calls
            .lock()
            .unwrap()
            .push((action.to_owned(), params.clone()));
        let mut response = self.dispatch(action, &params)?;
        response["RequestId"] = json!("fake-request");
        Ok(Zeroizing::new(serde_json::to_vec(&response).unwrap()))
    }
}

fn ctx() -> EncryptionContext {
    EncryptionContext::new()
        .with("bucket", "b1")
        .with("app", "tkms")
}

fn kms_code(result: Result<Option<DataKey>, WrapError>) -> String {
    match result {
        Err(WrapError::Kms(e)) => e.code,
        other => panic!("expected a KMS error, got {other:?}"),
    }
}

#[test]
fn symmetric_generate_binds_the_context_and_round_trips() {
    let kms = FakeKms::new();
    let wrapper = KmsWrapper::for_key(kms.clone(), "app").unwrap();
    assert!(matches!(wrapper, KmsWrapper::Symmetric(_)));
    assert_eq!(
        wrapper.key_id(),
        SYM_ID,
        "the alias resolves to the exact match, not app-old"
    );

    let (data_key, wrapped) = wrapper
        .generate(&ctx())
        .unwrap()
        .expect("a KMS generates data keys");
    assert_eq!(wrapped.method, WrapMethod::KmsSymmetric);
    assert_eq!(
        wrapped.key_ref,
        KeyRef::Kms {
            key_id: SYM_ID.into()
        }
    );
    let call = &kms.calls("GenerateDataKey")[0];
    assert_eq!(call["NumberOfBytes"], 32);
    assert_eq!(call["KeyId"], SYM_ID);
    assert_eq!(
        call["EncryptionContext"],
        json!(ctx().to_kms_json().unwrap())
    );
    assert_eq!(
        std::str::from_utf8(&wrapped.ciphertext)
            .unwrap()
            .matches("-k-")
            .count(),
        2,
        "the blob is stored as is"
    );

    let unwrapped = wrapper.unwrap(&wrapped, &ctx()).unwrap().unwrap();
    assert_eq!(unwrapped.expose_secret(), data_key.expose_secret());
    assert_eq!(
        kms.calls("Decrypt")[0]["EncryptionContext"],
        json!(ctx().to_kms_json().unwrap())
    );

    // Another context: the KMS refuses, and the refusal passes through.
    let other = EncryptionContext::new().with("bucket", "b2");
    assert_eq!(
        kms_code(wrapper.unwrap(&wrapped, &other)),
        "InvalidParameterValue.InvalidCiphertext"
    );
}

#[test]
fn symmetric_wrap_uses_encrypt_and_omits_an_empty_context() {
    let kms = FakeKms::new();
    let wrapper = KmsSymmetricWrapper::new(kms.clone(), SYM_ID);
    let data_key = DataKey::generate();
    let empty = EncryptionContext::new();
    let wrapped = wrapper.wrap(&data_key, &empty).unwrap();
    let call = &kms.calls("Encrypt")[0];
    assert!(call.get("EncryptionContext").is_none(), "{call}");
    assert_eq!(
        B64.decode(call["Plaintext"].as_str().unwrap()).unwrap(),
        data_key.expose_secret()
    );
    assert_eq!(
        wrapper
            .unwrap(&wrapped, &empty)
            .unwrap()
            .unwrap()
            .expose_secret(),
        data_key.expose_secret()
    );
    assert!(kms.calls("Decrypt")[0].get("EncryptionContext").is_none());

    // A stanza for another CMK, or of another method, is not this wrapper's.
    let other = KmsSymmetricWrapper::new(kms.clone(), SYM2_ID);
    assert!(other.unwrap(&wrapped, &empty).unwrap().is_none());
    let rsa_like = WrappedKey {
        method: WrapMethod::RsaOaepSha256,
        ..wrapped.clone()
    };
    assert!(wrapper.unwrap(&rsa_like, &empty).unwrap().is_none());
}

#[test]
fn disabled_keys_surface_as_kms_errors() {
    let kms = FakeKms::new();
    let wrapper = KmsSymmetricWrapper::new(kms.clone(), SYM_ID);
    let wrapped = wrapper.wrap(&DataKey::generate(), &ctx()).unwrap();
    kms.disable(SYM_ID);
    assert_eq!(
        kms_code(wrapper.unwrap(&wrapped, &ctx())),
        "ResourceUnavailable.CmkDisabled"
    );
    match wrapper.generate(&ctx()) {
        Err(WrapError::Kms(e)) => assert!(e.is_key_state_refusal()),
        other => panic!("{other:?}"),
    }
    let err = wrapper.wrap(&DataKey::generate(), &ctx()).unwrap_err();
    assert!(err.to_string().contains("CmkDisabled"), "{err}");
}

fn check_asymmetric(key: &str, key_id: &str, method: WrapMethod, decrypt_action: &str) {
    let kms = FakeKms::new();
    let wrapper = KmsWrapper::for_key(kms.clone(), key).unwrap();
    let KmsWrapper::Asymmetric(inner) = &wrapper else {
        panic!("expected an asymmetric wrapper")
    };
    assert_eq!(inner.method(), method);
    assert_eq!(wrapper.key_id(), key_id);
    assert!(
        wrapper.generate(&ctx()).unwrap().is_none(),
        "asymmetric CMKs do not generate data keys"
    );

    let before = kms.call_count();
    let data_key = DataKey::generate();
    let wrapped = wrapper.wrap(&data_key, &ctx()).unwrap();
    let _second = wrapper.wrap(&DataKey::generate(), &ctx()).unwrap();
    assert_eq!(kms.call_count(), before, "wrapping is local: no KMS call");
    assert_eq!(
        kms.calls("GetPublicKey").len(),
        1,
        "the public key is fetched once"
    );
    assert_eq!(wrapped.method, method);
    assert_eq!(
        wrapped.key_ref,
        KeyRef::Kms {
            key_id: key_id.into()
        }
    );

    let unwrapped = wrapper.unwrap(&wrapped, &ctx()).unwrap().unwrap();
    assert_eq!(unwrapped.expose_secret(), data_key.expose_secret());
    let call = &kms.calls(decrypt_action)[0];
    assert_eq!(call["KeyId"], key_id);
    if method == WrapMethod::RsaOaepSha256 {
        assert_eq!(call["Algorithm"], "RSAES_OAEP_SHA_256");
    }
    // Damaged ciphertext: the KMS's refusal passes through.
    let mut bad = wrapped.clone();
    bad.ciphertext[40] ^= 1;
    assert_eq!(
        kms_code(wrapper.unwrap(&bad, &ctx())),
        "FailedOperation.DecryptError"
    );
}

#[test]
fn asymmetric_rsa_wraps_locally_and_unwraps_through_the_kms() {
    check_asymmetric(
        "rsa",
        RSA_ID,
        WrapMethod::RsaOaepSha256,
        "AsymmetricRsaDecrypt",
    );
}

#[test]
fn asymmetric_sm2_wraps_locally_and_unwraps_through_the_kms() {
    check_asymmetric(SM2_ID, SM2_ID, WrapMethod::Sm2, "AsymmetricSm2Decrypt");
}

#[test]
fn asymmetric_wrapper_needs_an_enabled_key() {
    let kms = FakeKms::new();
    kms.disable(RSA_ID);
    match KmsAsymmetricWrapper::new(kms, RSA_ID) {
        Err(WrapError::Kms(e)) => assert_eq!(e.code, "ResourceUnavailable.CmkDisabled"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn keys_that_cannot_encrypt_are_refused_clearly() {
    let kms = FakeKms::new();
    match KmsWrapper::for_key(kms.clone(), SIGN_ID) {
        Err(err @ WrapError::Unsupported(_)) => {
            assert!(err.to_string().contains("KeyUsage"), "{err}")
        }
        other => panic!("{other:?}"),
    }
    match KmsWrapper::for_key(kms, "00000000-0000-0000-0000-000000000000") {
        Err(WrapError::Kms(e)) => assert_eq!(e.code, "ResourceUnavailable.CmkNotFound"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn any_key_unwrapper_follows_the_envelope() {
    let kms = FakeKms::new();
    let ctx = ctx();
    let wrappers: Vec<KmsWrapper> = ["app", "rsa", "sm2"]
        .iter()
        .map(|k| KmsWrapper::for_key(kms.clone(), k).unwrap())
        .collect();
    let unwrapper = KmsUnwrapper::new(kms.clone());
    for wrapper in &wrappers {
        let data_key = DataKey::generate();
        let wrapped = wrapper.wrap(&data_key, &ctx).unwrap();
        let unwrapped = unwrapper
            .unwrap(&wrapped, &ctx)
            .unwrap()
            .expect("a KMS stanza");
        assert_eq!(
            unwrapped.expose_secret(),
            data_key.expose_secret(),
            "{:?}",
            wrapped.method
        );
    }
    assert_eq!(kms.calls("Decrypt").len(), 1);
    assert_eq!(kms.calls("AsymmetricRsaDecrypt").len(), 1);
    assert_eq!(kms.calls("AsymmetricSm2Decrypt").len(), 1);

    // Local-key stanzas are not for it; it cannot wrap.
    let local = WrappedKey {
        method: WrapMethod::Sm2,
        key_ref: KeyRef::PublicKey {
            fingerprint: [0; 32],
        },
        ciphertext: vec![0x30],
    };
    assert!(unwrapper.unwrap(&local, &ctx).unwrap().is_none());
    assert!(matches!(
        unwrapper.wrap(&DataKey::generate(), &ctx),
        Err(WrapError::Unsupported(_))
    ));
    assert_eq!(unwrapper.key_ref().to_string(), "kms:*");
}

#[test]
fn a_header_naming_another_cmk_than_the_blob_is_refused() {
    let kms = FakeKms::new();
    let wrapped = KmsSymmetricWrapper::new(kms.clone(), SYM_ID)
        .wrap(&DataKey::generate(), &ctx())
        .unwrap();
    let lying = WrappedKey {
        key_ref: KeyRef::Kms {
            key_id: SYM2_ID.into(),
        },
        ..wrapped
    };
    assert!(matches!(
        KmsUnwrapper::new(kms).unwrap(&lying, &ctx()),
        Err(WrapError::Crypto)
    ));
}

#[test]
fn a_kms_plaintext_that_is_not_a_data_key_is_refused() {
    let kms = FakeKms::new();
    // A blob of 16 bytes (e.g. made by another tool) under the same CMK and context.
    let blob = kms
        .encrypt(SYM_ID, &[7u8; 16], ctx().to_kms_json().as_deref())
        .unwrap();
    let wrapped = WrappedKey {
        method: WrapMethod::KmsSymmetric,
        key_ref: KeyRef::Kms {
            key_id: SYM_ID.into(),
        },
        ciphertext: blob.into_bytes(),
    };
    assert!(matches!(
        KmsSymmetricWrapper::new(kms.clone(), SYM_ID).unwrap(&wrapped, &ctx()),
        Err(WrapError::Crypto)
    ));
    // A blob that is not text is a format problem, found before any KMS call.
    let before = kms.call_count();
    let binary = WrappedKey {
        ciphertext: vec![0xff, 0xfe],
        ..wrapped
    };
    assert!(matches!(
        KmsUnwrapper::new(kms.clone()).unwrap(&binary, &ctx()),
        Err(WrapError::Format(_))
    ));
    assert_eq!(kms.call_count(), before);
}

#[test]
fn for_summary_uses_the_given_metadata_without_describing_again() {
    let kms = FakeKms::new();
    let summary = kms.describe_key(SM2_ID).unwrap();
    let before = kms.calls("DescribeKey").len();
    let wrapper = KmsWrapper::for_summary(kms.clone(), &summary).unwrap();
    assert_eq!(kms.calls("DescribeKey").len(), before);
    let KmsWrapper::Asymmetric(inner) = &wrapper else {
        panic!("SM2 is asymmetric")
    };
    assert_eq!(inner.method(), WrapMethod::Sm2);
    // Metadata that disagrees with the key's public key is refused.
    let mut lying = summary.clone();
    lying.key_usage = "ASYMMETRIC_DECRYPT_RSA_2048".into();
    assert!(matches!(
        KmsWrapper::for_summary(kms, &lying),
        Err(WrapError::Unsupported(_))
    ));
}

#[test]
fn unknown_aliases_are_reported_as_not_found() {
    let kms = FakeKms::new();
    match KmsWrapper::for_key(kms.clone(), "no-such-alias") {
        Err(WrapError::Kms(e)) => {
            assert_eq!(e.code, "ResourceUnavailable.CmkNotFound");
            assert!(e.message.contains("no-such-alias"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    // "app" fuzzily matches "app" and "app-old"; the prefix `alias/` is accepted.
    assert_eq!(
        KmsWrapper::for_key(kms.clone(), "alias/app-old")
            .unwrap()
            .key_id(),
        SYM2_ID
    );
    assert_eq!(kms.calls("ListKeyDetail")[1]["SearchKeyAlias"], "app-old");
}
