//! Hosted data keys on the wire (docs/serve.md, "Hosted data keys"): the 15 data-key actions,
//! their request and response bodies, and the hosted half of GenerateDataKey.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::lifecycle::{check_cluster, origin_filter, page};
use super::messages::{Empty, Tag, TagFilter, de_u64, de_u64_opt, tag_filter_pairs, tag_pairs};
use super::{CallError, err, parse, respond};
use crate::api::{ApiError, CallContext, CallTargets};
use crate::blob::{self, Blob};
use crate::hsm::{
    Accept, DataKeyFilter, DataKeyInfo, Hsm, Imported, KeyState, NewDataKey, Origin, Scope,
};

// ---- requests ----

/// GenerateDataKey's fields for a hosted data key.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct HostedFields {
    #[serde(default)]
    data_key_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    hsm_cluster_id: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct IdReq {
    data_key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct IdsReq {
    data_key_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ImportDataKeyReq {
    import_key_material: Zeroizing<String>,
    #[serde(deserialize_with = "de_u64")]
    import_type: u64,
    #[serde(default)]
    key_id: Option<String>,
    // HostedFields' fields, not flattened: `serde(flatten)` would buffer the whole request,
    // the material too, in copies that are never zeroized.
    #[serde(default)]
    data_key_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    hsm_cluster_id: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
}

/// ListDataKeys and ListDataKeyDetail.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListReq {
    #[serde(default, deserialize_with = "de_u64_opt")]
    offset: Option<u64>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    limit: Option<u64>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    role: Option<u64>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    order_type: Option<u64>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    key_state: Option<u64>,
    #[serde(default)]
    search_key_alias: Option<String>,
    #[serde(default)]
    origin: Option<String>,
    #[serde(default)]
    hsm_cluster_id: Option<String>,
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default, deserialize_with = "de_u64_opt")]
    data_key_len: Option<u64>,
    #[serde(default)]
    tag_filters: Vec<TagFilter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ScheduleReq {
    data_key_id: String,
    #[serde(deserialize_with = "de_u64")]
    pending_window_in_days: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NameReq {
    data_key_id: String,
    data_key_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescriptionReq {
    data_key_id: String,
    description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PlaintextReq {
    data_key_id: String,
    #[serde(default)]
    encryption_public_key: Option<String>,
    #[serde(default)]
    encryption_algorithm: Option<String>,
}

/// One data-key call, parsed.
pub(super) enum Call {
    Import(ImportDataKeyReq, Option<Blob>),
    Describe(IdReq),
    DescribeMany(IdsReq),
    List(ListReq),
    ListDetail(ListReq),
    Enable(IdReq),
    Disable(IdReq),
    EnableMany(IdsReq),
    DisableMany(IdsReq),
    Schedule(ScheduleReq),
    Cancel(IdReq),
    UpdateName(NameReq),
    UpdateDescription(DescriptionReq),
    Plaintext(PlaintextReq),
    CiphertextBlob(IdReq),
}

impl Call {
    /// `None` when `action` is not a data-key action.
    pub(super) fn parse(action: &str, p: &[u8]) -> Result<Option<Self>, ApiError> {
        Ok(Some(match action {
            "ImportDataKey" => {
                let r: ImportDataKeyReq = parse(p)?;
                let blob = (r.import_type == 1)
                    .then(|| blob::parse(&r.import_key_material))
                    .flatten();
                Self::Import(r, blob)
            }
            "DescribeDataKey" => Self::Describe(parse(p)?),
            "DescribeDataKeys" => Self::DescribeMany(parse(p)?),
            "ListDataKeys" => Self::List(parse(p)?),
            "ListDataKeyDetail" => Self::ListDetail(parse(p)?),
            "EnableDataKey" => Self::Enable(parse(p)?),
            "DisableDataKey" => Self::Disable(parse(p)?),
            "EnableDataKeys" => Self::EnableMany(parse(p)?),
            "DisableDataKeys" => Self::DisableMany(parse(p)?),
            "ScheduleDataKeyDeletion" => Self::Schedule(parse(p)?),
            "CancelDataKeyDeletion" => Self::Cancel(parse(p)?),
            "UpdateDataKeyName" => Self::UpdateName(parse(p)?),
            "UpdateDataKeyDescription" => Self::UpdateDescription(parse(p)?),
            "GetDataKeyPlaintext" => Self::Plaintext(parse(p)?),
            "GetDataKeyCiphertextBlob" => Self::CiphertextBlob(parse(p)?),
            _ => return Ok(None),
        }))
    }

    /// What CAM judges the call on: the CMK of each named data key (docs/cam.md), found with
    /// `cmk_of`; an unknown data key names nothing (the call answers DataKeyNotFound).
    pub(super) fn targets(&self, cmk_of: &dyn Fn(&str) -> Option<String>) -> CallTargets {
        let ids: Vec<&str> = match self {
            Self::Import(r, blob) => {
                let key_id = r.key_id.clone().filter(|k| !k.is_empty());
                let key_ids = key_id.or_else(|| blob.as_ref().map(|b| b.key_id.clone()));
                return CallTargets {
                    key_ids: key_ids.into_iter().collect(),
                    encryption_context: None,
                };
            }
            Self::List(_) | Self::ListDetail(_) => Vec::new(),
            Self::DescribeMany(r) | Self::EnableMany(r) | Self::DisableMany(r) => {
                r.data_key_ids.iter().map(String::as_str).collect()
            }
            Self::Describe(r)
            | Self::Enable(r)
            | Self::Disable(r)
            | Self::Cancel(r)
            | Self::CiphertextBlob(r) => vec![&r.data_key_id],
            Self::Schedule(r) => vec![&r.data_key_id],
            Self::UpdateName(r) => vec![&r.data_key_id],
            Self::UpdateDescription(r) => vec![&r.data_key_id],
            Self::Plaintext(r) => vec![&r.data_key_id],
        };
        let mut key_ids: Vec<String> = Vec::new();
        for cmk in ids.into_iter().filter_map(cmk_of) {
            if !key_ids.contains(&cmk) {
                key_ids.push(cmk);
            }
        }
        CallTargets {
            key_ids,
            encryption_context: None,
        }
    }
}

/// The caller's part of a hosted data key (GenerateDataKey with IsHostedByKms=1, and
/// ImportDataKey): DataKeyName is required.
pub(super) fn hosted(fields: HostedFields) -> Result<NewDataKey, CallError> {
    check_cluster(fields.hsm_cluster_id.as_deref())?;
    let name = fields.data_key_name.ok_or_else(|| {
        err::<CallError>(
            "MissingParameter",
            "DataKeyName is required for a data key KMS keeps",
        )
    })?;
    Ok(NewDataKey {
        name,
        description: fields.description.unwrap_or_default(),
        tags: tag_pairs(fields.tags),
    })
}

// ---- responses ----

/// DataKeyMetadata (docs/kms-api.md §4.4's data-key fields, plus IsSyncReplica).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DataKeyMetadata {
    data_key_id: String,
    key_id: String,
    key_name: String,
    data_key_name: String,
    number_of_bytes: u32,
    create_time: u64,
    description: String,
    key_state: KeyState,
    creator_uin: u64,
    owner: &'static str,
    deletion_date: u64,
    origin: Origin,
    hsm_cluster_id: &'static str,
    resource_id: String,
    is_sync_replica: u64,
}

fn metadata(info: DataKeyInfo) -> DataKeyMetadata {
    let r = info.row;
    DataKeyMetadata {
        resource_id: format!("creatorUin/{}/{}", r.account_uin, r.data_key_id),
        data_key_id: r.data_key_id,
        key_id: r.key_id,
        key_name: info.key_name,
        data_key_name: r.name,
        number_of_bytes: r.number_of_bytes,
        create_time: r.create_time,
        description: r.description,
        key_state: r.key_state,
        creator_uin: r.account_uin,
        owner: "user",
        deletion_date: r.deletion_date,
        origin: r.origin,
        hsm_cluster_id: "",
        is_sync_replica: 0,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImportResp {
    key_id: String,
    data_key_id: String,
    tag_code: u64,
    tag_msg: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeResp {
    data_key_metadata: DataKeyMetadata,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeManyResp {
    data_key_metadatas: Vec<DataKeyMetadata>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct IdResp {
    data_key_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListResp {
    data_keys: Vec<IdResp>,
    total_count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListDetailResp {
    data_key_metadatas: Vec<DataKeyMetadata>,
    total_count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleResp {
    deletion_date: u64,
    data_key_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PlaintextResp {
    plaintext: Zeroizing<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CiphertextBlobResp {
    ciphertext_blob: String,
}

// ---- handlers ----

/// Runs one data-key call.
pub(super) fn run(
    hsm: &Hsm,
    ctx: &CallContext,
    scope: Scope<'_>,
    call: Call,
) -> Result<Zeroizing<Vec<u8>>, CallError> {
    match call {
        Call::Import(r, blob) => respond(ctx, import(hsm, scope, r, blob)?),
        Call::Describe(r) => respond(
            ctx,
            DescribeResp {
                data_key_metadata: metadata(hsm.describe_data_key(scope, &r.data_key_id)?),
            },
        ),
        Call::DescribeMany(r) => respond(
            ctx,
            DescribeManyResp {
                data_key_metadatas: hsm
                    .describe_data_keys(scope, &r.data_key_ids)?
                    .into_iter()
                    .map(metadata)
                    .collect(),
            },
        ),
        Call::List(r) => respond(ctx, list(hsm, scope, r)?),
        Call::ListDetail(r) => respond(ctx, list_detail(hsm, scope, r)?),
        Call::Enable(r) => enable(hsm, ctx, scope, vec![r.data_key_id], true),
        Call::Disable(r) => enable(hsm, ctx, scope, vec![r.data_key_id], false),
        Call::EnableMany(r) => enable(hsm, ctx, scope, r.data_key_ids, true),
        Call::DisableMany(r) => enable(hsm, ctx, scope, r.data_key_ids, false),
        Call::Schedule(r) => {
            let deletion_date =
                hsm.schedule_data_key_deletion(scope, &r.data_key_id, r.pending_window_in_days)?;
            respond(
                ctx,
                ScheduleResp {
                    deletion_date,
                    data_key_id: r.data_key_id,
                },
            )
        }
        Call::Cancel(r) => {
            hsm.cancel_data_key_deletion(scope, &r.data_key_id)?;
            respond(
                ctx,
                IdResp {
                    data_key_id: r.data_key_id,
                },
            )
        }
        Call::UpdateName(r) => {
            hsm.update_data_key_name(scope, &r.data_key_id, &r.data_key_name)?;
            respond(ctx, Empty {})
        }
        Call::UpdateDescription(r) => {
            hsm.update_data_key_description(scope, &r.data_key_id, &r.description)?;
            respond(ctx, Empty {})
        }
        Call::Plaintext(r) => {
            let data_key = hsm.data_key_plaintext(scope, &r.data_key_id)?;
            // The same sealing GenerateDataKey and Decrypt use (hsm/symmetric.rs).
            let out = hsm.seal_for_caller(
                data_key,
                r.encryption_public_key.as_deref(),
                r.encryption_algorithm.as_deref(),
            )?;
            respond(
                ctx,
                PlaintextResp {
                    plaintext: Zeroizing::new(B64.encode(&out[..])),
                },
            )
        }
        Call::CiphertextBlob(r) => respond(
            ctx,
            CiphertextBlobResp {
                ciphertext_blob: hsm.data_key_blob(scope, &r.data_key_id)?,
            },
        ),
    }
}

fn enable(
    hsm: &Hsm,
    ctx: &CallContext,
    scope: Scope<'_>,
    ids: Vec<String>,
    enable: bool,
) -> Result<Zeroizing<Vec<u8>>, CallError> {
    hsm.set_data_keys_enabled(scope, &ids, enable)?;
    respond(ctx, Empty {})
}

fn import(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: ImportDataKeyReq,
    blob: Option<Blob>,
) -> Result<impl Serialize, CallError> {
    let new = hosted(HostedFields {
        data_key_name: r.data_key_name,
        description: r.description,
        hsm_cluster_id: r.hsm_cluster_id,
        tags: r.tags,
    })?;
    let material;
    let imported = match r.import_type {
        1 => Imported::Ciphertext(blob.as_ref(), &r.import_key_material),
        2 => {
            material = B64
                .decode(r.import_key_material.trim())
                .map(Zeroizing::new)
                .map_err(|_| {
                    err::<ApiError>(
                        "InvalidParameterValue.InvalidImportKeyMaterial",
                        "ImportKeyMaterial must be standard base64 (ImportType 2)",
                    )
                })?;
            Imported::Plaintext(material)
        }
        _ => {
            return Err(err(
                "InvalidParameterValue.InvalidType",
                "ImportType must be 1 (a CiphertextBlob from GenerateDataKey) or 2 (the data key in base64)",
            ));
        }
    };
    let key_id = r.key_id.as_deref().filter(|k| !k.is_empty());
    if r.import_type == 2 && key_id.is_none() {
        return Err(err(
            "MissingParameter",
            "KeyId is required to import a data key in the clear (ImportType 2)",
        ));
    }
    let (key_id, data_key_id) = hsm.import_data_key(scope, imported, key_id, new)?;
    Ok(ImportResp {
        key_id,
        data_key_id,
        tag_code: 0,
        tag_msg: "ok",
    })
}

/// Role 1 (keys made by cloud products) lists nothing: the mock has none.
fn listed(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: &ListReq,
    filter: &DataKeyFilter,
) -> Result<Vec<DataKeyInfo>, CallError> {
    check_cluster(r.hsm_cluster_id.as_deref())?;
    if r.role.unwrap_or(0) == 1 {
        return Ok(Vec::new());
    }
    Ok(hsm.list_data_keys(scope, filter)?)
}

/// ListDataKeys: Enabled and Disabled data keys, oldest first (as ListKeys, docs/kms-api.md
/// §3.2, leaves out keys pending deletion).
fn list(hsm: &Hsm, scope: Scope<'_>, r: ListReq) -> Result<impl Serialize, CallError> {
    let (offset, limit) = page(r.offset, r.limit)?;
    let filter = DataKeyFilter {
        ascending: true,
        ..DataKeyFilter::default()
    };
    let mut keys = listed(hsm, scope, &r, &filter)?;
    keys.retain(|k| k.row.key_state != KeyState::PendingDelete);
    Ok(ListResp {
        total_count: keys.len(),
        data_keys: keys
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|k| IdResp {
                data_key_id: k.row.data_key_id,
            })
            .collect(),
    })
}

fn list_detail(hsm: &Hsm, scope: Scope<'_>, mut r: ListReq) -> Result<impl Serialize, CallError> {
    let (offset, limit) = page(r.offset, r.limit)?;
    let key_state = match r.key_state.unwrap_or(0) {
        0 => Accept::Any,
        1 => Accept::Only(KeyState::Enabled),
        2 => Accept::Only(KeyState::Disabled),
        3 => Accept::Only(KeyState::PendingDelete),
        _ => {
            return Err(err(
                "InvalidParameter",
                "KeyState must be 0 (all), 1 (Enabled), 2 (Disabled) or 3 (PendingDelete)",
            ));
        }
    };
    let filter = DataKeyFilter {
        key_state,
        search: r.search_key_alias.clone(),
        origin: origin_filter(r.origin.as_deref()),
        key_id: r.key_id.clone().filter(|k| !k.is_empty()),
        number_of_bytes: match r.data_key_len {
            None | Some(0) => Accept::Any,
            Some(n) => u32::try_from(n).map_or(Accept::Nothing, Accept::Only),
        },
        tag_filters: tag_filter_pairs(std::mem::take(&mut r.tag_filters)),
        ascending: r.order_type.unwrap_or(0) == 1,
    };
    let keys = listed(hsm, scope, &r, &filter)?;
    Ok(ListDetailResp {
        total_count: keys.len(),
        data_key_metadatas: keys
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(metadata)
            .collect(),
    })
}
