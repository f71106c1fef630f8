//! The strictness of the real service: UnsupportedRegion and UnknownParameter
//! (docs/kms-api.md §5.2, §6).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/kms.rs"]
mod support;

use mock_hsm::{HsmConfig, REGIONS};
use serde_json::json;
use support::Kms;

#[test]
fn a_region_get_regions_does_not_list_is_unsupported() {
    let kms = Kms::new();
    let listed = kms.ok("GetRegions", json!({}))["Regions"].clone();
    let listed: Vec<String> = serde_json::from_value(listed).unwrap();
    for region in [
        "ap-taipei",
        "ap-shanghai-fsi",
        "ap-shenzhen-fsi",
        "ap-guangzhou",
    ] {
        assert!(listed.iter().any(|r| r == region), "{region}");
        kms.region(region).create_sym("ok");
    }
    assert_eq!(listed.len(), REGIONS.len());
    for typo in ["ap-guangzou", "AP-GUANGZHOU", "ap-guangzhou "] {
        let there = kms.region(typo);
        assert_eq!(
            there.code("ListKeys", json!({})),
            "UnsupportedRegion",
            "{typo}"
        );
        assert_eq!(
            there.code("CreateKey", json!({"Alias": "x"})),
            "UnsupportedRegion"
        );
        assert_eq!(there.code("GetRegions", json!({})), "UnsupportedRegion");
    }
    // No region means the default one.
    kms.region("").create_sym("default");
}

#[test]
fn extra_regions_extend_the_list() {
    let kms = Kms::open(
        HsmConfig::in_memory()
            .with_mock_clock()
            .with_regions(&["ap-newcity".to_owned()])
            .unwrap(),
    );
    let listed = kms.ok("GetRegions", json!({}))["Regions"].clone();
    assert_eq!(listed.as_array().unwrap().last().unwrap(), "ap-newcity");
    kms.region("ap-newcity").create_sym("new");
    assert_eq!(
        kms.region("ap-oldcity").code("ListKeys", json!({})),
        "UnsupportedRegion"
    );
    assert!(
        HsmConfig::in_memory()
            .with_regions(&["Bad_Region".to_owned()])
            .is_err()
    );
}

#[test]
fn a_parameter_the_action_does_not_define_is_unknown_parameter() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    assert_eq!(
        kms.code(
            "Encrypt",
            json!({"KeyId": id, "Plaintext": "aGk=", "Plain": "x"})
        ),
        "UnknownParameter"
    );
    assert_eq!(
        kms.code("DescribeKey", json!({"KeyId": id, "keyid": id})),
        "UnknownParameter"
    );
    assert_eq!(
        kms.code(
            "CreateKey",
            json!({"Alias": "t", "Tags": [{"TagKey": "a", "TagValue": "b", "Extra": "c"}]})
        ),
        "UnknownParameter"
    );
    // Actions the mock does not implement are checked too.
    assert_eq!(
        kms.code(
            "EncryptByWhiteBox",
            json!({"KeyId": id, "Plaintext": "aGk="})
        ),
        "UnknownParameter"
    );
    // Optional documented fields pass (MemberAccount is accepted and ignored).
    kms.ok(
        "DescribeKey",
        json!({"KeyId": id, "MemberAccount": {"MemberAppId": 1, "MemberUin": 2}}),
    );
    assert_eq!(kms.state(&id), "Enabled");
}

#[test]
fn service_status_describes_the_mock() {
    let kms = Kms::new();
    let status = kms.ok("GetServiceStatus", json!({}));
    assert_eq!(status["ServiceEnabled"], true);
    assert_eq!(status["CmkUserCount"], 0);
    // The mock limits no account's CMKs: no CmkLimit rather than a number that would be one.
    assert!(status.get("CmkLimit").is_none(), "{status}");
    kms.create_sym("one");
    kms.create_sym("two");
    kms.region("ap-shanghai").create_sym("elsewhere");
    assert_eq!(kms.ok("GetServiceStatus", json!({}))["CmkUserCount"], 2);
    // A key past its deletion date no longer counts, before the maintenance tick destroys it.
    let two = kms.ok("ListKeyDetail", json!({"SearchKeyAlias": "two"}))["KeyMetadatas"][0]["KeyId"]
        .clone();
    kms.ok("DisableKey", json!({"KeyId": two}));
    kms.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": two, "PendingWindowInDays": 7}),
    );
    kms.clock().advance(7 * 86_400);
    assert_eq!(kms.ok("GetServiceStatus", json!({}))["CmkUserCount"], 1);
    assert_eq!(status["InvalidType"], 1);
    assert_eq!(status["ExclusiveHSMEnabled"], false);
    assert_eq!(status["ExclusiveHSMList"], json!([]));
    assert_eq!(status["IsAllowedSync"], false);
    assert_eq!(status["SyncTaskList"], json!([]));
}
