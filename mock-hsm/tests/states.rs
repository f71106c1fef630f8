//! Every key-state transition and its Tencent error code (docs/kms-api.md §4.2, §4.3, §5.3).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/kms.rs"]
mod support;

use serde_json::json;
use support::{DAY, Kms};

#[test]
fn create_key_defaults_and_metadata() {
    let kms = Kms::new();
    let v = kms.ok("CreateKey", json!({"Alias": "app", "Description": "d"}));
    assert_eq!(v["KeyState"], "Enabled");
    assert_eq!(v["KeyUsage"], "ENCRYPT_DECRYPT");
    assert_eq!(v["TagCode"], 0);
    let id = v["KeyId"].as_str().unwrap();
    let m = kms.meta(id);
    assert_eq!(m["Alias"], "app");
    assert_eq!(m["Description"], "d");
    assert_eq!(m["Type"], 4, "ap-guangzhou symmetric keys are SM4");
    assert_eq!(m["Origin"], "TENCENT_KMS");
    assert_eq!(m["Owner"], "user");
    assert_eq!(m["DeletionDate"], 0);
    assert_eq!(m["KeyRotationEnabled"], false);
    assert_eq!(m["RotateDays"], 365);
    assert_eq!(
        m["NextRotateTime"].as_u64().unwrap(),
        m["CreateTime"].as_u64().unwrap() + 365 * DAY
    );
    assert_eq!(m["ResourceId"], format!("creatorUin/{}/{id}", support::UIN));
    let fips = kms.region("ap-singapore");
    let id = fips.create_sym("app");
    assert_eq!(fips.meta(&id)["Type"], 2, "FIPS regions use AES-256");
}

#[test]
fn create_key_validation() {
    let kms = Kms::new();
    kms.create_sym("dup");
    assert_eq!(
        kms.code("CreateKey", json!({"Alias": "dup"})),
        "InvalidParameterValue.AliasAlreadyExists"
    );
    assert_eq!(
        kms.code("CreateKey", json!({"Alias": "kms-x"})),
        "InvalidParameterValue.InvalidAlias"
    );
    assert_eq!(
        kms.code("CreateKey", json!({"Alias": "a b"})),
        "InvalidParameterValue.InvalidAlias"
    );
    assert_eq!(
        kms.code("CreateKey", json!({"Alias": "x", "KeyUsage": "NOPE"})),
        "InvalidParameterValue.InvalidKeyUsage"
    );
    assert_eq!(
        kms.code("CreateKey", json!({"Alias": "x", "Type": 3})),
        "InvalidParameterValue.InvalidType"
    );
    assert_eq!(
        kms.code("CreateKey", json!({"Alias": "x", "Tags": [{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}]})),
        "InvalidParameterValue.TagKeysDuplicated"
    );
    assert_eq!(
        kms.code(
            "CreateKey",
            json!({"Alias": "x", "Description": "d".repeat(1025)})
        ),
        "InvalidParameter"
    );
    assert_eq!(kms.code("CreateKey", json!({})), "MissingParameter");
    // Aliases are unique per (account, region) only.
    kms.region("ap-shanghai").create_sym("dup");
    kms.account(42).create_sym("dup");
}

#[test]
fn keys_are_isolated_by_account_and_region() {
    let kms = Kms::new();
    let id = kms.create_sym("mine");
    assert_eq!(
        kms.account(42).code("DescribeKey", json!({"KeyId": id})),
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(
        kms.region("ap-shanghai")
            .code("DescribeKey", json!({"KeyId": id})),
        "ResourceUnavailable.CmkNotFound"
    );
    let blob = kms.encrypt(&id, b"x", None);
    assert_eq!(
        kms.account(42).decrypt(&blob, None).unwrap_err().code,
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(
        kms.code("DescribeKey", json!({"KeyId": "not-a-uuid"})),
        "InvalidParameterValue.InvalidKeyId"
    );
    assert_eq!(
        kms.code(
            "DescribeKey",
            json!({"KeyId": "23e80852-1e38-11e9-b129-5cb9019b4b01"})
        ),
        "ResourceUnavailable.CmkNotFound"
    );
}

#[test]
fn enable_disable() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    kms.ok("DisableKey", json!({"KeyId": id}));
    assert_eq!(kms.state(&id), "Disabled");
    kms.ok("DisableKey", json!({"KeyId": id})); // repeats are accepted
    assert_eq!(
        kms.code("Encrypt", json!({"KeyId": id, "Plaintext": "aGk="})),
        "ResourceUnavailable.CmkDisabled"
    );
    kms.ok("EnableKey", json!({"KeyId": id}));
    kms.ok("EnableKey", json!({"KeyId": id}));
    assert_eq!(kms.state(&id), "Enabled");
    kms.encrypt(&id, b"hi", None);
}

#[test]
fn disabled_key_refuses_decrypt_and_data_keys() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    let blob = kms.encrypt(&id, b"hi", None);
    kms.ok("DisableKey", json!({"KeyId": id}));
    assert_eq!(
        kms.decrypt(&blob, None).unwrap_err().code,
        "ResourceUnavailable.CmkDisabled"
    );
    assert_eq!(
        kms.code(
            "GenerateDataKey",
            json!({"KeyId": id, "KeySpec": "AES_256"})
        ),
        "ResourceUnavailable.CmkDisabled"
    );
    assert_eq!(
        kms.code("ReEncrypt", json!({"CiphertextBlob": blob})),
        "ResourceUnavailable.CmkDisabled"
    );
}

