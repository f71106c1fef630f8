//! White-box keys (docs/whitebox.md): every action, its limits, state rules and error codes,
//! persistence, and EncryptByWhiteBox output decrypted with the handed-out DecryptKey by the
//! RustCrypto AES and SM4 block ciphers.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/kms.rs"]
mod support;

use cipher::{BlockCipherDecrypt, KeyInit};
use mock_hsm::HsmConfig;
use serde_json::{Value, json};
use support::{Kms, UIN, b64, unb64};

const FP: &str = "0123abcd-0123456789abcd-0123456789abcd-0123456789abcd-0123456789abcdef";

fn create(kms: &Kms, alias: &str, algorithm: &str) -> Value {
    kms.ok(
        "CreateWhiteBoxKey",
        json!({"Alias": alias, "Algorithm": algorithm}),
    )
}

fn id(v: &Value) -> String {
    v["KeyId"].as_str().unwrap().to_owned()
}

/// The raw key inside an encoded EncryptKey/DecryptKey, after checking its header.
fn raw_key(encoded: &str, role: u8, algorithm: u8) -> Vec<u8> {
    let bytes = unb64(encoded);
    assert_eq!(&bytes[..4], b"TKWB");
    assert_eq!(
        bytes[4..8],
        [1, role, algorithm, 1],
        "version, role, algorithm, mode"
    );
    bytes[8..].to_vec()
}

/// CBC decryption with a reference block cipher, then PKCS#7 unpadding.
fn cbc_decrypt<C: BlockCipherDecrypt + KeyInit>(key: &[u8], iv: &[u8], ct: &[u8]) -> Vec<u8> {
    assert_eq!(ct.len() % 16, 0);
    let cipher = C::new_from_slice(key).unwrap();
    let mut chain = iv.to_vec();
    let mut out = Vec::new();
    for block in ct.chunks(16) {
        let mut b = cipher::Array::try_from(block).unwrap();
        cipher.decrypt_block(&mut b);
        out.extend(b.iter().zip(&chain).map(|(x, c)| x ^ c));
        chain = block.to_vec();
    }
    let pad = *out.last().unwrap() as usize;
    assert!((1..=16).contains(&pad));
    assert!(out[out.len() - pad..].iter().all(|&b| b as usize == pad));
    out.truncate(out.len() - pad);
    out
}

fn encrypt(kms: &Kms, key_id: &str, plaintext: &[u8], iv: Option<&[u8]>) -> (Vec<u8>, Vec<u8>) {
    let mut p = json!({"KeyId": key_id, "PlainText": b64(plaintext)});
    if let Some(iv) = iv {
        p["InitializationVector"] = json!(b64(iv));
    }
    let v = kms.ok("EncryptByWhiteBox", p);
    (
        unb64(v["InitializationVector"].as_str().unwrap()),
        unb64(v["CipherText"].as_str().unwrap()),
    )
}

#[test]
fn aes_and_sm4_ciphertexts_decrypt_with_the_handed_out_decrypt_key() {
    let kms = Kms::new();
    for (algorithm, code, len) in [("AES_256", 1u8, 32usize), ("SM4", 2, 16)] {
        let created = create(&kms, &format!("wb-{code}"), algorithm);
        let key_id = id(&created);
        assert_eq!(created["TagCode"], 0);
        let enc = raw_key(created["EncryptKey"].as_str().unwrap(), b'E', code);
        let dec = raw_key(created["DecryptKey"].as_str().unwrap(), b'D', code);
        assert_eq!((enc.len(), dec.len()), (len, len));
        assert_eq!(enc, dec, "CBC is symmetric: both halves hold the key");
        let fetched = kms.ok("DescribeWhiteBoxDecryptKey", json!({"KeyId": key_id}));
        assert_eq!(fetched["DecryptKey"], created["DecryptKey"]);

        for plaintext in [&b"x"[..], &[7u8; 16], &[9u8; 4096]] {
            let (iv, ct) = encrypt(&kms, &key_id, plaintext, Some(&[0x11; 16]));
            assert_eq!(iv, [0x11; 16], "a given IV comes back as sent");
            assert_eq!(ct.len(), (plaintext.len() / 16 + 1) * 16, "PKCS#7 padding");
            let clear = match algorithm {
                "AES_256" => cbc_decrypt::<aes::Aes256>(&dec, &iv, &ct),
                _ => cbc_decrypt::<sm4::Sm4>(&dec, &iv, &ct),
            };
            assert_eq!(clear, plaintext);
        }
        // Without an IV the mock makes a fresh random one each time.
        let (iv1, ct1) = encrypt(&kms, &key_id, b"same", None);
        let (iv2, ct2) = encrypt(&kms, &key_id, b"same", None);
        assert_eq!(iv1.len(), 16);
        assert_ne!(iv1, iv2);
        assert_ne!(ct1, ct2);
        let clear = match algorithm {
            "AES_256" => cbc_decrypt::<aes::Aes256>(&dec, &iv2, &ct2),
            _ => cbc_decrypt::<sm4::Sm4>(&dec, &iv2, &ct2),
        };
        assert_eq!(clear, b"same");
    }
}

