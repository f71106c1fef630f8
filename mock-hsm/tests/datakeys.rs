//! Hosted data keys (docs/serve.md "Hosted data keys"): the 15 actions, their state rules and
//! codes, the deletion window on the mock clock, the limit, and persistence across reopening.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/kms.rs"]
mod support;

use mock_hsm::HsmConfig;
use serde_json::{Value, json};
use support::{DAY, Kms, b64, unb64};

/// A hosted data key of `len` bytes under `cmk`: (DataKeyId, plaintext, CiphertextBlob).
fn hosted(kms: &Kms, cmk: &str, name: &str, len: u64) -> (String, Vec<u8>, String) {
    let v = kms.ok(
        "GenerateDataKey",
        json!({"KeyId": cmk, "NumberOfBytes": len, "IsHostedByKms": 1, "DataKeyName": name}),
    );
    (
        v["DataKeyId"].as_str().unwrap().to_owned(),
        unb64(v["Plaintext"].as_str().unwrap()),
        v["CiphertextBlob"].as_str().unwrap().to_owned(),
    )
}

fn plaintext(kms: &Kms, id: &str) -> Vec<u8> {
    unb64(
        kms.ok("GetDataKeyPlaintext", json!({"DataKeyId": id}))["Plaintext"]
            .as_str()
            .unwrap(),
    )
}

fn describe(kms: &Kms, id: &str) -> Value {
    kms.ok("DescribeDataKey", json!({"DataKeyId": id}))["DataKeyMetadata"].clone()
}

