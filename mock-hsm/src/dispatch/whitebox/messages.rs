//! The request and response bodies of the white-box actions (field names as in the SDK models:
//! `PlainText`, `CipherText`, `WhiteboxKeyInfo`).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::super::messages::{Tag, TagFilter, de_u64_opt};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(in crate::dispatch) struct CreateReq {
    pub(super) alias: String,
    pub(super) algorithm: String,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(in crate::dispatch) struct DetailsReq {
    /// int64 in the API: read as sent, so any other value is InvalidParameterValue.
    #[serde(default)]
    pub(super) key_status: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    pub(super) offset: Option<u64>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    pub(super) limit: Option<u64>,
    #[serde(default)]
    pub(super) tag_filters: Vec<TagFilter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(in crate::dispatch) struct EncryptReq {
    pub(in crate::dispatch) key_id: String,
    pub(super) plain_text: Zeroizing<String>,
    #[serde(default)]
    pub(super) initialization_vector: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct FingerprintIn {
    pub(super) identity: String,
    #[serde(default)]
    pub(super) description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(in crate::dispatch) struct OverwriteReq {
    pub(in crate::dispatch) key_id: String,
    #[serde(default)]
    pub(super) device_fingerprints: Vec<FingerprintIn>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateResp {
    pub(super) encrypt_key: Zeroizing<String>,
    pub(super) decrypt_key: Zeroizing<String>,
    pub(super) key_id: String,
    pub(super) tag_code: u64,
    pub(super) tag_msg: &'static str,
}

/// WhiteboxKeyInfo.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyInfo {
    pub(super) key_id: String,
    pub(super) alias: String,
    pub(super) creator_uin: u64,
    pub(super) description: String,
    pub(super) create_time: u64,
    pub(super) status: &'static str,
    pub(super) owner_uin: u64,
    pub(super) algorithm: &'static str,
    pub(super) encrypt_key: Zeroizing<String>,
    pub(super) decrypt_key: Zeroizing<String>,
    pub(super) resource_id: String,
    pub(super) device_fingerprint_bind: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeResp {
    pub(super) key_info: KeyInfo,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DetailsResp {
    pub(super) key_infos: Vec<KeyInfo>,
    pub(super) total_count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DecryptKeyResp {
    pub(super) decrypt_key: Zeroizing<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct EncryptResp {
    pub(super) initialization_vector: String,
    pub(super) cipher_text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct FingerprintOut {
    pub(super) identity: String,
    pub(super) description: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct FingerprintsResp {
    pub(super) device_fingerprints: Vec<FingerprintOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ServiceStatusResp {
    pub(super) service_enabled: bool,
}