#[test]
fn describe_shows_the_whitebox_key_info() {
    let kms = Kms::new();
    let created = kms.ok(
        "CreateWhiteBoxKey",
        json!({"Alias": "info", "Algorithm": "SM4", "Description": "d",
               "Tags": [{"TagKey": "env", "TagValue": "test"}]}),
    );
    let key_id = id(&created);
    let info = &kms.ok("DescribeWhiteBoxKey", json!({"KeyId": key_id}))["KeyInfo"];
    assert_eq!(info["KeyId"], key_id.as_str());
    assert_eq!(info["Alias"], "info");
    assert_eq!(info["Description"], "d");
    assert_eq!(info["Status"], "Enabled");
    assert_eq!(info["Algorithm"], "SM4");
    assert_eq!(info["CreatorUin"], UIN);
    assert_eq!(info["OwnerUin"], UIN);
    assert_eq!(info["ResourceId"], format!("creatorUin/{UIN}/{key_id}"));
    assert_eq!(info["DeviceFingerprintBind"], false);
    assert_eq!(info["EncryptKey"], created["EncryptKey"]);
    assert_eq!(info["DecryptKey"], created["DecryptKey"]);
    assert_eq!(info["CreateTime"], kms.hsm.now());
    // CAM sees the white-box key as a resource of its owner, with its tags.
    let resource = kms.hsm.key_resource(&key_id).unwrap();
    assert_eq!(resource.owner_uin, UIN);
    assert_eq!(resource.region, "ap-guangzhou");
    assert_eq!(resource.tags, [("env".to_owned(), "test".to_owned())]);
    assert_eq!(
        kms.ok("DescribeWhiteBoxServiceStatus", json!({}))["ServiceEnabled"],
        true
    );
}

#[test]
fn create_validation_and_the_limit_of_50() {
    let kms = Kms::new();
    let code = |p: Value| kms.code("CreateWhiteBoxKey", p);
    assert_eq!(code(json!({"Alias": "a"})), "MissingParameter");
    assert_eq!(code(json!({"Algorithm": "SM4"})), "MissingParameter");
    assert_eq!(
        code(json!({"Alias": "a", "Algorithm": "AES_128"})),
        "InvalidParameterValue"
    );
    assert_eq!(
        code(json!({"Alias": "a", "Algorithm": "RSA_2048"})),
        "InvalidParameterValue"
    );
    assert_eq!(
        code(json!({"Alias": "a b", "Algorithm": "SM4"})),
        "InvalidParameterValue.InvalidAlias"
    );
    assert_eq!(
        code(json!({"Alias": "a", "Algorithm": "SM4",
                    "Tags": [{"TagKey": "k", "TagValue": "1"}, {"TagKey": "k", "TagValue": "2"}]})),
        "InvalidParameterValue.TagKeysDuplicated"
    );
    // A CMK's alias does not clash with a white-box key's.
    kms.create_sym("shared");
    create(&kms, "shared", "SM4");
    assert_eq!(
        code(json!({"Alias": "shared", "Algorithm": "AES_256"})),
        "InvalidParameterValue.AliasAlreadyExists"
    );
    let mut ids = vec![];
    for i in 1..50 {
        ids.push(id(&create(&kms, &format!("k{i}"), "AES_256")));
    }
    assert_eq!(
        code(json!({"Alias": "k50", "Algorithm": "SM4"})),
        "LimitExceeded.KeyLimitExceeded"
    );
    // The limit is per account and region.
    create(&kms.region("ap-shanghai"), "k50", "SM4");
    create(&kms.account(42), "k50", "SM4");
    // A deleted key no longer counts, and its alias is free.
    kms.ok("DisableWhiteBoxKey", json!({"KeyId": ids[0]}));
    kms.ok("DeleteWhiteBoxKey", json!({"KeyId": ids[0]}));
    create(&kms, "k1", "SM4");
}

