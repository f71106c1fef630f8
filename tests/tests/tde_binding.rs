//! A TDE instance's CMK bound as TencentDB binds it (docs/tde.md, "The CMK binding"): while
//! bound, the KMS refuses to disable, archive or delete it, so the instance keeps opening;
//! after unbinding, disabling the CMK stops the instance.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kms_core::kms::{KeyManagement as _, StateChange};
use kms_core::tde::{InitOptions, Instance, TDE_PRODUCT_ID, TdeError};
use mock_hsm::{Hsm, HsmConfig, InProcess};

#[test]
fn a_bound_cmk_cannot_be_disabled_or_deleted_until_the_instance_releases_it() {
    let hsm = Arc::new(Hsm::open(HsmConfig::in_memory().with_mock_clock()).unwrap());
    let kms = InProcess::new(hsm);
    let cmk = kms
        .create_key("tde-bound", "ENCRYPT_DECRYPT", None)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let resource = {
        let instance = Instance::create(dir.path(), &kms, &cmk, InitOptions::default()).unwrap();
        instance
            .create_tablespace("orders")
            .unwrap()
            .write_page(0, b"row")
            .unwrap();
        instance.resource_id()
    };
    assert_eq!(Instance::inspect(dir.path()).unwrap().resource_id, resource);
    assert!(
        resource.starts_with("cdb-") && resource.len() == 36,
        "{resource}"
    );
    kms.set_cloud_binding(&cmk, TDE_PRODUCT_ID, &resource, true)
        .unwrap();

    let used = |r: Result<(), kms_core::kms::KmsError>| r.unwrap_err().code;
    for change in [StateChange::Disable, StateChange::Archive] {
        assert_eq!(
            used(kms.change_key_state(&cmk, change)),
            "FailedOperation.CmkUsedByCloudProduct"
        );
    }
    assert_eq!(
        kms.schedule_key_deletion(&cmk, 7).unwrap_err().code,
        "FailedOperation.CmkUsedByCloudProduct"
    );
    // The instance still opens and reads (a restart needs Decrypt of the master key).
    let instance = Instance::open(dir.path(), &kms).unwrap();
    assert_eq!(
        &instance
            .open_tablespace("orders")
            .unwrap()
            .read_page(0)
            .unwrap()[..3],
        b"row"
    );
    drop(instance);

    // Teardown: unbind, then the CMK may be disabled, and a restart is refused.
    kms.set_cloud_binding(&cmk, TDE_PRODUCT_ID, &resource, false)
        .unwrap();
    assert_eq!(
        used(kms.set_cloud_binding(&cmk, TDE_PRODUCT_ID, &resource, false)),
        "ResourceUnavailable.CloudResourceBindingNotFound"
    );
    kms.change_key_state(&cmk, StateChange::Disable).unwrap();
    match Instance::open(dir.path(), &kms) {
        Err(TdeError::Kms(e)) => assert_eq!(e.code, "ResourceUnavailable.CmkDisabled"),
        other => panic!("expected CmkDisabled, got {other:?}"),
    }
}
