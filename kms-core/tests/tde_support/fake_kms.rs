//! A small stand-in KMS for the TDE tests until they run against mock-hsm: GenerateDataKey,
//! Decrypt, DescribeKey and the key-state actions, with the refusal codes of
//! docs/kms-api.md §4.3. Key material is derived from the key id and version, so a
//! blob made by one process decrypts in another (the crash tests re-execute themselves).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kms_core::kms::{KmsError, KmsTransport};
use serde_json::{Value, json};
use zeroize::Zeroizing;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDelete,
}

struct Cmk {
    state: KeyState,
    version: u32,
}

#[derive(Default)]
pub struct FakeKms {
    keys: Mutex<HashMap<String, Cmk>>,
    pub calls: Mutex<Vec<String>>,
}

fn material(key_id: &str, version: u32) -> LessSafeKey {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("fake-cmk/{key_id}/{version}").as_bytes(),
    );
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, digest.as_ref()).unwrap())
}

fn err(code: &str, message: &str) -> KmsError {
    KmsError::new(code, message)
}

impl FakeKms {
    /// A KMS holding one Enabled CMK, `key_id`.
    pub fn with_key(key_id: &str) -> Self {
        let kms = Self::default();
        kms.keys.lock().unwrap().insert(
            key_id.to_owned(),
            Cmk {
                state: KeyState::Enabled,
                version: 1,
            },
        );
        kms
    }

    pub fn disable(&self, key_id: &str) -> Result<(), KmsError> {
        self.transition(key_id, KeyState::Enabled, KeyState::Disabled)
    }
    pub fn enable(&self, key_id: &str) -> Result<(), KmsError> {
        self.transition(key_id, KeyState::Disabled, KeyState::Enabled)
    }
    /// ScheduleKeyDeletion: only from Disabled (else CmkShouldBeDisabled).
    pub fn schedule_deletion(&self, key_id: &str) -> Result<(), KmsError> {
        let mut keys = self.keys.lock().unwrap();
        let k = keys
            .get_mut(key_id)
            .ok_or_else(|| err("ResourceUnavailable.CmkNotFound", "no such key"))?;
        if k.state != KeyState::Disabled {
            return Err(err(
                "ResourceUnavailable.CmkShouldBeDisabled",
                "disable the key first",
            ));
        }
        k.state = KeyState::PendingDelete;
        Ok(())
    }
    /// CancelKeyDeletion: back to Disabled, not Enabled.
    pub fn cancel_deletion(&self, key_id: &str) -> Result<(), KmsError> {
        self.transition(key_id, KeyState::PendingDelete, KeyState::Disabled)
    }
    /// The deletion date passed: the key is gone.
    pub fn destroy(&self, key_id: &str) {
        self.keys.lock().unwrap().remove(key_id);
    }
    /// RotateKey: new material; old versions still decrypt.
    pub fn rotate(&self, key_id: &str) {
        self.keys.lock().unwrap().get_mut(key_id).unwrap().version += 1;
    }

    fn transition(&self, key_id: &str, from: KeyState, to: KeyState) -> Result<(), KmsError> {
        let mut keys = self.keys.lock().unwrap();
        let k = keys
            .get_mut(key_id)
            .ok_or_else(|| err("ResourceUnavailable.CmkNotFound", "no such key"))?;
        if k.state != from {
            return Err(err("ResourceUnavailable.CmkStateNotSupport", "wrong state"));
        }
        k.state = to;
        Ok(())
    }

    fn usable(&self, key_id: &str, for_decrypt: bool) -> Result<u32, KmsError> {
        let keys = self.keys.lock().unwrap();
        let k = keys
            .get(key_id)
            .ok_or_else(|| err("ResourceUnavailable.CmkNotFound", "the CMK does not exist"))?;
        match k.state {
            KeyState::Enabled => Ok(k.version),
            KeyState::Disabled => Err(err(
                "ResourceUnavailable.CmkDisabled",
                "the CMK is disabled",
            )),
            KeyState::PendingDelete if for_decrypt => Err(err(
                "ResourceUnavailable.CmkStateNotSupport",
                "the CMK is pending deletion",
            )),
            KeyState::PendingDelete => Err(err(
                "ResourceUnavailable.KeyPendingDelete",
                "the CMK is pending deletion",
            )),
        }
    }