#[test]
fn disabled_keys_refuse_encryption_and_only_disabled_keys_delete() {
    let kms = Kms::new();
    let key_id = id(&create(&kms, "st", "AES_256"));
    let plain = json!({"KeyId": key_id, "PlainText": b64(b"p")});
    kms.ok("DisableWhiteBoxKey", json!({"KeyId": key_id}));
    kms.ok("DisableWhiteBoxKey", json!({"KeyId": key_id})); // repeats are accepted
    assert_eq!(
        kms.code("EncryptByWhiteBox", plain.clone()),
        "ResourceUnavailable.KeyDisabled"
    );
    let info = &kms.ok("DescribeWhiteBoxKey", json!({"KeyId": key_id}))["KeyInfo"];
    assert_eq!(info["Status"], "Disabled");
    kms.ok("DescribeWhiteBoxDecryptKey", json!({"KeyId": key_id}));
    kms.ok("EnableWhiteBoxKey", json!({"KeyId": key_id}));
    kms.ok("EncryptByWhiteBox", plain.clone());
    assert_eq!(
        kms.code("DeleteWhiteBoxKey", json!({"KeyId": key_id})),
        "FailedOperation",
        "an enabled key is not deleted"
    );
    kms.ok("DisableWhiteBoxKey", json!({"KeyId": key_id}));
    kms.ok("DeleteWhiteBoxKey", json!({"KeyId": key_id}));
    for action in [
        "DescribeWhiteBoxKey",
        "DescribeWhiteBoxDecryptKey",
        "DescribeWhiteBoxDeviceFingerprints",
        "EnableWhiteBoxKey",
        "DisableWhiteBoxKey",
        "DeleteWhiteBoxKey",
    ] {
        assert_eq!(
            kms.code(action, json!({"KeyId": key_id})),
            "ResourceNotFound",
            "{action}"
        );
        assert_eq!(
            kms.code(action, json!({"KeyId": "not-an-id"})),
            "InvalidParameterValue.InvalidKeyId",
            "{action}"
        );
    }
    assert_eq!(kms.code("EncryptByWhiteBox", plain), "ResourceNotFound");
}

#[test]
fn keys_of_another_account_or_region_are_not_found() {
    let kms = Kms::new();
    let key_id = id(&create(&kms, "mine", "SM4"));
    for other in [kms.account(42), kms.region("ap-shanghai")] {
        assert_eq!(
            other.code("DescribeWhiteBoxKey", json!({"KeyId": key_id})),
            "ResourceNotFound"
        );
        assert_eq!(
            other.code(
                "EncryptByWhiteBox",
                json!({"KeyId": key_id, "PlainText": "eA=="})
            ),
            "ResourceNotFound"
        );
    }
}

