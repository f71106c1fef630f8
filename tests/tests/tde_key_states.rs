//! The TDE key-state scenario end to end against the real mock-hsm, in process: what a running
//! instance and a restarted one do as the CMK is rotated, disabled, scheduled for deletion,
//! restored and finally destroyed (docs/tde.md §5).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kms_core::Suite;
use kms_core::kms::{KmsClient as _, KmsTransport};
use kms_core::tde::{InitOptions, Instance, TdeError};
use mock_hsm::{Hsm, HsmConfig, InProcess};

const DAY: u64 = 86_400;

fn call(kms: &InProcess, action: &str, params: &str) -> String {
    let out = kms
        .call(action, params.as_bytes())
        .unwrap_or_else(|e| panic!("{action}: {e}"));
    String::from_utf8(out.to_vec()).unwrap()
}

/// The string value of `"field":"..."` in a flat JSON response.
fn field(json: &str, name: &str) -> String {
    let start = json.find(&format!("\"{name}\":\"")).unwrap() + name.len() + 4;
    json[start..].split('"').next().unwrap().to_owned()
}

fn kms_code(result: Result<Instance, TdeError>) -> String {
    match result {
        Err(TdeError::Kms(e)) => e.code,
        other => panic!("expected the KMS to refuse, got {other:?}"),
    }
}

fn page(n: u8) -> Vec<u8> {
    vec![n; 4096]
}

#[test]
fn cmk_states_govern_restarts_while_a_running_instance_keeps_working() {
    let hsm = Arc::new(Hsm::open(HsmConfig::in_memory().with_mock_clock()).unwrap());
    let kms = InProcess::new(hsm.clone());
    let cmk = field(&call(&kms, "CreateKey", r#"{"Alias":"tde-cmk"}"#), "KeyId");
    let key = format!(r#"{{"KeyId":"{cmk}"}}"#);
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        suite: Suite::Sm4Gcm,
        page_size: 4096,
    };

    // Set up: two tables.
    {
        let instance = Instance::create(dir.path(), &kms, &cmk, options).unwrap();
        let mut t = instance.create_tablespace("orders").unwrap();
        t.write_pages(0, &[&page(1), &page(2), &page(3)]).unwrap();
        instance
            .create_tablespace("users")
            .unwrap()
            .write_page(0, &page(9))
            .unwrap();
    }

    // CMK rotation at the KMS, then rotate-master: the new master key comes from the newest
    // version; no page is touched; old-version blobs are no longer needed.
    call(&kms, "EnableKeyRotation", &key);
    call(&kms, "RotateKey", &key);
    let pages_before = std::fs::read(dir.path().join("orders.tbs")).unwrap()[8192..].to_vec();
    {
        let mut instance = Instance::open(dir.path(), &kms).unwrap();
        let r = instance.rotate_master(&kms).unwrap();
        assert_eq!(
            (r.new_generation, r.tablespaces, r.pages_untouched),
            (2, 2, 4)
        );
    }
    assert_eq!(
        std::fs::read(dir.path().join("orders.tbs")).unwrap()[8192..],
        pages_before[..]
    );

    // A running instance keeps working after DisableKey.
    let mut running = Instance::open(dir.path(), &kms).unwrap();
    call(&kms, "DisableKey", &key);
    assert_eq!(
        Instance::describe_cmk(dir.path(), &kms).unwrap().key_state,
        "Disabled"
    );
    {
        let mut t = running.open_tablespace("orders").unwrap();
        assert_eq!(&t.read_page(1).unwrap()[..], &page(2)[..]);
        t.write_page(3, &page(4)).unwrap();
        t.rekey().unwrap();
        running
            .create_tablespace("audit")
            .unwrap()
            .write_page(0, &page(7))
            .unwrap();
    }
    match running.rotate_master(&kms) {
        Err(TdeError::Kms(e)) => assert_eq!(e.code, "ResourceUnavailable.CmkDisabled"),
        other => panic!("rotate-master with a disabled CMK: {other:?}"),
    }
    drop(running);

    // A restart fails while the CMK is Disabled, and works after EnableKey.
    assert_eq!(
        kms_code(Instance::open(dir.path(), &kms)),
        "ResourceUnavailable.CmkDisabled"
    );
    call(&kms, "EnableKey", &key);
    {
        let instance = Instance::open(dir.path(), &kms).unwrap();
        assert_eq!(
            instance.tablespaces().unwrap(),
            ["audit", "orders", "users"]
        );
        assert_eq!(
            &instance
                .open_tablespace("orders")
                .unwrap()
                .read_page(3)
                .unwrap()[..],
            &page(4)[..]
        );
    }

    // PendingDelete: restarts fail; CancelKeyDeletion returns the key to Disabled (still
    // failing); EnableKey restores service.
    call(&kms, "DisableKey", &key);
    call(
        &kms,
        "ScheduleKeyDeletion",
        &format!(r#"{{"KeyId":"{cmk}","PendingWindowInDays":7}}"#),
    );
    assert_eq!(kms.describe_key(&cmk).unwrap().key_state, "PendingDelete");
    // mock-hsm's reading (docs/kms-api.md §4.3): Decrypt of a PendingDelete key is CmkStateNotSupport.
    assert_eq!(
        kms_code(Instance::open(dir.path(), &kms)),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    call(&kms, "CancelKeyDeletion", &key);
    assert_eq!(
        kms_code(Instance::open(dir.path(), &kms)),
        "ResourceUnavailable.CmkDisabled"
    );
    call(&kms, "EnableKey", &key);
    let survivor = Instance::open(dir.path(), &kms).unwrap();
    for name in ["audit", "orders", "users"] {
        survivor.open_tablespace(name).unwrap().verify().unwrap();
    }

    // Destroyed: the deletion window passes. The instance that was already running still reads
    // (its master key is in memory); no restart can ever open the data again.
    call(&kms, "DisableKey", &key);
    call(
        &kms,
        "ScheduleKeyDeletion",
        &format!(r#"{{"KeyId":"{cmk}","PendingWindowInDays":7}}"#),
    );
    hsm.mock_clock().unwrap().advance(8 * DAY);
    assert_eq!(
        kms.describe_key(&cmk).unwrap_err().code,
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(
        &survivor
            .open_tablespace("users")
            .unwrap()
            .read_page(0)
            .unwrap()[..],
        &page(9)[..]
    );
    drop(survivor);
    assert_eq!(
        kms_code(Instance::open(dir.path(), &kms)),
        "ResourceUnavailable.CmkNotFound"
    );
}
