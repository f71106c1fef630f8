//! Versions and rotation, driven by the MockClock over simulated years.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/kms.rs"]
mod support;

use serde_json::json;
use support::{DAY, Kms};

fn blob_version(blob: &str) -> u32 {
    let header = support::unb64(blob.split("-k-").next().unwrap());
    u32::from_be_bytes(header[41..45].try_into().unwrap())
}

#[test]
fn rotation_settings_and_errors() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    assert_eq!(
        kms.ok("GetKeyRotationStatus", json!({"KeyId": id}))["KeyRotationEnabled"],
        false
    );
    assert_eq!(
        kms.code("RotateKey", json!({"KeyId": id})),
        "UnsupportedOperation.RotateNotSupported"
    );
    for days in [0, 6, 366] {
        assert_eq!(
            kms.code(
                "EnableKeyRotation",
                json!({"KeyId": id, "RotateDays": days})
            ),
            "InvalidParameterValue"
        );
    }
    kms.ok("EnableKeyRotation", json!({"KeyId": id}));
    let m = kms.meta(&id);
    assert_eq!(
        (m["KeyRotationEnabled"].clone(), m["RotateDays"].clone()),
        (json!(true), json!(365))
    );
    assert_eq!(
        kms.ok("GetKeyRotationStatus", json!({"KeyId": id}))["KeyRotationEnabled"],
        true
    );
    kms.ok("EnableKeyRotation", json!({"KeyId": id, "RotateDays": 7}));
    let m = kms.meta(&id);
    assert_eq!(m["RotateDays"], 7);
    assert_eq!(
        m["NextRotateTime"].as_u64().unwrap(),
        m["CreateTime"].as_u64().unwrap() + 7 * DAY
    );
    kms.ok("DisableKeyRotation", json!({"KeyId": id}));
    assert_eq!(
        kms.ok("GetKeyRotationStatus", json!({"KeyId": id}))["KeyRotationEnabled"],
        false
    );
    assert_eq!(
        kms.code("RotateKey", json!({"KeyId": id})),
        "UnsupportedOperation.RotateNotSupported"
    );

    let asym = kms.create("s", "ASYMMETRIC_SIGN_VERIFY_ECC");
    assert_eq!(
        kms.code("EnableKeyRotation", json!({"KeyId": asym})),
        "UnsupportedOperation"
    );
    assert_eq!(
        kms.code("RotateKey", json!({"KeyId": asym})),
        "UnsupportedOperation.RotateNotSupported"
    );

    // Disabled keys keep their rotation settings but do not rotate on demand.
    kms.ok("EnableKeyRotation", json!({"KeyId": id}));
    kms.ok("DisableKey", json!({"KeyId": id}));
    assert_eq!(
        kms.code("RotateKey", json!({"KeyId": id})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    kms.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    );
    assert_eq!(
        kms.code("EnableKeyRotation", json!({"KeyId": id})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
}

#[test]
fn rotate_key_is_rate_limited_to_once_a_day() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    kms.ok("EnableKeyRotation", json!({"KeyId": id, "RotateDays": 30}));
    let before = kms.encrypt(&id, b"v1", None);
    let v = kms.ok("RotateKey", json!({"KeyId": id}));
    assert!(!v["TaskId"].as_str().unwrap().is_empty());
    let now = kms.hsm.now();
    let m = kms.meta(&id);
    assert!(m["LastRotateTime"].as_u64().unwrap().abs_diff(now) <= 2);
    assert_eq!(
        m["NextRotateTime"].as_u64().unwrap(),
        m["LastRotateTime"].as_u64().unwrap() + 30 * DAY
    );
    assert_eq!(
        kms.code("RotateKey", json!({"KeyId": id})),
        "RequestLimitExceeded.RotateRateLimited"
    );
    kms.clock().advance(DAY - 10);
    assert_eq!(
        kms.code("RotateKey", json!({"KeyId": id})),
        "RequestLimitExceeded.RotateRateLimited"
    );
    kms.clock().advance(20);
    kms.ok("RotateKey", json!({"KeyId": id}));
    let after = kms.encrypt(&id, b"v3", None);
    assert_eq!((blob_version(&before), blob_version(&after)), (1, 3));
    assert_eq!(kms.decrypt(&before, None).unwrap(), b"v1");
}

#[test]
fn scheduled_rotation_over_simulated_years_keeps_every_version_decryptable() {
    let kms = Kms::new();
    let id = kms.create_sym("yearly");
    kms.ok("EnableKeyRotation", json!({"KeyId": id, "RotateDays": 30}));
    let mut blobs = Vec::new();
    // Three years, one call every 10 days: a rotation every 30 days, caught up on access.
    for step in 0..110u32 {
        let pt = format!("message {step}");
        let blob = kms.encrypt(&id, pt.as_bytes(), Some(r#"{"step":"x"}"#));
        blobs.push((pt, blob));
        kms.clock().advance(10 * DAY);
    }
    let versions: std::collections::BTreeSet<u32> =
        blobs.iter().map(|(_, b)| blob_version(b)).collect();
    assert!(
        versions.len() >= 36,
        "about one version per 30 days over 3 years, got {}",
        versions.len()
    );
    assert_eq!(
        versions.iter().copied().max().unwrap() as usize,
        versions.len(),
        "versions are consecutive"
    );
    for (pt, blob) in &blobs {
        assert_eq!(
            kms.decrypt(blob, Some(r#"{"step":"x"}"#)).unwrap(),
            pt.as_bytes()
        );
    }
    let m = kms.meta(&id);
    assert!(
        m["NextRotateTime"].as_u64().unwrap() > kms.hsm.now(),
        "the next rotation is in the future"
    );
}

#[test]
fn overdue_rotation_is_caught_up_once() {
    let kms = Kms::new();
    let id = kms.create_sym("late");
    kms.ok("EnableKeyRotation", json!({"KeyId": id, "RotateDays": 7}));
    let v1 = kms.encrypt(&id, b"a", None);
    kms.clock().advance(365 * DAY); // 52 periods pass with no traffic
    let v2 = kms.encrypt(&id, b"b", None);
    assert_eq!(
        (blob_version(&v1), blob_version(&v2)),
        (1, 2),
        "one catch-up rotation, not 52"
    );
    let m = kms.meta(&id);
    let now = kms.hsm.now();
    assert!(m["LastRotateTime"].as_u64().unwrap().abs_diff(now) <= 2);
    assert_eq!(
        m["NextRotateTime"].as_u64().unwrap(),
        m["LastRotateTime"].as_u64().unwrap() + 7 * DAY
    );
    assert!(m["NextRotateTime"].as_u64().unwrap() > now);
}

#[test]
fn run_due_rotations_rotates_without_traffic() {
    let kms = Kms::new();
    let a = kms.create_sym("a");
    let b = kms.create_sym("b");
    let c = kms.create_sym("c");
    for id in [&a, &b, &c] {
        kms.ok("EnableKeyRotation", json!({"KeyId": id, "RotateDays": 7}));
    }
    kms.ok("DisableKey", json!({"KeyId": c}));
    kms.clock().advance(8 * DAY);
    let done = kms.hsm.run_due_rotations().unwrap();
    assert_eq!(
        done.rotated, 2,
        "enabled keys rotate, the disabled one waits"
    );
    assert_eq!(kms.hsm.run_due_rotations().unwrap().rotated, 0);
    assert!(kms.meta(&a)["LastRotateTime"].as_u64().unwrap() > 0);
    assert_eq!(kms.meta(&c)["LastRotateTime"], 0);
    kms.ok("EnableKey", json!({"KeyId": c}));
    assert_eq!(
        blob_version(&kms.encrypt(&c, b"x", None)),
        2,
        "caught up after re-enabling"
    );
}

#[test]
fn enabling_rotation_late_schedules_it_in_the_future() {
    let kms = Kms::new();
    let id = kms.create_sym("old");
    kms.clock().advance(400 * DAY);
    kms.ok("EnableKeyRotation", json!({"KeyId": id, "RotateDays": 30}));
    let m = kms.meta(&id);
    assert!(m["NextRotateTime"].as_u64().unwrap() > kms.hsm.now());
    assert_eq!(
        blob_version(&kms.encrypt(&id, b"x", None)),
        1,
        "no surprise rotation"
    );
}