#[test]
fn batch_enable_and_disable_are_all_or_nothing() {
    let kms = Kms::new();
    let a = id(&create(&kms, "a", "SM4"));
    let b = id(&create(&kms, "b", "SM4"));
    kms.ok("DisableWhiteBoxKeys", json!({"KeyIds": [a, b]}));
    let status = |k: &str| {
        kms.ok("DescribeWhiteBoxKey", json!({"KeyId": k}))["KeyInfo"]["Status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        (status(&a), status(&b)),
        ("Disabled".into(), "Disabled".into())
    );
    let unknown = "0e7f2f6e-9c1b-4c2d-8a8e-1f2a3b4c5d6e";
    assert_eq!(
        kms.code("EnableWhiteBoxKeys", json!({"KeyIds": [a, unknown]})),
        "ResourceNotFound"
    );
    assert_eq!(status(&a), "Disabled", "nothing changed");
    assert_eq!(
        kms.code("EnableWhiteBoxKeys", json!({"KeyIds": [a, a]})),
        "InvalidParameterValue.DuplicatedKeyId"
    );
    assert_eq!(
        kms.code("EnableWhiteBoxKeys", json!({"KeyIds": [a, "x"]})),
        "InvalidParameterValue.InvalidKeyId"
    );
    assert_eq!(
        kms.code("DisableWhiteBoxKeys", json!({"KeyIds": []})),
        "InvalidParameter"
    );
    let many: Vec<String> = (0..51)
        .map(|i| format!("0e7f2f6e-9c1b-4c2d-8a8e-1f2a3b4c{i:04x}"))
        .collect();
    assert_eq!(
        kms.code("DisableWhiteBoxKeys", json!({"KeyIds": many})),
        "InvalidParameter"
    );
    kms.ok("EnableWhiteBoxKeys", json!({"KeyIds": [b, a]}));
    assert_eq!(
        (status(&a), status(&b)),
        ("Enabled".into(), "Enabled".into())
    );
}

#[test]
fn details_filter_by_status_and_tags_and_page() {
    let kms = Kms::new();
    let mut ids = vec![];
    for i in 0..5 {
        let tags = json!([{"TagKey": "team", "TagValue": if i % 2 == 0 { "even" } else { "odd" }}]);
        let v = kms.ok(
            "CreateWhiteBoxKey",
            json!({"Alias": format!("d{i}"), "Algorithm": "SM4", "Tags": tags}),
        );
        ids.push(id(&v));
        kms.clock().advance(1);
    }
    kms.ok("DisableWhiteBoxKeys", json!({"KeyIds": [ids[1], ids[2]]}));
    let list = |p: Value| {
        let v = kms.ok("DescribeWhiteBoxKeyDetails", p);
        let got: Vec<String> = v["KeyInfos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["KeyId"].as_str().unwrap().to_owned())
            .collect();
        (v["TotalCount"].as_u64().unwrap(), got)
    };
    assert_eq!(
        list(json!({})),
        (5, ids.clone()),
        "oldest first, Limit 0 = all"
    );
    assert_eq!(list(json!({"KeyStatus": 0})), (2, ids[1..3].to_vec()));
    assert_eq!(
        list(json!({"KeyStatus": 1})),
        (3, vec![ids[0].clone(), ids[3].clone(), ids[4].clone()])
    );
    assert_eq!(
        list(json!({"TagFilters": [{"TagKey": "team", "TagValue": ["odd"]}]})),
        (2, vec![ids[1].clone(), ids[3].clone()])
    );
    assert_eq!(
        list(json!({"KeyStatus": 1, "TagFilters": [{"TagKey": "team", "TagValue": ["even"]}]})),
        (2, vec![ids[0].clone(), ids[4].clone()])
    );
    assert_eq!(
        list(json!({"TagFilters": [{"TagKey": "none"}]})),
        (0, vec![])
    );
    assert_eq!(
        list(json!({"Offset": 1, "Limit": 2})),
        (5, ids[1..3].to_vec())
    );
    assert_eq!(
        list(json!({"Offset": "4", "Limit": "10"})),
        (5, ids[4..].to_vec())
    );
    assert_eq!(list(json!({"Offset": 9})), (5, vec![]));
    assert_eq!(list(json!({"KeyStatus": "0"})), (2, ids[1..3].to_vec()));
    for bad in [json!(2), json!(-1), json!("x"), json!(true)] {
        assert_eq!(
            kms.code("DescribeWhiteBoxKeyDetails", json!({"KeyStatus": bad})),
            "InvalidParameterValue"
        );
    }
    // Other accounts see none of them.
    assert_eq!(
        kms.account(42).ok("DescribeWhiteBoxKeyDetails", json!({}))["TotalCount"],
        0
    );
}

#[test]
fn encrypt_by_whitebox_validation() {
    let kms = Kms::new();
    let key_id = id(&create(&kms, "v", "AES_256"));
    let code = |p: Value| kms.code("EncryptByWhiteBox", p);
    assert_eq!(code(json!({"KeyId": key_id})), "MissingParameter");
    assert_eq!(
        code(json!({"KeyId": key_id, "PlainText": "%%%"})),
        "InvalidParameterValue"
    );
    assert_eq!(
        code(json!({"KeyId": key_id, "PlainText": ""})),
        "InvalidParameterValue"
    );
    assert_eq!(
        code(json!({"KeyId": key_id, "PlainText": b64(&[0; 4097])})),
        "InvalidParameterValue"
    );
    for iv in [b64(&[0; 15]), b64(&[0; 17]), "***".to_owned()] {
        assert_eq!(
            code(json!({"KeyId": key_id, "PlainText": "eA==", "InitializationVector": iv})),
            "InvalidParameterValue"
        );
    }
    assert_eq!(
        code(json!({"KeyId": "x", "PlainText": "eA=="})),
        "InvalidParameterValue.InvalidKeyId"
    );
    // An empty IV is an absent one: a random IV is made.
    let v = kms.ok(
        "EncryptByWhiteBox",
        json!({"KeyId": key_id, "PlainText": "eA==", "InitializationVector": ""}),
    );
    assert_eq!(unb64(v["InitializationVector"].as_str().unwrap()).len(), 16);
}

#[test]
fn device_fingerprints_are_overwritten_and_limited() {
    let kms = Kms::new();
    let key_id = id(&create(&kms, "fp", "SM4"));
    let fps = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"Identity": format!("{}{:016x}", &FP[..FP.len() - 16], i), "Description": format!("device {i}")}))
            .collect()
    };
    let read = || {
        kms.ok(
            "DescribeWhiteBoxDeviceFingerprints",
            json!({"KeyId": key_id}),
        )["DeviceFingerprints"]
            .clone()
    };
    let bound = || {
        kms.ok("DescribeWhiteBoxKey", json!({"KeyId": key_id}))["KeyInfo"]["DeviceFingerprintBind"]
            .clone()
    };
    assert_eq!(read(), json!([]));
    kms.ok(
        "OverwriteWhiteBoxDeviceFingerprints",
        json!({"KeyId": key_id, "DeviceFingerprints": fps(3)}),
    );
    assert_eq!(read(), json!(fps(3)), "in the order written");
    assert_eq!(bound(), true);
    kms.ok(
        "OverwriteWhiteBoxDeviceFingerprints",
        json!({"KeyId": key_id, "DeviceFingerprints": fps(200)}),
    );
    assert_eq!(read().as_array().unwrap().len(), 200);
    assert_eq!(
        kms.code(
            "OverwriteWhiteBoxDeviceFingerprints",
            json!({"KeyId": key_id, "DeviceFingerprints": fps(201)})
        ),
        "LimitExceeded.FingerprintsLimitExceeded"
    );
    assert_eq!(
        read().as_array().unwrap().len(),
        200,
        "a refused overwrite changes nothing"
    );
    for bad in [
        json!([{"Identity": FP.to_uppercase()}]),
        json!([{"Identity": "abc"}]),
        json!([{"Identity": FP, "Description": "d".repeat(1025)}]),
        json!([{"Identity": FP}, {"Identity": FP}]),
    ] {
        assert_eq!(
            kms.code(
                "OverwriteWhiteBoxDeviceFingerprints",
                json!({"KeyId": key_id, "DeviceFingerprints": bad})
            ),
            "InvalidParameterValue"
        );
    }
    // A disabled key still takes fingerprints; an empty list removes them all.
    kms.ok("DisableWhiteBoxKey", json!({"KeyId": key_id}));
    kms.ok(
        "OverwriteWhiteBoxDeviceFingerprints",
        json!({"KeyId": key_id}),
    );
    assert_eq!(read(), json!([]));
    assert_eq!(bound(), false);
    assert_eq!(
        kms.code(
            "OverwriteWhiteBoxDeviceFingerprints",
            json!({"KeyId": "0e7f2f6e-9c1b-4c2d-8a8e-1f2a3b4c5d6e", "DeviceFingerprints": fps(1)})
        ),
        "ResourceNotFound"
    );
}

