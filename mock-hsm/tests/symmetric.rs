//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateRandom; the blob and its context; the
//! JSON edge; kms-core's KmsClient over the in-process transport.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/kms.rs"]
mod support;

use std::sync::Arc;

use kms_core::kms::KmsClient;
use mock_hsm::{Hsm, HsmConfig, InProcess, SymmetricPolicy};
use serde_json::json;
use support::{DispatchRaw, Kms, b64, unb64};

#[test]
fn encrypt_decrypt_round_trip_for_sm4_and_aes() {
    for region in ["ap-guangzhou", "ap-singapore"] {
        let kms = Kms::new().region(region);
        let id = kms.create_sym("k");
        for len in [1usize, 15, 16, 17, 4096] {
            let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let blob = kms.encrypt(&id, &pt, Some(r#"{"purpose":"test"}"#));
            assert_eq!(
                blob.matches("-k-").count(),
                2,
                "Tencent's b64-k-b64-k-b64 shape"
            );
            let v = kms.ok(
                "Decrypt",
                json!({"CiphertextBlob": blob, "EncryptionContext": "{\"purpose\": \"test\"}"}),
            );
            assert_eq!(v["KeyId"], json!(id));
            assert_eq!(unb64(v["Plaintext"].as_str().unwrap()), pt);
        }
    }
}

#[test]
fn plaintext_limits() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    let code = |pt: String| kms.code("Encrypt", json!({"KeyId": id, "Plaintext": pt}));
    assert_eq!(
        code(b64(&[0u8; 4097])),
        "InvalidParameterValue.InvalidPlaintext"
    );
    assert_eq!(
        code(String::new()),
        "InvalidParameterValue.InvalidPlaintext"
    );
    assert_eq!(
        code("not base64!".into()),
        "InvalidParameterValue.InvalidPlaintext"
    );
    assert_eq!(
        kms.code("Encrypt", json!({"KeyId": id})),
        "MissingParameter"
    );
    assert_eq!(
        kms.code("Encrypt", json!({"KeyId": id, "Plaintext": 5})),
        "InvalidParameter"
    );
}

#[test]
fn context_is_bound_canonically() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    let blob = kms.encrypt(&id, b"pt", Some(r#"{"a":"1","b":"2"}"#));
    // Key order and whitespace do not matter, Python's ", " separators and \u escapes are fine.
    assert_eq!(
        kms.decrypt(&blob, Some("{\"b\": \"2\", \"a\": \"1\"}"))
            .unwrap(),
        b"pt"
    );
    assert_eq!(
        kms.decrypt(&blob, Some(r#"{"\u0062":"2","a":"\u0031"}"#))
            .unwrap(),
        b"pt"
    );
    for wrong in [
        None,
        Some("{}"),
        Some(r#"{"a":"1"}"#),
        Some(r#"{"a":"1","b":"3"}"#),
    ] {
        assert_eq!(
            kms.decrypt(&blob, wrong).unwrap_err().code,
            "InvalidParameterValue.InvalidCiphertext"
        );
    }
    let split = kms.encrypt(&id, b"pt", Some(r#"{"ab":"c"}"#));
    assert_eq!(
        kms.decrypt(&split, Some(r#"{"a":"bc"}"#)).unwrap_err().code,
        "InvalidParameterValue.InvalidCiphertext"
    );
    // Absent, empty and {} are all the empty context.
    let none = kms.encrypt(&id, b"pt", None);
    assert_eq!(kms.decrypt(&none, Some("{}")).unwrap(), b"pt");
    assert_eq!(kms.decrypt(&none, Some("")).unwrap(), b"pt");
    let long = format!(r#"{{"k":"{}"}}"#, "v".repeat(1100));
    assert_eq!(
        kms.code(
            "Encrypt",
            json!({"KeyId": id, "Plaintext": "aGk=", "EncryptionContext": long})
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        kms.code(
            "Encrypt",
            json!({"KeyId": id, "Plaintext": "aGk=", "EncryptionContext": "nope"})
        ),
        "InvalidParameterValue"
    );
}

#[test]
fn tampered_or_foreign_blobs_are_invalid_ciphertext_never_a_panic() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    let blob = kms.encrypt(&id, b"secret message", None);
    let parts: Vec<&str> = blob.split("-k-").collect();
    let header_len = unb64(parts[0]).len();
    // Flip every bit position of every byte in every part.
    for (part_index, part) in parts.iter().enumerate() {
        let bytes = unb64(part);
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x01;
            let mut new_parts: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
            new_parts[part_index] = b64(&tampered);
            let err = kms.decrypt(&new_parts.join("-k-"), None).unwrap_err();
            // A flipped byte inside the header's key id may still spell a valid but unknown id.
            let in_key_id = part_index == 0 && (5..5 + 36).contains(&i);
            if in_key_id && err.code == "ResourceUnavailable.CmkNotFound" {
                continue;
            }
            assert_eq!(
                err.code, "InvalidParameterValue.InvalidCiphertext",
                "part {part_index} byte {i} of {header_len}"
            );
        }
    }
    for junk in [
        "",
        "AAAA",
        "a-k-b-k-c",
        &blob[..blob.len() - 4],
        &format!("{blob}-k-AAAA"),
        "é-k-é-k-é",
    ] {
        assert_eq!(
            kms.decrypt(junk, None).unwrap_err().code,
            "InvalidParameterValue.InvalidCiphertext",
            "{junk}"
        );
    }
    // A blob from another HSM instance naming a key this one does not have.
    let other = Kms::new();
    let foreign = other.encrypt(&other.create_sym("k"), b"x", None);
    assert_eq!(
        kms.decrypt(&foreign, None).unwrap_err().code,
        "ResourceUnavailable.CmkNotFound"
    );
}

#[test]
fn re_encrypt() {
    let kms = Kms::new();
    let a = kms.create_sym("a");
    let b = kms.create_sym("b");
    let blob = kms.encrypt(&a, b"moving", Some(r#"{"x":"1"}"#));
    // Same key, same version, same context: nothing changes.
    let v = kms.ok("ReEncrypt", json!({"CiphertextBlob": blob, "SourceEncryptionContext": r#"{"x":"1"}"#, "DestinationEncryptionContext": r#"{"x":"1"}"#}));
    assert_eq!(v["ReEncrypted"], false);
    assert_eq!(v["CiphertextBlob"], json!(blob));
    assert_eq!(v["SourceKeyId"], json!(a));
    // Another key.
    let v = kms.ok("ReEncrypt", json!({"CiphertextBlob": blob, "DestinationKeyId": b, "SourceEncryptionContext": r#"{"x":"1"}"#}));
    assert_eq!(v["ReEncrypted"], true);
    assert_eq!(v["KeyId"], json!(b));
    let moved = v["CiphertextBlob"].as_str().unwrap();
    assert_eq!(kms.decrypt(moved, None).unwrap(), b"moving");
    // Wrong source context.
    assert_eq!(
        kms.code("ReEncrypt", json!({"CiphertextBlob": blob})),
        "InvalidParameterValue.InvalidCiphertext"
    );
    // Destination archived.
    kms.ok("ArchiveKey", json!({"KeyId": b}));
    assert_eq!(
        kms.code("ReEncrypt", json!({"CiphertextBlob": blob, "DestinationKeyId": b, "SourceEncryptionContext": r#"{"x":"1"}"#})),
        "ResourceUnavailable.CmkArchived"
    );
    // Archived source still re-encrypts to an enabled destination.
    let from_archived = kms.encrypt(&a, b"old", None);
    kms.ok("ArchiveKey", json!({"KeyId": a}));
    let c = kms.create_sym("c");
    let v = kms.ok(
        "ReEncrypt",
        json!({"CiphertextBlob": from_archived, "DestinationKeyId": c}),
    );
    assert_eq!(
        kms.decrypt(v["CiphertextBlob"].as_str().unwrap(), None)
            .unwrap(),
        b"old"
    );
    // After a rotation, the same key re-encrypts to the new version.
    let d = kms.create_sym("d");
    let old = kms.encrypt(&d, b"rot", None);
    kms.ok("EnableKeyRotation", json!({"KeyId": d}));
    kms.ok("RotateKey", json!({"KeyId": d}));
    let v = kms.ok("ReEncrypt", json!({"CiphertextBlob": old}));
    assert_eq!(v["ReEncrypted"], true);
    assert_ne!(v["CiphertextBlob"], json!(old));
}

#[test]
fn generate_data_key_and_random() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    for (params, len) in [
        (json!({"KeyId": id, "KeySpec": "AES_128"}), 16),
        (json!({"KeyId": id, "KeySpec": "AES_256"}), 32),
        (json!({"KeyId": id, "NumberOfBytes": 1}), 1),
        (
            json!({"KeyId": id, "NumberOfBytes": 1024, "KeySpec": "AES_128"}),
            1024,
        ),
    ] {
        let v = kms.ok("GenerateDataKey", params);
        let plaintext = unb64(v["Plaintext"].as_str().unwrap());
        assert_eq!(plaintext.len(), len);
        assert_eq!(
            kms.decrypt(v["CiphertextBlob"].as_str().unwrap(), None)
                .unwrap(),
            plaintext
        );
    }
    let v = kms.ok(
        "GenerateDataKey",
        json!({"KeyId": id, "KeySpec": "AES_256", "EncryptionContext": r#"{"f":"1"}"#}),
    );
    assert!(
        kms.decrypt(v["CiphertextBlob"].as_str().unwrap(), None)
            .is_err()
    );
    for bad in [
        json!({"KeyId": id}),
        json!({"KeyId": id, "NumberOfBytes": 0}),
        json!({"KeyId": id, "NumberOfBytes": 1025}),
        json!({"KeyId": id, "KeySpec": "AES_512"}),
    ] {
        assert_eq!(kms.code("GenerateDataKey", bad), "InvalidParameter");
    }
    assert_eq!(
        kms.code(
            "GenerateDataKey",
            json!({"KeyId": id, "KeySpec": "AES_256", "IsHostedByKms": 1})
        ),
        "MissingParameter",
        "a hosted data key needs its DataKeyName (tests/datakeys.rs)"
    );
    let r1 = unb64(
        kms.ok("GenerateRandom", json!({"NumberOfBytes": 32}))["Plaintext"]
            .as_str()
            .unwrap(),
    );
    let r2 = unb64(
        kms.ok("GenerateRandom", json!({"NumberOfBytes": 32}))["Plaintext"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(r1.len(), 32);
    assert_ne!(r1, r2);
    assert_eq!(
        kms.code("GenerateRandom", json!({"NumberOfBytes": 0})),
        "InvalidParameter"
    );
    assert_eq!(
        kms.code("GenerateRandom", json!({"NumberOfBytes": 1025})),
        "InvalidParameter"
    );
    assert_eq!(kms.code("GenerateRandom", json!({})), "MissingParameter");
}

#[test]
fn asymmetric_keys_refuse_symmetric_operations() {
    let kms = Kms::new();
    let id = kms.create("rsa", "ASYMMETRIC_DECRYPT_RSA_2048");
    assert_eq!(
        kms.code("Encrypt", json!({"KeyId": id, "Plaintext": "aGk="})),
        "InvalidParameterValue.InvalidKeyUsage"
    );
    let sym = kms.create_sym("sym");
    assert_eq!(
        kms.code("GetPublicKey", json!({"KeyId": sym})),
        "InvalidParameterValue.InvalidKeyUsage"
    );
}

#[test]
fn dispatch_edge_cases() {
    let kms = Kms::new();
    assert_eq!(kms.code("NoSuchAction", json!({})), "InvalidAction");
    // Cloud-resource bindings are implemented (tests/bindings.rs): an empty call lacks its KeyId.
    assert_eq!(kms.code("BindCloudResource", json!({})), "MissingParameter");
    // Hosted data keys are implemented (tests/datakeys.rs): an empty call lacks its DataKeyId.
    assert_eq!(
        kms.code("GetDataKeyPlaintext", json!({})),
        "MissingParameter"
    );
    let body = br#"not json"#;
    let e = kms.hsm.dispatch_raw(&kms.ctx, "DescribeKey", body);
    assert_eq!(e.unwrap_err().code, "InvalidParameter");
    // A wrong type never echoes the value (it may be a secret).
    let e = kms
        .call(
            "Encrypt",
            json!({"KeyId": "x", "Plaintext": ["c2VjcmV0LXBsYWludGV4dA=="]}),
        )
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameter");
    assert!(!e.message.contains("c2VjcmV0"), "{}", e.message);
    // Parameterless actions accept an empty body.
    assert_eq!(
        kms.hsm
            .dispatch_raw(&kms.ctx, "GetServiceStatus", b"")
            .unwrap()["ServiceEnabled"],
        true
    );
    let regions = kms.ok("GetRegions", json!({}));
    assert!(
        regions["Regions"]
            .as_array()
            .unwrap()
            .contains(&json!("ap-guangzhou"))
    );
    let algs = kms.ok("ListAlgorithms", json!({}));
    assert_eq!(algs["SymmetricAlgorithms"][0]["Algorithm"], "SM4");
    assert_eq!(
        kms.region("ap-tokyo").ok("ListAlgorithms", json!({}))["SymmetricAlgorithms"][0]["Algorithm"],
        "AES_256"
    );
    // Python's json.dumps layout.
    let python = b"{\"Alias\": \"py\", \"Description\": \"\\u4e2d\\u6587\"}";
    let v = kms.hsm.dispatch_raw(&kms.ctx, "CreateKey", python).unwrap();
    assert_eq!(v["Description"], "中文");
}

#[test]
fn symmetric_policy_overrides_region() {
    let kms = Kms::open(HsmConfig::in_memory().with_symmetric(SymmetricPolicy::AlwaysAes256));
    let id = kms.create_sym("k");
    assert_eq!(kms.meta(&id)["Type"], 2);
    let kms = Kms::open(
        HsmConfig::in_memory()
            .with_symmetric(SymmetricPolicy::AlwaysSm4)
            .with_default_region("ap-tokyo"),
    );
    let id = kms.create_sym("k");
    assert_eq!(kms.meta(&id)["Type"], 4);
}

#[test]
fn kms_core_client_works_over_in_process() {
    let hsm = Arc::new(Hsm::open(HsmConfig::in_memory()).unwrap());
    let client = InProcess::new(hsm.clone());
    let kms = Kms::with(hsm);
    let id = kms.create_sym("client");
    let summary = client.describe_key(&id).unwrap();
    assert_eq!(
        (
            summary.key_id.as_str(),
            summary.key_state.as_str(),
            summary.key_type
        ),
        (id.as_str(), "Enabled", 4)
    );
    let dk = client
        .generate_data_key(&id, 32, Some(r#"{"app":"x"}"#))
        .unwrap();
    assert_eq!(dk.plaintext.len(), 32);
    let opened = client
        .decrypt(&dk.ciphertext_blob, Some(r#"{"app":"x"}"#))
        .unwrap();
    assert_eq!(
        opened.plaintext.expose_secret(),
        dk.plaintext.expose_secret()
    );
    assert_eq!(opened.key_id, id);
    let blob = client.encrypt(&id, b"hello", None).unwrap();
    assert_eq!(
        client
            .decrypt(&blob, None)
            .unwrap()
            .plaintext
            .expose_secret(),
        b"hello"
    );
    let err = client.decrypt(&blob, Some(r#"{"app":"y"}"#)).unwrap_err();
    assert_eq!(err.code, "InvalidParameterValue.InvalidCiphertext");
    assert!(err.request_id.is_some());
    let rsa = kms.create("rsa", "ASYMMETRIC_DECRYPT_RSA_2048");
    let public = client.get_public_key(&rsa).unwrap();
    assert!(public.pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert_eq!(
        client
            .in_region("ap-shanghai")
            .describe_key(&id)
            .unwrap_err()
            .code,
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(
        client.as_account(7).describe_key(&id).unwrap_err().code,
        "ResourceUnavailable.CmkNotFound"
    );
}
