//! The TDE tests' KMS: mock-hsm in-process, over an in-memory store seeded with one CMK of
//! fixed material (so a child process that seeds the same key reads the same blobs) and a mock
//! clock (so a scheduled deletion can come due). State changes go through the KMS API.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;

use kms_core::kms::{KmsError, KmsTransport};
use mock_hsm::{Hsm, HsmConfig, InProcess};
use zeroize::Zeroizing;

/// AES-256 material of the seeded CMK (test-only).
const MATERIAL: &str = "dGttcyB0ZGUgdGVzdCBjbWsgbWF0ZXJpYWwgMDAwMDA=";

pub struct TestKms {
    transport: InProcess,
    _seed: tempfile::NamedTempFile,
}

impl TestKms {
    /// A KMS holding one Enabled symmetric CMK, `key_id` (a lower-case UUID).
    pub fn with_key(key_id: &str) -> Self {
        let seed = tempfile::NamedTempFile::new().unwrap();
        let toml = format!(
            "version = 1\n\n[[keys]]\nkey_id = \"{key_id}\"\nalias = \"tde-test\"\n\
             algorithm = \"AES_256\"\n\n[[keys.versions]]\nversion = 1\nmaterial = \"{MATERIAL}\"\n"
        );
        std::fs::write(seed.path(), toml).unwrap();
        let config = HsmConfig::in_memory()
            .with_seed_file(seed.path())
            .with_mock_clock();
        let hsm = Hsm::open(config).expect("the test seed applies");
        Self {
            transport: InProcess::new(Arc::new(hsm)),
            _seed: seed,
        }
    }

    fn act(&self, action: &str, params: &str) -> Result<(), KmsError> {
        self.transport.call(action, params.as_bytes()).map(|_| ())
    }

    fn act_on(&self, action: &str, key_id: &str) -> Result<(), KmsError> {
        self.act(action, &format!(r#"{{"KeyId":"{key_id}"}}"#))
    }

    pub fn disable(&self, key_id: &str) -> Result<(), KmsError> {
        self.act_on("DisableKey", key_id)
    }

    pub fn enable(&self, key_id: &str) -> Result<(), KmsError> {
        self.act_on("EnableKey", key_id)
    }

    /// ScheduleKeyDeletion with the shortest window (7 days).
    pub fn schedule_deletion(&self, key_id: &str) -> Result<(), KmsError> {
        let params = format!(r#"{{"KeyId":"{key_id}","PendingWindowInDays":7}}"#);
        self.act("ScheduleKeyDeletion", &params)
    }

    pub fn cancel_deletion(&self, key_id: &str) -> Result<(), KmsError> {
        self.act_on("CancelKeyDeletion", key_id)
    }

    /// The key's deletion comes due: disabled, scheduled, and the clock moved past the window.
    pub fn destroy(&self, key_id: &str) {
        let _ = self.disable(key_id);
        self.schedule_deletion(key_id).unwrap();
        let hsm = self.transport.hsm();
        hsm.mock_clock().unwrap().advance(8 * 86_400);
        assert_eq!(hsm.run_due_rotations().unwrap().destroyed, 1);
    }

    /// RotateKey: new material from now on; old versions still decrypt.
    pub fn rotate(&self, key_id: &str) {
        self.act_on("EnableKeyRotation", key_id).unwrap();
        self.act_on("RotateKey", key_id).unwrap();
    }
}

impl KmsTransport for TestKms {
    fn call(&self, action: &str, params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        self.transport.call(action, params)
    }
}
