//! Key lifecycle on the wire: CreateKey, DescribeKey(s), ListKeys, ListKeyDetail, UpdateAlias,
//! UpdateKeyDescription, EnableKey(s)/DisableKey(s), ScheduleKeyDeletion, CancelKeyDeletion,
//! ArchiveKey, CancelKeyArchive.

use serde::Serialize;

use super::messages::{
    AliasReq, CreateKeyReq, CreateKeyResp, DescribeKeyResp, DescribeKeysResp, DescriptionReq,
    Empty, KeyIdReq, KeyIdResp, KeyIdsReq, ListKeyDetailResp, ListKeysResp, ListReq, ScheduleReq,
    ScheduleResp, metadata, tag_filter_pairs, tag_pairs,
};
use super::{CallError, err};
use crate::api::ApiError;
use crate::hsm::{Accept, Hsm, HsmError, KeyFilter, KeyState, KeyUsage, NewKey, Origin, Scope};

pub(super) fn check_cluster(cluster: Option<&str>) -> Result<(), ApiError> {
    match cluster {
        None | Some("") | Some("default") => Ok(()),
        Some(_) => Err(err(
            "InvalidParameterValue.InvalidHsmClusterId",
            "the mock has only the shared cluster (HsmClusterId \"\" or \"default\")",
        )),
    }
}

pub(super) fn create_key(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: CreateKeyReq,
) -> Result<impl Serialize, CallError> {
    check_cluster(r.hsm_cluster_id.as_deref())?;
    let external = match r.r#type.unwrap_or(1) {
        1 => false,
        2 => true,
        _ => {
            return Err(err(
                "InvalidParameterValue.InvalidType",
                "Type must be 1 (KMS-generated) or 2 (EXTERNAL)",
            ));
        }
    };
    let row = hsm.create_key(
        scope,
        NewKey {
            alias: r.alias,
            description: r.description,
            key_usage: match r.key_usage.as_deref() {
                None | Some("") => KeyUsage::EncryptDecrypt,
                Some(usage) => KeyUsage::parse(usage)
                    .ok_or_else(|| HsmError::UnsupportedUsage(usage.to_owned()))?,
            },
            external,
            tags: tag_pairs(r.tags),
        },
    )?;
    Ok(CreateKeyResp {
        key_id: row.key_id,
        alias: row.alias,
        create_time: row.create_time,
        description: row.description,
        key_state: row.key_state,
        key_usage: row.key_usage,
        tag_code: 0,
        tag_msg: "ok",
        hsm_cluster_id: "",
    })
}

pub(super) fn describe_key(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: KeyIdReq,
) -> Result<impl Serialize, CallError> {
    let info = hsm.describe_key(scope, &r.key_id)?;
    Ok(DescribeKeyResp {
        key_metadata: metadata(&info),
    })
}

pub(super) fn describe_keys(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: KeyIdsReq,
) -> Result<impl Serialize, CallError> {
    let infos = hsm.describe_keys(scope, &r.key_ids)?;
    Ok(DescribeKeysResp {
        key_metadatas: infos.iter().map(metadata).collect(),
    })
}

/// Offset (default 0) and Limit (default 10, at most 200) of a listing (docs/kms-api.md §3.2).
pub(super) fn page(offset: Option<u64>, limit: Option<u64>) -> Result<(usize, usize), ApiError> {
    let offset = offset.unwrap_or(0) as usize;
    let limit = limit.unwrap_or(10);
    if limit > 200 {
        return Err(err("InvalidParameter", "Limit must be at most 200"));
    }
    Ok((offset, limit as usize))
}

pub(super) fn list_keys(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: ListReq,
) -> Result<impl Serialize, CallError> {
    check_cluster(r.hsm_cluster_id.as_deref())?;
    let (offset, limit) = page(r.offset, r.limit)?;
    let mut keys = if r.role.unwrap_or(0) == 1 {
        Vec::new() // no keys created by cloud products
    } else {
        hsm.list_keys(
            scope,
            &KeyFilter {
                key_usage: Accept::Any,
                ascending: true,
                ..KeyFilter::default()
            },
        )?
    };
    keys.retain(|k| {
        [
            KeyState::Enabled,
            KeyState::Disabled,
            KeyState::PendingImport,
        ]
        .contains(&k.row.key_state)
    });
    let total_count = keys.len();
    let keys = keys
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|k| KeyIdResp {
            key_id: k.row.key_id,
        })
        .collect();
    Ok(ListKeysResp { keys, total_count })
}