    fn handle(&self, action: &str, p: &Value) -> Result<Value, KmsError> {
        let context = p["EncryptionContext"].as_str().unwrap_or("").to_owned();
        match action {
            "GenerateDataKey" => {
                let key_id = p["KeyId"]
                    .as_str()
                    .ok_or_else(|| err("InvalidParameter", "KeyId"))?;
                let version = self.usable(key_id, false)?;
                let n = p["NumberOfBytes"]
                    .as_u64()
                    .ok_or_else(|| err("InvalidParameter", "NumberOfBytes"))?
                    as usize;
                let mut plain = Zeroizing::new(vec![0u8; n]);
                getrandom::fill(&mut plain).unwrap();
                let mut sealed = plain.to_vec();
                let mut nonce = [0u8; 12];
                getrandom::fill(&mut nonce).unwrap();
                material(key_id, version)
                    .seal_in_place_append_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(context.as_bytes()),
                        &mut sealed,
                    )
                    .unwrap();
                let blob = format!(
                    "{}-k-{}-k-{}",
                    B64.encode(key_id),
                    B64.encode(version.to_be_bytes()),
                    B64.encode([nonce.as_slice(), &sealed].concat())
                );
                Ok(
                    json!({"KeyId": key_id, "Plaintext": B64.encode(&*plain), "CiphertextBlob": blob, "RequestId": "fake"}),
                )
            }
            "Decrypt" => {
                let bad = || err("InvalidParameterValue.InvalidCiphertext", "bad ciphertext");
                let blob = p["CiphertextBlob"].as_str().ok_or_else(bad)?;
                let parts: Vec<&str> = blob.split("-k-").collect();
                if parts.len() != 3 {
                    return Err(bad());
                }
                let key_id = String::from_utf8(B64.decode(parts[0]).map_err(|_| bad())?)
                    .map_err(|_| bad())?;
                let version = u32::from_be_bytes(
                    B64.decode(parts[1])
                        .map_err(|_| bad())?
                        .try_into()
                        .map_err(|_| bad())?,
                );
                let mut body = B64.decode(parts[2]).map_err(|_| bad())?;
                self.usable(&key_id, true)?;
                if body.len() < 28 {
                    return Err(bad());
                }
                let nonce: [u8; 12] = body[..12].try_into().unwrap();
                let plain = material(&key_id, version)
                    .open_within(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(context.as_bytes()),
                        &mut body,
                        12..,
                    )
                    .map_err(|_| bad())?;
                Ok(json!({"KeyId": key_id, "Plaintext": B64.encode(&*plain), "RequestId": "fake"}))
            }
            "DescribeKey" => {
                let key_id = p["KeyId"]
                    .as_str()
                    .ok_or_else(|| err("InvalidParameter", "KeyId"))?;
                let keys = self.keys.lock().unwrap();
                let k = keys
                    .get(key_id)
                    .ok_or_else(|| err("ResourceUnavailable.CmkNotFound", "no such key"))?;
                let state = format!("{:?}", k.state);
                Ok(
                    json!({"KeyMetadata": {"KeyId": key_id, "KeyState": state, "KeyUsage": "ENCRYPT_DECRYPT", "Type": 2}, "RequestId": "fake"}),
                )
            }
            other => Err(err(
                "UnsupportedOperation",
                &format!("the fake KMS does not implement {other}"),
            )),
        }
    }
}

impl KmsTransport for FakeKms {
    fn call(&self, action: &str, params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        self.calls.lock().unwrap().push(action.to_owned());
        let p: Value =
            serde_json::from_slice(params).map_err(|_| err("InvalidParameter", "not JSON"))?;
        let response = self.handle(action, &p)?;
        Ok(Zeroizing::new(serde_json::to_vec(&response).unwrap()))
    }
}