#[test]
fn enable_keys_and_disable_keys_are_all_or_nothing() {
    let kms = Kms::new();
    let a = kms.create_sym("a");
    let b = kms.create_sym("b");
    kms.ok("DisableKeys", json!({"KeyIds": [a, b]}));
    assert_eq!(
        (kms.state(&a), kms.state(&b)),
        ("Disabled".into(), "Disabled".into())
    );
    kms.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": b, "PendingWindowInDays": 7}),
    );
    // b is PendingDelete, so enabling both fails and a stays Disabled.
    assert_eq!(
        kms.code("EnableKeys", json!({"KeyIds": [a, b]})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    assert_eq!(kms.state(&a), "Disabled");
    assert_eq!(
        kms.code("EnableKeys", json!({"KeyIds": [a, a]})),
        "InvalidParameterValue.DuplicatedKeyId"
    );
    let missing = "23e80852-1e38-11e9-b129-5cb9019b4b01";
    assert_eq!(
        kms.code("EnableKeys", json!({"KeyIds": [a, missing]})),
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(kms.state(&a), "Disabled");
    kms.ok("EnableKeys", json!({"KeyIds": [a]}));
    assert_eq!(kms.state(&a), "Enabled");
}

#[test]
fn schedule_and_cancel_deletion() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    assert_eq!(
        kms.code(
            "ScheduleKeyDeletion",
            json!({"KeyId": id, "PendingWindowInDays": 7})
        ),
        "ResourceUnavailable.CmkShouldBeDisabled"
    );
    kms.ok("DisableKey", json!({"KeyId": id}));
    for days in [0, 6, 31] {
        assert_eq!(
            kms.code(
                "ScheduleKeyDeletion",
                json!({"KeyId": id, "PendingWindowInDays": days})
            ),
            "InvalidParameter.InvalidPendingWindowInDays"
        );
    }
    assert_eq!(
        kms.code("ScheduleKeyDeletion", json!({"KeyId": id})),
        "MissingParameter"
    );
    assert_eq!(
        kms.code("CancelKeyDeletion", json!({"KeyId": id})),
        "ResourceUnavailable.CmkNotPendingDelete"
    );
    let now = kms.hsm.now();
    let v = kms.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 30}),
    );
    let date = v["DeletionDate"].as_u64().unwrap();
    assert!(date >= now + 30 * DAY && date <= now + 30 * DAY + 5);
    assert_eq!(kms.meta(&id)["DeletionDate"].as_u64().unwrap(), date);
    assert_eq!(kms.state(&id), "PendingDelete");
    // PendingDelete refuses crypto, enabling, alias and description updates, re-scheduling.
    assert_eq!(
        kms.code("Encrypt", json!({"KeyId": id, "Plaintext": "aGk="})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    assert_eq!(
        kms.code("GenerateDataKey", json!({"KeyId": id, "NumberOfBytes": 32})),
        "ResourceUnavailable.KeyPendingDelete"
    );
    assert_eq!(
        kms.code("EnableKey", json!({"KeyId": id})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    assert_eq!(
        kms.code("UpdateAlias", json!({"KeyId": id, "Alias": "z"})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    assert_eq!(
        kms.code(
            "UpdateKeyDescription",
            json!({"KeyId": id, "Description": "z"})
        ),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    assert_eq!(
        kms.code(
            "ScheduleKeyDeletion",
            json!({"KeyId": id, "PendingWindowInDays": 7})
        ),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    let v = kms.ok("CancelKeyDeletion", json!({"KeyId": id}));
    assert_eq!(v["KeyId"], json!(id));
    assert_eq!(
        kms.state(&id),
        "Disabled",
        "cancelled deletion returns to Disabled, not Enabled"
    );
    assert_eq!(kms.meta(&id)["DeletionDate"], 0);
}

#[test]
fn deletion_window_expiry_destroys_the_key() {
    let kms = Kms::new();
    let id = kms.create_sym("doomed");
    let blob = kms.encrypt(&id, b"secret", None);
    kms.ok("DisableKey", json!({"KeyId": id}));
    kms.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    );
    kms.clock().advance(7 * DAY - 60);
    assert_eq!(kms.state(&id), "PendingDelete", "not yet due");
    kms.clock().advance(120);
    assert_eq!(
        kms.code("DescribeKey", json!({"KeyId": id})),
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(
        kms.decrypt(&blob, None).unwrap_err().code,
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(
        kms.code("CancelKeyDeletion", json!({"KeyId": id})),
        "ResourceUnavailable.CmkNotFound"
    );
    // The alias is free again.
    kms.create_sym("doomed");
}

#[test]
fn run_due_rotations_destroys_expired_keys_without_traffic() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    kms.ok("DisableKey", json!({"KeyId": id}));
    kms.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    );
    kms.clock().advance(8 * DAY);
    let done = kms.hsm.run_due_rotations().unwrap();
    assert_eq!(done.destroyed, 1);
    assert_eq!(kms.hsm.run_due_rotations().unwrap().destroyed, 0);
}

#[test]
fn archive_and_cancel_archive() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    let blob = kms.encrypt(&id, b"kept", None);
    kms.ok("ArchiveKey", json!({"KeyId": id}));
    assert_eq!(kms.state(&id), "Archived");
    assert_eq!(
        kms.code("Encrypt", json!({"KeyId": id, "Plaintext": "aGk="})),
        "ResourceUnavailable.CmkArchived"
    );
    assert_eq!(
        kms.code("GenerateDataKey", json!({"KeyId": id, "NumberOfBytes": 16})),
        "ResourceUnavailable.CmkArchived"
    );
    assert_eq!(
        kms.decrypt(&blob, None).unwrap(),
        b"kept",
        "archived keys still decrypt"
    );
    assert_eq!(
        kms.code("ArchiveKey", json!({"KeyId": id})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    assert_eq!(
        kms.code("DisableKey", json!({"KeyId": id})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    kms.ok("CancelKeyArchive", json!({"KeyId": id}));
    assert_eq!(kms.state(&id), "Enabled");
    assert_eq!(
        kms.code("CancelKeyArchive", json!({"KeyId": id})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    kms.ok("DisableKey", json!({"KeyId": id}));
    assert_eq!(
        kms.code("ArchiveKey", json!({"KeyId": id})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
}

#[test]
fn update_alias_and_description() {
    let kms = Kms::new();
    let a = kms.create_sym("a");
    kms.create_sym("b");
    kms.ok("UpdateAlias", json!({"KeyId": a, "Alias": "a2"}));
    assert_eq!(kms.meta(&a)["Alias"], "a2");
    kms.ok("UpdateAlias", json!({"KeyId": a, "Alias": "a2"})); // its own alias is fine
    assert_eq!(
        kms.code("UpdateAlias", json!({"KeyId": a, "Alias": "b"})),
        "InvalidParameterValue.AliasAlreadyExists"
    );
    assert_eq!(
        kms.code("UpdateAlias", json!({"KeyId": a, "Alias": "-bad"})),
        "InvalidParameterValue.InvalidAlias"
    );
    kms.ok(
        "UpdateKeyDescription",
        json!({"KeyId": a, "Description": "new"}),
    );
    assert_eq!(kms.meta(&a)["Description"], "new");
    assert_eq!(
        kms.code("UpdateKeyDescription", json!({"KeyId": a})),
        "MissingParameter"
    );
}

#[test]
fn pending_import_state() {
    let kms = Kms::new();
    let v = kms.ok("CreateKey", json!({"Alias": "ext", "Type": 2}));
    assert_eq!(v["KeyState"], "PendingImport");
    let id = v["KeyId"].as_str().unwrap();
    assert_eq!(kms.meta(id)["Origin"], "EXTERNAL");
    assert_eq!(
        kms.code("Encrypt", json!({"KeyId": id, "Plaintext": "aGk="})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    assert_eq!(
        kms.code("EnableKey", json!({"KeyId": id})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    assert_eq!(
        kms.code("DisableKey", json!({"KeyId": id})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    assert_eq!(
        kms.code("EnableKeyRotation", json!({"KeyId": id})),
        "UnsupportedOperation.ExternalCmkCanNotRotate"
    );
    assert_eq!(
        kms.code(
            "CreateKey",
            json!({"Alias": "ext2", "Type": 2, "KeyUsage": "ASYMMETRIC_DECRYPT_SM2"})
        ),
        "InvalidParameterValue.InvalidKeyUsage"
    );
}

#[test]
fn list_keys_and_list_key_detail() {
    let kms = Kms::new();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(kms.create_sym(&format!("k{i}")));
        kms.clock().advance(10);
    }
    let sm2 = kms.create("signer", "ASYMMETRIC_SIGN_VERIFY_SM2");
    kms.clock().advance(10);
    let tagged = kms.ok(
        "CreateKey",
        json!({"Alias": "tagged", "Tags": [{"TagKey": "env", "TagValue": "dev"}]}),
    )["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    kms.ok("DisableKey", json!({"KeyId": ids[1]}));
    kms.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": ids[1], "PendingWindowInDays": 7}),
    );
    kms.ok("ArchiveKey", json!({"KeyId": ids[2]}));

    // ListKeys: Enabled, Disabled, PendingImport only, oldest first, paged.
    let v = kms.ok("ListKeys", json!({}));
    assert_eq!(v["TotalCount"], 5);
    let listed: Vec<&str> = v["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [&ids[0], &ids[3], &ids[4], &sm2, &tagged]);
    let v = kms.ok("ListKeys", json!({"Offset": 1, "Limit": 2}));
    assert_eq!(v["TotalCount"], 5);
    assert_eq!(v["Keys"].as_array().unwrap().len(), 2);
    assert_eq!(v["Keys"][0]["KeyId"], json!(ids[3]));
    assert_eq!(kms.ok("ListKeys", json!({"Role": 1}))["TotalCount"], 0);
    assert_eq!(
        kms.code("ListKeys", json!({"Limit": 201})),
        "InvalidParameter"
    );
    assert_eq!(
        kms.ok("ListKeys", json!({"Limit": "2"}))["Keys"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "numbers as strings"
    );

    // ListKeyDetail: KeyUsage defaults to ENCRYPT_DECRYPT, newest first.
    let v = kms.ok("ListKeyDetail", json!({}));
    assert_eq!(v["TotalCount"], 6);
    assert_eq!(v["KeyMetadatas"][0]["KeyId"], json!(tagged));
    let v = kms.ok(
        "ListKeyDetail",
        json!({"OrderType": 1, "KeyUsage": "ALL", "Limit": 200}),
    );
    assert_eq!(v["TotalCount"], 7);
    assert_eq!(v["KeyMetadatas"][0]["KeyId"], json!(ids[0]));
    let count = |p: serde_json::Value| kms.ok("ListKeyDetail", p)["TotalCount"].as_u64().unwrap();
    assert_eq!(count(json!({"KeyState": 1, "KeyUsage": "ALL"})), 5);
    assert_eq!(count(json!({"KeyState": 3})), 1);
    assert_eq!(count(json!({"KeyState": 5})), 1);
    assert_eq!(count(json!({"KeyState": 2})), 0);
    assert_eq!(count(json!({"KeyUsage": "ASYMMETRIC_SIGN_VERIFY_SM2"})), 1);
    assert_eq!(count(json!({"SearchKeyAlias": "tag"})), 1);
    assert_eq!(count(json!({"SearchKeyAlias": &ids[0][..8]})), 1);
    assert_eq!(count(json!({"Origin": "EXTERNAL"})), 0);
    assert_eq!(count(json!({"Origin": "TENCENT_KMS"})), 6);
    assert_eq!(
        count(json!({"TagFilters": [{"TagKey": "env", "TagValue": ["dev", "test"]}]})),
        1
    );
    assert_eq!(
        count(json!({"TagFilters": [{"TagKey": "env", "TagValue": ["prod"]}]})),
        0
    );
    assert_eq!(count(json!({"TagFilters": [{"TagKey": "env"}]})), 1);
    let v = kms.ok("ListKeyDetail", json!({"Offset": 4, "Limit": 10}));
    assert_eq!(v["KeyMetadatas"].as_array().unwrap().len(), 2);
    assert_eq!(
        kms.code("ListKeyDetail", json!({"KeyState": 9})),
        "InvalidParameter"
    );
    assert_eq!(
        kms.code("ListKeyDetail", json!({"HsmClusterId": "cls-x"})),
        "InvalidParameterValue.InvalidHsmClusterId"
    );
}

#[test]
fn describe_keys() {
    let kms = Kms::new();
    let a = kms.create_sym("a");
    let b = kms.create_sym("b");
    let v = kms.ok("DescribeKeys", json!({"KeyIds": [a, b]}));
    assert_eq!(v["KeyMetadatas"][1]["Alias"], "b");
    assert_eq!(
        kms.code("DescribeKeys", json!({"KeyIds": [a, a]})),
        "InvalidParameterValue.DuplicatedKeyId"
    );
    assert_eq!(
        kms.code(
            "DescribeKeys",
            json!({"KeyIds": [a, "23e80852-1e38-11e9-b129-5cb9019b4b01"]})
        ),
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(
        kms.code("DescribeKeys", json!({"KeyIds": []})),
        "InvalidParameter"
    );
}
