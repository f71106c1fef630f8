//! The request and response bodies of every implemented action (PascalCase JSON, Tencent Cloud
//! KMS 2019-01-18). Requests accept numbers sent as decimal strings (GET and form requests);
//! unknown fields are ignored.

use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

use crate::hsm::{KeyInfo, KeyState, KeyUsage, Origin};

// ---- requests ----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyIdReq {
    pub(super) key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyIdsReq {
    pub(super) key_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AliasReq {
    pub(super) key_id: String,
    pub(super) alias: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescriptionReq {
    pub(super) key_id: String,
    pub(super) description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ScheduleReq {
    pub(super) key_id: String,
    #[serde(deserialize_with = "de_u64")]
    pub(super) pending_window_in_days: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RotationReq {
    pub(super) key_id: String,
    #[serde(default, deserialize_with = "de_u64_opt")]
    pub(super) rotate_days: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Tag {
    pub(super) tag_key: String,
    pub(super) tag_value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagFilter {
    pub(super) tag_key: String,
    #[serde(default)]
    pub(super) tag_value: Vec<String>,
}

/// Tags as the core takes them: (key, value) pairs.
pub(super) fn tag_pairs(tags: Vec<Tag>) -> Vec<(String, String)> {
    tags.into_iter().map(|t| (t.tag_key, t.tag_value)).collect()
}

/// TagFilters as the core takes them: (key, accepted values; empty accepts any).
pub(super) fn tag_filter_pairs(filters: Vec<TagFilter>) -> Vec<(String, Vec<String>)> {
    filters
        .into_iter()
        .map(|f| (f.tag_key, f.tag_value))
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateKeyReq {
    pub(super) alias: String,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) key_usage: Option<String>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    pub(super) r#type: Option<u64>,
    #[serde(default)]
    pub(super) tags: Vec<Tag>,
    #[serde(default)]
    pub(super) hsm_cluster_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListReq {
    #[serde(default, deserialize_with = "de_u64_opt")]
    pub(super) offset: Option<u64>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    pub(super) limit: Option<u64>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    pub(super) role: Option<u64>,
    #[serde(default)]
    pub(super) hsm_cluster_id: Option<String>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    pub(super) order_type: Option<u64>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    pub(super) key_state: Option<u64>,
    #[serde(default)]
    pub(super) search_key_alias: Option<String>,
    #[serde(default)]
    pub(super) origin: Option<String>,
    #[serde(default)]
    pub(super) key_usage: Option<String>,
    #[serde(default)]
    pub(super) tag_filters: Vec<TagFilter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct EncryptReq {
    pub(super) key_id: String,
    pub(super) plaintext: Zeroizing<String>,
    #[serde(default)]
    pub(super) encryption_context: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DecryptReq {
    pub(super) ciphertext_blob: String,
    #[serde(default)]
    pub(super) encryption_context: Option<String>,
    #[serde(default)]
    pub(super) encryption_public_key: Option<String>,
    #[serde(default)]
    pub(super) encryption_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ReEncryptReq {
    pub(super) ciphertext_blob: String,
    #[serde(default)]
    pub(super) destination_key_id: Option<String>,
    #[serde(default)]
    pub(super) source_encryption_context: Option<String>,
    #[serde(default)]
    pub(super) destination_encryption_context: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DataKeyReq {
    pub(super) key_id: String,
    #[serde(default)]
    pub(super) key_spec: Option<String>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    pub(super) number_of_bytes: Option<u64>,
    #[serde(default)]
    pub(super) encryption_context: Option<String>,
    #[serde(default)]
    pub(super) encryption_public_key: Option<String>,
    #[serde(default)]
    pub(super) encryption_algorithm: Option<String>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    pub(super) is_hosted_by_kms: Option<u64>,
    /// The hosted data key's fields (IsHostedByKms=1): dispatch/datakeys.rs.
    #[serde(flatten)]
    pub(super) hosted: super::datakeys::HostedFields,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RandomReq {
    #[serde(deserialize_with = "de_u64")]
    pub(super) number_of_bytes: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RsaDecryptReq {
    pub(super) key_id: String,
    pub(super) ciphertext: String,
    pub(super) algorithm: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Sm2DecryptReq {
    pub(super) key_id: String,
    pub(super) ciphertext: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SignReq {
    pub(super) key_id: String,
    pub(super) algorithm: String,
    pub(super) message: String,
    #[serde(default)]
    pub(super) message_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct VerifyReq {
    pub(super) key_id: String,
    pub(super) algorithm: String,
    pub(super) message: String,
    pub(super) signature_value: String,
    #[serde(default)]
    pub(super) message_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ImportParamsReq {
    pub(super) key_id: String,
    pub(super) wrapping_algorithm: String,
    pub(super) wrapping_key_spec: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ImportReq {
    pub(super) key_id: String,
    pub(super) encrypted_key_material: String,
    pub(super) import_token: String,
    #[serde(default, deserialize_with = "de_u64_opt")]
    pub(super) valid_to: Option<u64>,
}

/// Integers may arrive as JSON numbers or as decimal strings (GET / form requests).
pub(super) fn de_u64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        N(u64),
        S(String),
    }
    match Option::<Num>::deserialize(d)? {
        None => Ok(None),
        Some(Num::N(n)) => Ok(Some(n)),
        Some(Num::S(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("invalid type: string, expected u64")),
    }
}

pub(super) fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    de_u64_opt(d)?.ok_or_else(|| serde::de::Error::custom("invalid type: null, expected u64"))
}

// ---- responses ----

#[derive(Serialize)]
pub(super) struct Empty {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyIdResp {
    pub(super) key_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ScheduleResp {
    pub(super) deletion_date: u64,
    pub(super) key_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RotationStatusResp {
    pub(super) key_rotation_enabled: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TaskResp {
    pub(super) task_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PlaintextResp {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) key_id: Option<String>,
    pub(super) plaintext: Zeroizing<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct EncryptResp {
    pub(super) ciphertext_blob: String,
    pub(super) key_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DataKeyResp {
    pub(super) key_id: String,
    pub(super) plaintext: Zeroizing<String>,
    pub(super) ciphertext_blob: String,
    /// Only for a data key hosted by KMS (IsHostedByKms=1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) data_key_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ReEncryptResp {
    pub(super) ciphertext_blob: String,
    pub(super) key_id: String,
    pub(super) source_key_id: String,
    pub(super) re_encrypted: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PublicKeyResp {
    pub(super) key_id: String,
    pub(super) public_key: String,
    pub(super) public_key_pem: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SignResp {
    pub(super) signature: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct VerifyResp {
    pub(super) signature_valid: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ImportParamsResp {
    pub(super) key_id: String,
    pub(super) import_token: String,
    pub(super) public_key: String,
    pub(super) parameters_valid_to: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RegionsResp {
    pub(super) regions: Vec<String>,
}

/// KeyMetadata as the API returns it (docs/kms-api.md §4.4: the first 18 fields, plus IsSyncReplica).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyMetadata {
    pub(super) key_id: String,
    pub(super) alias: String,
    pub(super) create_time: u64,
    pub(super) description: String,
    pub(super) key_state: KeyState,
    pub(super) key_usage: KeyUsage,
    #[serde(rename = "Type")]
    pub(super) key_type: i64,
    pub(super) creator_uin: u64,
    pub(super) key_rotation_enabled: bool,
    pub(super) owner: &'static str,
    pub(super) next_rotate_time: u64,
    pub(super) deletion_date: u64,
    pub(super) origin: Origin,
    pub(super) valid_to: u64,
    pub(super) resource_id: String,
    pub(super) hsm_cluster_id: &'static str,
    pub(super) rotate_days: u64,
    pub(super) last_rotate_time: u64,
    pub(super) is_sync_replica: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateKeyResp {
    pub(super) key_id: String,
    pub(super) alias: String,
    pub(super) create_time: u64,
    pub(super) description: String,
    pub(super) key_state: KeyState,
    pub(super) key_usage: KeyUsage,
    pub(super) tag_code: u64,
    pub(super) tag_msg: &'static str,
    pub(super) hsm_cluster_id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeKeyResp {
    pub(super) key_metadata: KeyMetadata,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeKeysResp {
    pub(super) key_metadatas: Vec<KeyMetadata>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListKeysResp {
    pub(super) keys: Vec<KeyIdResp>,
    pub(super) total_count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListKeyDetailResp {
    pub(super) total_count: usize,
    pub(super) key_metadatas: Vec<KeyMetadata>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AlgorithmInfo {
    pub(super) key_usage: &'static str,
    pub(super) algorithm: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListAlgorithmsResp {
    pub(super) symmetric_algorithms: Vec<AlgorithmInfo>,
    pub(super) asymmetric_algorithms: Vec<AlgorithmInfo>,
    pub(super) asymmetric_sign_verify_algorithms: Vec<AlgorithmInfo>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ServiceStatusResp {
    pub(super) service_enabled: bool,
    pub(super) invalid_type: i64,
    pub(super) user_level: u64,
    pub(super) pro_expire_time: u64,
    pub(super) pro_renew_flag: u64,
    pub(super) pro_resource_id: &'static str,
    pub(super) exclusive_v_s_m_enabled: bool,
    #[serde(rename = "ExclusiveHSMEnabled")]
    pub(super) exclusive_hsm_enabled: bool,
    pub(super) subscription_info: &'static str,
    /// No `CmkLimit`: the mock limits no account's CMKs, and no number says "none".
    pub(super) cmk_user_count: u64,
    pub(super) is_allowed_data_key_hosted: bool,
    pub(super) data_key_limit: u64,
    pub(super) free_data_key_limit: u64,
    pub(super) data_key_used_count: u64,
    /// No exclusive HSM clusters and no cross-region replication in the mock.
    #[serde(rename = "ExclusiveHSMList")]
    pub(super) exclusive_hsm_list: [(); 0],
    pub(super) is_allowed_sync: bool,
    pub(super) sync_task_list: [(); 0],
}

pub(super) fn metadata(info: &KeyInfo) -> KeyMetadata {
    let r = &info.row;
    KeyMetadata {
        key_id: r.key_id.clone(),
        alias: r.alias.clone(),
        create_time: r.create_time,
        description: r.description.clone(),
        key_state: r.key_state,
        key_usage: r.key_usage,
        key_type: if r.algorithm.is_sm() { 4 } else { 2 },
        creator_uin: r.account_uin,
        key_rotation_enabled: r.rotation_enabled,
        owner: "user",
        next_rotate_time: r.next_rotate_time,
        deletion_date: r.deletion_date,
        origin: r.origin,
        valid_to: r.valid_to,
        resource_id: format!("creatorUin/{}/{}", r.account_uin, r.key_id),
        hsm_cluster_id: "",
        rotate_days: r.rotate_days,
        last_rotate_time: r.last_rotate_time,
        is_sync_replica: 0,
    }
}
