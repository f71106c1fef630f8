//! Cloud-resource bindings: BindCloudResource / UnbindCloudResource and the lifecycle actions a
//! binding blocks (docs/kms-api.md §4.7).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/kms.rs"]
mod support;

use serde_json::{Value, json};
use support::Kms;

const USED: &str = "FailedOperation.CmkUsedByCloudProduct";

fn binding(key_id: &str, resource: &str) -> Value {
    json!({"KeyId": key_id, "ProductId": "cdb", "ResourceId": resource})
}

#[test]
fn a_bound_key_refuses_every_lifecycle_change_until_unbound() {
    let kms = Kms::new();
    let id = kms.create_sym("tde");
    kms.ok("BindCloudResource", binding(&id, "cdb-1"));
    // Binding the same triple again is accepted (idempotent).
    kms.ok("BindCloudResource", binding(&id, "cdb-1"));
    assert_eq!(kms.code("DisableKey", json!({"KeyId": id})), USED);
    assert_eq!(kms.code("DisableKeys", json!({"KeyIds": [id]})), USED);
    assert_eq!(kms.code("ArchiveKey", json!({"KeyId": id})), USED);
    assert_eq!(
        kms.code(
            "ScheduleKeyDeletion",
            json!({"KeyId": id, "PendingWindowInDays": 7})
        ),
        USED
    );
    assert_eq!(kms.state(&id), "Enabled");
    // Crypto and metadata updates are unaffected.
    let blob = kms.encrypt(&id, b"still usable", None);
    assert_eq!(kms.decrypt(&blob, None).unwrap(), b"still usable");
    kms.ok(
        "UpdateKeyDescription",
        json!({"KeyId": id, "Description": "in use"}),
    );

    kms.ok("UnbindCloudResource", binding(&id, "cdb-1"));
    kms.ok("DisableKey", json!({"KeyId": id}));
    kms.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    );
    assert_eq!(kms.state(&id), "PendingDelete");
}

#[test]
fn disable_keys_is_all_or_nothing_when_one_key_is_bound() {
    let kms = Kms::new();
    let free = kms.create_sym("free");
    let bound = kms.create_sym("bound");
    let last = kms.create_sym("last");
    kms.ok("BindCloudResource", binding(&bound, "cdb-2"));
    assert_eq!(
        kms.code("DisableKeys", json!({"KeyIds": [free, bound, last]})),
        USED
    );
    for id in [&free, &bound, &last] {
        assert_eq!(kms.state(id), "Enabled", "{id} must be untouched");
    }
    kms.ok("UnbindCloudResource", binding(&bound, "cdb-2"));
    kms.ok("DisableKeys", json!({"KeyIds": [free, bound, last]}));
    assert_eq!(kms.state(&bound), "Disabled");
}

#[test]
fn one_key_many_resources_and_one_resource_one_key() {
    let kms = Kms::new();
    let a = kms.create_sym("a");
    let b = kms.create_sym("b");
    kms.ok("BindCloudResource", binding(&a, "cdb-1"));
    kms.ok("BindCloudResource", binding(&a, "cdb-2"));
    // A resource already bound to another CMK cannot be bound to this one.
    assert_eq!(kms.code("BindCloudResource", binding(&b, "cdb-1")), USED);
    kms.ok("UnbindCloudResource", binding(&a, "cdb-1"));
    // Still bound through cdb-2.
    assert_eq!(kms.code("DisableKey", json!({"KeyId": a})), USED);
    kms.ok("UnbindCloudResource", binding(&a, "cdb-2"));
    kms.ok("DisableKey", json!({"KeyId": a}));
    // The freed resource may now use b.
    kms.ok("BindCloudResource", binding(&b, "cdb-1"));
}

#[test]
fn binding_errors() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    assert_eq!(
        kms.code("UnbindCloudResource", binding(&id, "cdb-1")),
        "ResourceUnavailable.CloudResourceBindingNotFound"
    );
    kms.ok("BindCloudResource", binding(&id, "cdb-1"));
    // The triple must match exactly.
    assert_eq!(
        kms.code(
            "UnbindCloudResource",
            json!({"KeyId": id, "ProductId": "cos", "ResourceId": "cdb-1"})
        ),
        "ResourceUnavailable.CloudResourceBindingNotFound"
    );
    assert_eq!(
        kms.code("BindCloudResource", binding("not-an-id", "r")),
        "InvalidParameterValue.InvalidKeyId"
    );
    assert_eq!(
        kms.code(
            "BindCloudResource",
            binding("23e80852-1e38-11e9-b129-5cb9019b4b01", "r")
        ),
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(
        kms.code(
            "BindCloudResource",
            json!({"KeyId": id, "ProductId": "cdb"})
        ),
        "MissingParameter"
    );
    assert_eq!(
        kms.code(
            "BindCloudResource",
            json!({"KeyId": id, "ProductId": "", "ResourceId": "r"})
        ),
        "InvalidParameter"
    );
    // Only an Enabled key can be bound.
    let off = kms.create_sym("off");
    kms.ok("DisableKey", json!({"KeyId": off}));
    assert_eq!(
        kms.code("BindCloudResource", binding(&off, "cdb-9")),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    // Another account's key is not found, and cannot be unbound from here.
    assert_eq!(
        kms.account(42)
            .code("UnbindCloudResource", binding(&id, "cdb-1")),
        "ResourceUnavailable.CmkNotFound"
    );
}