#[test]
fn generate_hosted_describe_and_read_back() {
    let kms = Kms::new();
    let cmk = kms.create_sym("cmk");
    let v = kms.ok(
        "GenerateDataKey",
        json!({"KeyId": cmk, "KeySpec": "AES_256", "IsHostedByKms": 1, "DataKeyName": "orders",
               "Description": "for orders", "Tags": [{"TagKey": "env", "TagValue": "prod"}]}),
    );
    let id = v["DataKeyId"].as_str().unwrap();
    let data_key = unb64(v["Plaintext"].as_str().unwrap());
    assert_eq!(data_key.len(), 32);
    assert_eq!(plaintext(&kms, id), data_key);
    // The hosted blob is the one GenerateDataKey answered, and Decrypt opens it.
    let blob = kms.ok("GetDataKeyCiphertextBlob", json!({"DataKeyId": id}))["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(blob, v["CiphertextBlob"].as_str().unwrap());
    assert_eq!(kms.decrypt(&blob, None).unwrap(), data_key);
    let m = describe(&kms, id);
    assert_eq!(m["DataKeyName"], "orders");
    assert_eq!(m["Description"], "for orders");
    assert_eq!(m["KeyId"], cmk.as_str());
    assert_eq!(m["KeyName"], "cmk");
    assert_eq!(m["NumberOfBytes"], 32);
    assert_eq!(m["KeyState"], "Enabled");
    assert_eq!(m["Origin"], "TENCENT_KMS");
    assert_eq!(m["Owner"], "user");
    assert_eq!(m["DeletionDate"], 0);
    assert_eq!(m["ResourceId"], format!("creatorUin/{}/{id}", support::UIN));
    // A plain GenerateDataKey names no DataKeyId.
    let plain = kms.ok(
        "GenerateDataKey",
        json!({"KeyId": cmk, "KeySpec": "AES_128"}),
    );
    assert!(plain.get("DataKeyId").is_none());
}

#[test]
fn generate_hosted_validation() {
    let kms = Kms::new();
    let cmk = kms.create_sym("cmk");
    hosted(&kms, &cmk, "taken", 16);
    let gen_code = |extra: Value| {
        let mut params = json!({"KeyId": cmk, "KeySpec": "AES_256", "IsHostedByKms": 1});
        params
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        kms.code("GenerateDataKey", params)
    };
    assert_eq!(gen_code(json!({})), "MissingParameter");
    assert_eq!(
        gen_code(json!({"DataKeyName": "taken"})),
        "InvalidParameterValue.DataKeyNameAlreadyExists"
    );
    assert_eq!(
        gen_code(json!({"DataKeyName": "a b"})),
        "InvalidParameterValue.InvalidDataKeyName"
    );
    assert_eq!(
        gen_code(json!({"DataKeyName": ""})),
        "InvalidParameterValue.InvalidDataKeyName"
    );
    assert_eq!(
        gen_code(json!({"DataKeyName": "x", "Description": "d".repeat(101)})),
        "InvalidParameter"
    );
    assert_eq!(
        gen_code(json!({"DataKeyName": "x", "IsHostedByKms": 2})),
        "InvalidParameter"
    );
    assert_eq!(
        gen_code(json!({"DataKeyName": "x", "HsmClusterId": "cls-1"})),
        "InvalidParameterValue.InvalidHsmClusterId"
    );
    // Names are unique per account and region only.
    let other = kms.region("ap-shanghai");
    let cmk2 = other.create_sym("cmk");
    hosted(&other, &cmk2, "taken", 16);
    // Nothing refused was stored.
    let all = kms.ok("ListDataKeyDetail", json!({}));
    assert_eq!(all["TotalCount"], 1);
}

#[test]
fn import_both_types() {
    let kms = Kms::new();
    let cmk = kms.create_sym("cmk");
    let other = kms.create_sym("other");
    // ImportType 2: the key in the clear, KeyId required.
    let v = kms.ok(
        "ImportDataKey",
        json!({"DataKeyName": "clear", "ImportKeyMaterial": b64(&[7; 24]), "ImportType": 2, "KeyId": cmk}),
    );
    let id = v["DataKeyId"].as_str().unwrap();
    assert_eq!(v["KeyId"], cmk.as_str());
    assert_eq!(plaintext(&kms, id), [7; 24]);
    let m = describe(&kms, id);
    assert_eq!(
        (m["Origin"].as_str(), m["NumberOfBytes"].as_u64()),
        (Some("EXTERNAL"), Some(24))
    );
    let blob = kms.ok("GetDataKeyCiphertextBlob", json!({"DataKeyId": id}))["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kms.decrypt(&blob, None).unwrap(), [7; 24]);
    assert_eq!(
        kms.code(
            "ImportDataKey",
            json!({"DataKeyName": "x", "ImportKeyMaterial": b64(&[7; 24]), "ImportType": 2})
        ),
        "MissingParameter"
    );
    assert_eq!(
        kms.code(
            "ImportDataKey",
            json!({"DataKeyName": "x", "ImportKeyMaterial": b64(&[7; 1025]), "ImportType": 2, "KeyId": cmk})
        ),
        "InvalidParameterValue.InvalidImportKeyMaterial"
    );
    assert_eq!(
        kms.code(
            "ImportDataKey",
            json!({"DataKeyName": "x", "ImportKeyMaterial": "not base64!", "ImportType": 2, "KeyId": cmk})
        ),
        "InvalidParameterValue.InvalidImportKeyMaterial"
    );
    // ImportType 1: a blob from GenerateDataKey, its CMK found in it, checked against KeyId.
    let g = kms.ok(
        "GenerateDataKey",
        json!({"KeyId": cmk, "KeySpec": "AES_128"}),
    );
    let blob = g["CiphertextBlob"].as_str().unwrap();
    assert_eq!(
        kms.code(
            "ImportDataKey",
            json!({"DataKeyName": "x", "ImportKeyMaterial": blob, "ImportType": 1, "KeyId": other})
        ),
        "InvalidParameterValue.InvalidImportKeyMaterial"
    );
    let v = kms.ok(
        "ImportDataKey",
        json!({"DataKeyName": "wrapped", "ImportKeyMaterial": blob, "ImportType": 1}),
    );
    assert_eq!(v["KeyId"], cmk.as_str());
    let id = v["DataKeyId"].as_str().unwrap();
    assert_eq!(plaintext(&kms, id), unb64(g["Plaintext"].as_str().unwrap()));
    // A blob made with an EncryptionContext, or junk, does not import.
    let with_context = kms.ok(
        "GenerateDataKey",
        json!({"KeyId": cmk, "KeySpec": "AES_128", "EncryptionContext": "{\"a\":\"b\"}"}),
    );
    for junk in [with_context["CiphertextBlob"].as_str().unwrap(), "junk"] {
        assert_eq!(
            kms.code(
                "ImportDataKey",
                json!({"DataKeyName": "x", "ImportKeyMaterial": junk, "ImportType": 1})
            ),
            "InvalidParameterValue.InvalidImportKeyMaterial"
        );
    }
    assert_eq!(
        kms.code(
            "ImportDataKey",
            json!({"DataKeyName": "x", "ImportKeyMaterial": blob, "ImportType": 3})
        ),
        "InvalidParameterValue.InvalidType"
    );
    // A disabled CMK takes no new data key.
    kms.ok("DisableKey", json!({"KeyId": cmk}));
    assert_eq!(
        kms.code(
            "ImportDataKey",
            json!({"DataKeyName": "x", "ImportKeyMaterial": blob, "ImportType": 1})
        ),
        "ResourceUnavailable.CmkDisabled"
    );
}

#[test]
fn data_key_states_and_codes() {
    let kms = Kms::new();
    let cmk = kms.create_sym("cmk");
    let (id, key, _) = hosted(&kms, &cmk, "k", 32);
    // Disabled: no plaintext, no blob; describe and updates still work.
    kms.ok("DisableDataKey", json!({"DataKeyId": id}));
    kms.ok("DisableDataKey", json!({"DataKeyId": id})); // repeats are accepted
    assert_eq!(
        kms.code("GetDataKeyPlaintext", json!({"DataKeyId": id})),
        "ResourceUnavailable.DataKeyDisabled"
    );
    assert_eq!(
        kms.code("GetDataKeyCiphertextBlob", json!({"DataKeyId": id})),
        "ResourceUnavailable.DataKeyStateNotSupport"
    );
    kms.ok(
        "UpdateDataKeyName",
        json!({"DataKeyId": id, "DataKeyName": "renamed"}),
    );
    kms.ok(
        "UpdateDataKeyDescription",
        json!({"DataKeyId": id, "Description": "d2"}),
    );
    let m = describe(&kms, &id);
    assert_eq!(
        (m["DataKeyName"].as_str(), m["Description"].as_str()),
        (Some("renamed"), Some("d2"))
    );
    // Scheduling needs a Disabled data key.
    kms.ok("EnableDataKey", json!({"DataKeyId": id}));
    assert_eq!(
        kms.code(
            "ScheduleDataKeyDeletion",
            json!({"DataKeyId": id, "PendingWindowInDays": 7})
        ),
        "ResourceUnavailable.DataKeyStateNotSupport"
    );
    kms.ok("DisableDataKey", json!({"DataKeyId": id}));
    for days in [6, 31] {
        assert_eq!(
            kms.code(
                "ScheduleDataKeyDeletion",
                json!({"DataKeyId": id, "PendingWindowInDays": days})
            ),
            "InvalidParameter.InvalidPendingWindowInDays"
        );
    }
    let now = kms.hsm.now();
    let v = kms.ok(
        "ScheduleDataKeyDeletion",
        json!({"DataKeyId": id, "PendingWindowInDays": 7}),
    );
    assert_eq!(v["DeletionDate"].as_u64().unwrap(), now + 7 * DAY);
    assert_eq!(v["DataKeyId"], id.as_str());
    assert_eq!(describe(&kms, &id)["KeyState"], "PendingDelete");
    assert_eq!(
        kms.code("GetDataKeyPlaintext", json!({"DataKeyId": id})),
        "ResourceUnavailable.DataKeyPendingDelete"
    );
    for (action, params) in [
        ("EnableDataKey", json!({"DataKeyId": id})),
        ("DisableDataKey", json!({"DataKeyId": id})),
        (
            "UpdateDataKeyName",
            json!({"DataKeyId": id, "DataKeyName": "n"}),
        ),
        (
            "UpdateDataKeyDescription",
            json!({"DataKeyId": id, "Description": "n"}),
        ),
        (
            "ScheduleDataKeyDeletion",
            json!({"DataKeyId": id, "PendingWindowInDays": 7}),
        ),
    ] {
        assert_eq!(
            kms.code(action, params),
            "ResourceUnavailable.DataKeyStateNotSupport",
            "{action}"
        );
    }
    kms.ok("CancelDataKeyDeletion", json!({"DataKeyId": id}));
    assert_eq!(
        kms.code("CancelDataKeyDeletion", json!({"DataKeyId": id})),
        "ResourceUnavailable.DataKeyNotPendingDelete"
    );
    let m = describe(&kms, &id);
    assert_eq!(
        (m["KeyState"].as_str(), m["DeletionDate"].as_u64()),
        (Some("Disabled"), Some(0))
    );
    kms.ok("EnableDataKeys", json!({"DataKeyIds": [id]}));
    assert_eq!(plaintext(&kms, &id), key);
    // Ids: malformed, unknown, duplicated, another account's.
    let unknown = "0e7f2f6e-9c1b-4c2d-8a8e-1f2a3b4c5d6e";
    assert_eq!(
        kms.code("DescribeDataKey", json!({"DataKeyId": "nope"})),
        "InvalidParameterValue.InvalidDataKeyId"
    );
    assert_eq!(
        kms.code("GetDataKeyPlaintext", json!({"DataKeyId": unknown})),
        "ResourceUnavailable.DataKeyNotFound"
    );
    assert_eq!(
        kms.code("DescribeDataKeys", json!({"DataKeyIds": [id, id]})),
        "InvalidParameterValue.DuplicatedDataKeyId"
    );
    assert_eq!(
        kms.code("DescribeDataKeys", json!({"DataKeyIds": []})),
        "InvalidParameterValue"
    );
    assert_eq!(
        kms.account(42)
            .code("DescribeDataKey", json!({"DataKeyId": id})),
        "ResourceUnavailable.DataKeyNotFound"
    );
    // All or nothing: one unknown id disables none.
    assert_eq!(
        kms.code("DisableDataKeys", json!({"DataKeyIds": [id, unknown]})),
        "ResourceUnavailable.DataKeyNotFound"
    );
    assert_eq!(describe(&kms, &id)["KeyState"], "Enabled");
    let (id2, _, _) = hosted(&kms, &cmk, "k2", 16);
    assert_eq!(
        kms.code(
            "UpdateDataKeyName",
            json!({"DataKeyId": id2, "DataKeyName": "renamed"})
        ),
        "InvalidParameterValue.DataKeyNameAlreadyExists"
    );
    let many = kms.ok("DescribeDataKeys", json!({"DataKeyIds": [id2, id]}));
    let names: Vec<_> = many["DataKeyMetadatas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["DataKeyName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["k2", "renamed"]);
}

#[test]
fn a_data_key_follows_its_cmk() {
    let kms = Kms::new();
    let cmk = kms.create_sym("cmk");
    let (id, key, _) = hosted(&kms, &cmk, "k", 32);
    let code = || kms.code("GetDataKeyPlaintext", json!({"DataKeyId": id}));
    kms.ok("DisableKey", json!({"KeyId": cmk}));
    assert_eq!(code(), "ResourceUnavailable.CmkDisabled");
    kms.ok("EnableKey", json!({"KeyId": cmk}));
    kms.ok("ArchiveKey", json!({"KeyId": cmk}));
    assert_eq!(code(), "ResourceUnavailable.CmkArchived");
    kms.ok("CancelKeyArchive", json!({"KeyId": cmk}));
    assert_eq!(plaintext(&kms, &id), key);
    kms.ok("DisableKey", json!({"KeyId": cmk}));
    kms.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": cmk, "PendingWindowInDays": 7}),
    );
    assert_eq!(code(), "ResourceUnavailable.CmkStateNotSupport");
    // A data key cannot be re-enabled under a CMK pending deletion.
    kms.ok("DisableDataKey", json!({"DataKeyId": id}));
    assert_eq!(
        kms.code("EnableDataKey", json!({"DataKeyId": id})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    kms.clock().advance(7 * DAY);
    kms.hsm.run_due_rotations().unwrap();
    assert_eq!(
        kms.code("EnableDataKey", json!({"DataKeyId": id})),
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(describe(&kms, &id)["KeyName"], "", "the CMK is gone");
}

#[test]
fn deletion_window_runs_out_on_the_mock_clock() {
    let kms = Kms::new();
    let cmk = kms.create_sym("cmk");
    let (id, _, _) = hosted(&kms, &cmk, "k", 32);
    kms.ok("DisableDataKey", json!({"DataKeyId": id}));
    kms.ok(
        "ScheduleDataKeyDeletion",
        json!({"DataKeyId": id, "PendingWindowInDays": 7}),
    );
    kms.clock().advance(7 * DAY - 1);
    assert_eq!(kms.hsm.run_due_rotations().unwrap().data_keys_destroyed, 0);
    assert_eq!(describe(&kms, &id)["KeyState"], "PendingDelete");
    kms.clock().advance(1);
    // Gone at once, before the tick runs...
    assert_eq!(
        kms.code("DescribeDataKey", json!({"DataKeyId": id})),
        "ResourceUnavailable.DataKeyNotFound"
    );
    assert_eq!(kms.ok("GetServiceStatus", json!({}))["DataKeyUsedCount"], 0);
    // ...and destroyed by it.
    assert_eq!(kms.hsm.run_due_rotations().unwrap().data_keys_destroyed, 1);
    // The name is free again.
    hosted(&kms, &cmk, "k", 16);
}

#[test]
fn limit_and_service_status() {
    let kms = Kms::open(
        HsmConfig::in_memory()
            .with_mock_clock()
            .with_data_key_limit(2),
    );
    let cmk = kms.create_sym("cmk");
    let s = kms.ok("GetServiceStatus", json!({}));
    assert_eq!(s["IsAllowedDataKeyHosted"], true);
    assert_eq!(s["DataKeyLimit"], 2);
    assert_eq!(s["DataKeyUsedCount"], 0);
    hosted(&kms, &cmk, "a", 16);
    let (b, _, _) = hosted(&kms, &cmk, "b", 16);
    assert_eq!(kms.ok("GetServiceStatus", json!({}))["DataKeyUsedCount"], 2);
    assert_eq!(
        kms.code(
            "GenerateDataKey",
            json!({"KeyId": cmk, "KeySpec": "AES_256", "IsHostedByKms": 1, "DataKeyName": "c"})
        ),
        "LimitExceeded.DataKeyLimitExceeded"
    );
    assert_eq!(
        kms.code(
            "ImportDataKey",
            json!({"DataKeyName": "c", "ImportKeyMaterial": b64(&[1; 16]), "ImportType": 2, "KeyId": cmk})
        ),
        "LimitExceeded.DataKeyLimitExceeded"
    );
    // Keys pending deletion still count; destroyed ones do not.
    kms.ok("DisableDataKey", json!({"DataKeyId": b}));
    kms.ok(
        "ScheduleDataKeyDeletion",
        json!({"DataKeyId": b, "PendingWindowInDays": 7}),
    );
    assert_eq!(kms.ok("GetServiceStatus", json!({}))["DataKeyUsedCount"], 2);
    kms.clock().advance(7 * DAY);
    hosted(&kms, &cmk, "c", 16);
    // The limit is per account and region.
    let other = kms.account(42);
    let cmk2 = other.create_sym("cmk");
    hosted(&other, &cmk2, "a", 16);
}

#[test]
fn list_filters_paging_and_order() {
    let kms = Kms::new();
    let a = kms.create_sym("a");
    let b = kms.create_sym("b");
    let mut ids = Vec::new();
    for (i, (cmk, len)) in [(&a, 16), (&a, 32), (&b, 32)].into_iter().enumerate() {
        kms.clock().advance(1);
        ids.push(hosted(&kms, cmk, &format!("key-{i}"), len).0);
    }
    kms.clock().advance(1);
    let v = kms.ok(
        "ImportDataKey",
        json!({"DataKeyName": "imp", "ImportKeyMaterial": b64(&[3; 16]), "ImportType": 2, "KeyId": b,
               "Tags": [{"TagKey": "team", "TagValue": "x"}]}),
    );
    ids.push(v["DataKeyId"].as_str().unwrap().to_owned());
    kms.ok("DisableDataKey", json!({"DataKeyId": ids[1]}));
    kms.ok("DisableDataKey", json!({"DataKeyId": ids[2]}));
    kms.ok(
        "ScheduleDataKeyDeletion",
        json!({"DataKeyId": ids[2], "PendingWindowInDays": 7}),
    );
    let detail = |params: Value| -> (u64, Vec<String>) {
        let v = kms.ok("ListDataKeyDetail", params);
        let list = v["DataKeyMetadatas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["DataKeyId"].as_str().unwrap().to_owned())
            .collect();
        (v["TotalCount"].as_u64().unwrap(), list)
    };
    let rev = |idx: &[usize]| idx.iter().map(|&i| ids[i].clone()).collect::<Vec<_>>();
    assert_eq!(detail(json!({})), (4, rev(&[3, 2, 1, 0])), "newest first");
    assert_eq!(detail(json!({"OrderType": 1})), (4, rev(&[0, 1, 2, 3])));
    assert_eq!(detail(json!({"Limit": 2, "Offset": 1})), (4, rev(&[2, 1])));
    assert_eq!(detail(json!({"KeyState": 1})), (2, rev(&[3, 0])));
    assert_eq!(detail(json!({"KeyState": 2})), (1, rev(&[1])));
    assert_eq!(detail(json!({"KeyState": 3})), (1, rev(&[2])));
    assert_eq!(detail(json!({"Origin": "EXTERNAL"})), (1, rev(&[3])));
    assert_eq!(
        detail(json!({"Origin": "TENCENT_KMS", "OrderType": 1})),
        (3, rev(&[0, 1, 2]))
    );
    assert_eq!(
        detail(json!({"Origin": "external"})),
        (0, vec![]),
        "case-sensitive"
    );
    assert_eq!(
        detail(json!({"KeyId": a, "OrderType": 1})),
        (2, rev(&[0, 1]))
    );
    assert_eq!(
        detail(json!({"DataKeyLen": 16, "OrderType": 1})),
        (2, rev(&[0, 3]))
    );
    assert_eq!(detail(json!({"SearchKeyAlias": "key-"})).0, 3);
    assert_eq!(detail(json!({"SearchKeyAlias": &ids[1][..8]})).1, rev(&[1]));
    assert_eq!(
        detail(json!({"TagFilters": [{"TagKey": "team", "TagValue": ["x"]}]})),
        (1, rev(&[3]))
    );
    assert_eq!(
        detail(json!({"TagFilters": [{"TagKey": "team", "TagValue": ["y"]}]})).0,
        0
    );
    assert_eq!(detail(json!({"Role": 1})).0, 0);
    assert_eq!(
        kms.code("ListDataKeyDetail", json!({"KeyState": 4})),
        "InvalidParameter"
    );
    assert_eq!(
        kms.code("ListDataKeyDetail", json!({"Limit": 201})),
        "InvalidParameter"
    );
    assert_eq!(
        kms.code(
            "ListDataKeyDetail",
            json!({"KeyId": "0e7f2f6e-9c1b-4c2d-8a8e-1f2a3b4c5d6e"})
        ),
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(
        kms.code("ListDataKeyDetail", json!({"KeyId": "bad"})),
        "InvalidParameterValue.InvalidKeyId"
    );
    assert_eq!(
        kms.code("ListDataKeys", json!({"HsmClusterId": "cls-x"})),
        "InvalidParameterValue.InvalidHsmClusterId"
    );
    // ListDataKeys: oldest first, without keys pending deletion.
    let v = kms.ok("ListDataKeys", json!({}));
    assert_eq!(v["TotalCount"], 3);
    let listed: Vec<_> = v["DataKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["DataKeyId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, rev(&[0, 1, 3]));
    let v = kms.ok("ListDataKeys", json!({"Offset": 2, "Limit": 5}));
    assert_eq!(v["DataKeys"].as_array().unwrap().len(), 1);
}

#[test]
fn data_keys_survive_reopening_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let key = [0x5a_u8; 32];
    let id;
    {
        let kms = Kms::open(HsmConfig::directory(dir.path()));
        let cmk = kms.create_sym("cmk");
        id = kms.ok(
            "ImportDataKey",
            json!({"DataKeyName": "kept", "ImportKeyMaterial": b64(&key), "ImportType": 2, "KeyId": cmk}),
        )["DataKeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        kms.ok(
            "UpdateDataKeyDescription",
            json!({"DataKeyId": id, "Description": "d"}),
        );
    }
    // Never in the clear on disk.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(key.len()).any(|w| w == key));
    }
    let kms = Kms::open(HsmConfig::directory(dir.path()));
    assert_eq!(plaintext(&kms, &id), key);
    assert_eq!(describe(&kms, &id)["Description"], "d");
}