#[test]
fn whitebox_keys_persist_sealed_and_reset_wipes_them() {
    let dir = tempfile::tempdir().unwrap();
    let (key_id, decrypt_key, fps);
    {
        let kms = Kms::open(HsmConfig::directory(dir.path()));
        let v = create(&kms, "kept", "AES_256");
        key_id = id(&v);
        decrypt_key = v["DecryptKey"].as_str().unwrap().to_owned();
        fps = json!([{"Identity": FP, "Description": "phone"}]);
        kms.ok(
            "OverwriteWhiteBoxDeviceFingerprints",
            json!({"KeyId": key_id, "DeviceFingerprints": fps}),
        );
        kms.ok("DisableWhiteBoxKey", json!({"KeyId": key_id}));
    }
    // The raw key appears nowhere in the store's files, in any encoding it is handed out in.
    let raw = raw_key(&decrypt_key, b'D', 1);
    let needles = [
        raw.clone(),
        hex::encode(&raw).into_bytes(),
        decrypt_key.as_bytes().to_vec(),
    ];
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "root.key" {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == &needle[..]),
                "white-box key in clear in {}",
                path.display()
            );
        }
    }
    let kms = Kms::open(HsmConfig::directory(dir.path()));
    let info = &kms.ok("DescribeWhiteBoxKey", json!({"KeyId": key_id}))["KeyInfo"];
    assert_eq!(info["Status"], "Disabled");
    assert_eq!(info["DecryptKey"], decrypt_key.as_str());
    assert_eq!(
        kms.ok(
            "DescribeWhiteBoxDeviceFingerprints",
            json!({"KeyId": key_id})
        )["DeviceFingerprints"],
        fps
    );
    kms.ok("EnableWhiteBoxKey", json!({"KeyId": key_id}));
    let (iv, ct) = encrypt(&kms, &key_id, b"after reopen", None);
    assert_eq!(cbc_decrypt::<aes::Aes256>(&raw, &iv, &ct), b"after reopen");
    kms.hsm.reset().unwrap();
    assert_eq!(
        kms.ok("DescribeWhiteBoxKeyDetails", json!({}))["TotalCount"],
        0
    );
}