pub(super) fn list_key_detail(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: ListReq,
) -> Result<impl Serialize, CallError> {
    check_cluster(r.hsm_cluster_id.as_deref())?;
    let (offset, limit) = page(r.offset, r.limit)?;
    let key_state = match r.key_state.unwrap_or(0) {
        0 => Accept::Any,
        n => Accept::Only(
            KeyState::from_list_filter(n)
                .ok_or_else(|| err::<CallError>("InvalidParameter", "KeyState must be 0 to 5"))?,
        ),
    };
    let filter = KeyFilter {
        key_state,
        search: r.search_key_alias.clone(),
        origin: origin_filter(r.origin.as_deref()),
        key_usage: match r.key_usage.as_deref() {
            Some("ALL") => Accept::Any,
            None | Some("") => Accept::Only(KeyUsage::EncryptDecrypt),
            Some(usage) => KeyUsage::parse(usage).map_or(Accept::Nothing, Accept::Only),
        },
        tag_filters: tag_filter_pairs(r.tag_filters),
        ascending: r.order_type.unwrap_or(0) == 1,
    };
    let keys = if r.role.unwrap_or(0) == 1 {
        Vec::new()
    } else {
        hsm.list_keys(scope, &filter)?
    };
    Ok(ListKeyDetailResp {
        total_count: keys.len(),
        key_metadatas: keys.iter().skip(offset).take(limit).map(metadata).collect(),
    })
}

/// A listing's `Origin` filter: `ALL` or empty for any, else one origin (case-sensitive).
pub(super) fn origin_filter(origin: Option<&str>) -> Accept<Origin> {
    match origin {
        None | Some("") | Some("ALL") => Accept::Any,
        Some(origin) => Origin::parse(origin).map_or(Accept::Nothing, Accept::Only),
    }
}

pub(super) fn update_alias(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: AliasReq,
) -> Result<impl Serialize, CallError> {
    hsm.update_alias(scope, &r.key_id, &r.alias)?;
    Ok(Empty {})
}

pub(super) fn update_description(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: DescriptionReq,
) -> Result<impl Serialize, CallError> {
    hsm.update_description(scope, &r.key_id, &r.description)?;
    Ok(Empty {})
}

/// EnableKey (`enable`) or DisableKey.
pub(super) fn set_enabled(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: KeyIdReq,
    enable: bool,
) -> Result<impl Serialize, CallError> {
    hsm.set_enabled(scope, &[r.key_id], enable)?;
    Ok(Empty {})
}

/// EnableKeys (`enable`) or DisableKeys.
pub(super) fn set_all_enabled(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: KeyIdsReq,
    enable: bool,
) -> Result<impl Serialize, CallError> {
    hsm.set_enabled(scope, &r.key_ids, enable)?;
    Ok(Empty {})
}

pub(super) fn schedule_deletion(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: ScheduleReq,
) -> Result<impl Serialize, CallError> {
    let deletion_date = hsm.schedule_deletion(scope, &r.key_id, r.pending_window_in_days)?;
    Ok(ScheduleResp {
        deletion_date,
        key_id: r.key_id,
    })
}

pub(super) fn cancel_deletion(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: KeyIdReq,
) -> Result<impl Serialize, CallError> {
    hsm.cancel_deletion(scope, &r.key_id)?;
    Ok(KeyIdResp { key_id: r.key_id })
}

/// ArchiveKey (`archive`) or CancelKeyArchive.
pub(super) fn archive(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: KeyIdReq,
    archive: bool,
) -> Result<impl Serialize, CallError> {
    hsm.archive(scope, &r.key_id, archive)?;
    Ok(Empty {})
}
