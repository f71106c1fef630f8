//! White-box keys on the wire (docs/whitebox.md): the 13 actions, read into
//! [`WhiteBoxRequest`] and answered from `hsm/whitebox.rs`.

mod messages;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::messages::{KeyIdReq, KeyIdsReq, tag_filter_pairs, tag_pairs};
use super::{CallError, parse, respond};
use crate::api::CallContext;
use crate::hsm::{
    Fingerprint, Hsm, HsmError, NewWhiteBoxKey, Scope, WhiteBoxError, WhiteBoxFilter, WhiteBoxKey,
    WhiteBoxStatus,
};
use messages::{
    CreateReq, CreateResp, DecryptKeyResp, DescribeResp, DetailsReq, DetailsResp, EncryptReq,
    EncryptResp, FingerprintOut, FingerprintsResp, KeyInfo, OverwriteReq, ServiceStatusResp,
};

/// A white-box call with its parameters.
pub(super) enum WhiteBoxRequest {
    Create(CreateReq),
    Describe(KeyIdReq),
    Details(DetailsReq),
    DecryptKey(KeyIdReq),
    Enable(KeyIdReq),
    Disable(KeyIdReq),
    EnableAll(KeyIdsReq),
    DisableAll(KeyIdsReq),
    Delete(KeyIdReq),
    Encrypt(EncryptReq),
    Fingerprints(KeyIdReq),
    Overwrite(OverwriteReq),
    ServiceStatus,
}

impl WhiteBoxRequest {
    /// Reads a white-box action's parameters; `None` when `action` is not one of the family.
    pub(super) fn parse(action: &str, p: &[u8]) -> Option<Result<Self, crate::api::ApiError>> {
        let parsed = match action {
            "CreateWhiteBoxKey" => parse(p).map(Self::Create),
            "DescribeWhiteBoxKey" => parse(p).map(Self::Describe),
            "DescribeWhiteBoxKeyDetails" => parse(p).map(Self::Details),
            "DescribeWhiteBoxDecryptKey" => parse(p).map(Self::DecryptKey),
            "EnableWhiteBoxKey" => parse(p).map(Self::Enable),
            "DisableWhiteBoxKey" => parse(p).map(Self::Disable),
            "EnableWhiteBoxKeys" => parse(p).map(Self::EnableAll),
            "DisableWhiteBoxKeys" => parse(p).map(Self::DisableAll),
            "DeleteWhiteBoxKey" => parse(p).map(Self::Delete),
            "EncryptByWhiteBox" => parse(p).map(Self::Encrypt),
            "DescribeWhiteBoxDeviceFingerprints" => parse(p).map(Self::Fingerprints),
            "OverwriteWhiteBoxDeviceFingerprints" => parse(p).map(Self::Overwrite),
            "DescribeWhiteBoxServiceStatus" => Ok(Self::ServiceStatus),
            _ => return None,
        };
        Some(parsed)
    }

    /// The white-box key ids the call names, in request order (CAM resources `key/<KeyId>`).
    pub(super) fn key_ids(&self) -> Vec<String> {
        match self {
            Self::Describe(r)
            | Self::DecryptKey(r)
            | Self::Enable(r)
            | Self::Disable(r)
            | Self::Delete(r)
            | Self::Fingerprints(r) => vec![r.key_id.clone()],
            Self::EnableAll(r) | Self::DisableAll(r) => r.key_ids.clone(),
            Self::Encrypt(r) => vec![r.key_id.clone()],
            Self::Overwrite(r) => vec![r.key_id.clone()],
            Self::Create(_) | Self::Details(_) | Self::ServiceStatus => Vec::new(),
        }
    }
}

fn invalid(message: &str) -> CallError {
    CallError::Core(HsmError::from(WhiteBoxError::InvalidValue(
        message.to_owned(),
    )))
}

/// Runs one white-box call.
pub(super) fn run(
    hsm: &Hsm,
    ctx: &CallContext,
    scope: Scope<'_>,
    request: WhiteBoxRequest,
) -> Result<Zeroizing<Vec<u8>>, CallError> {
    let done = super::messages::Empty {};
    match request {
        WhiteBoxRequest::Create(r) => respond(ctx, create(hsm, scope, r)?),
        WhiteBoxRequest::Describe(r) => respond(
            ctx,
            DescribeResp {
                key_info: info(hsm.describe_whitebox_key(scope, &r.key_id)?),
            },
        ),
        WhiteBoxRequest::Details(r) => respond(ctx, details(hsm, scope, r)?),
        WhiteBoxRequest::DecryptKey(r) => respond(
            ctx,
            DecryptKeyResp {
                decrypt_key: hsm.whitebox_decrypt_key(scope, &r.key_id)?,
            },
        ),
        WhiteBoxRequest::Enable(r) => {
            hsm.set_whitebox_enabled(scope, &[r.key_id], true)?;
            respond(ctx, done)
        }
        WhiteBoxRequest::Disable(r) => {
            hsm.set_whitebox_enabled(scope, &[r.key_id], false)?;
            respond(ctx, done)
        }
        WhiteBoxRequest::EnableAll(r) => {
            hsm.set_whitebox_enabled(scope, &r.key_ids, true)?;
            respond(ctx, done)
        }
        WhiteBoxRequest::DisableAll(r) => {
            hsm.set_whitebox_enabled(scope, &r.key_ids, false)?;
            respond(ctx, done)
        }
        WhiteBoxRequest::Delete(r) => {
            hsm.delete_whitebox_key(scope, &r.key_id)?;
            respond(ctx, done)
        }
        WhiteBoxRequest::Encrypt(r) => respond(ctx, encrypt(hsm, scope, r)?),
        WhiteBoxRequest::Fingerprints(r) => respond(
            ctx,
            FingerprintsResp {
                device_fingerprints: hsm
                    .whitebox_fingerprints(scope, &r.key_id)?
                    .into_iter()
                    .map(|f| FingerprintOut {
                        identity: f.identity,
                        description: f.description,
                    })
                    .collect(),
            },
        ),
        WhiteBoxRequest::Overwrite(r) => {
            let fingerprints: Vec<Fingerprint> = r
                .device_fingerprints
                .into_iter()
                .map(|f| Fingerprint {
                    identity: f.identity,
                    description: f.description,
                })
                .collect();
            hsm.overwrite_whitebox_fingerprints(scope, &r.key_id, &fingerprints)?;
            respond(ctx, done)
        }
        // The mock's white-box service is always open: RU.NotPurchased never happens.
        WhiteBoxRequest::ServiceStatus => respond(
            ctx,
            ServiceStatusResp {
                service_enabled: true,
            },
        ),
    }
}

fn info(key: WhiteBoxKey) -> KeyInfo {
    let row = key.row;
    KeyInfo {
        resource_id: format!("creatorUin/{}/{}", row.account_uin, row.key_id),
        key_id: row.key_id,
        alias: row.alias,
        creator_uin: row.account_uin,
        description: row.description,
        create_time: row.create_time,
        status: row.status.as_str(),
        owner_uin: row.account_uin,
        algorithm: row.algorithm.name(),
        encrypt_key: key.encrypt_key,
        decrypt_key: key.decrypt_key,
        device_fingerprint_bind: key.fingerprint_bound,
    }
}

fn create(hsm: &Hsm, scope: Scope<'_>, r: CreateReq) -> Result<CreateResp, CallError> {
    let key = hsm.create_whitebox_key(
        scope,
        NewWhiteBoxKey {
            alias: r.alias,
            algorithm: r.algorithm,
            description: r.description,
            tags: tag_pairs(r.tags),
        },
    )?;
    Ok(CreateResp {
        encrypt_key: key.encrypt_key,
        decrypt_key: key.decrypt_key,
        key_id: key.row.key_id,
        tag_code: 0,
        tag_msg: "ok",
    })
}

fn details(hsm: &Hsm, scope: Scope<'_>, r: DetailsReq) -> Result<DetailsResp, CallError> {
    let status = match r.key_status.as_ref().map(|v| match v {
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        other => other.as_i64(),
    }) {
        None => None,
        Some(Some(0)) => Some(WhiteBoxStatus::Disabled),
        Some(Some(1)) => Some(WhiteBoxStatus::Enabled),
        Some(_) => return Err(invalid("KeyStatus must be 0 (disabled) or 1 (enabled)")),
    };
    let keys = hsm.list_whitebox_keys(
        scope,
        &WhiteBoxFilter {
            status,
            tag_filters: tag_filter_pairs(r.tag_filters),
        },
    )?;
    let total_count = keys.len();
    let offset = usize::try_from(r.offset.unwrap_or(0)).unwrap_or(usize::MAX);
    // Limit 0 (the default) returns everything from Offset on (the SDK's docstring).
    let limit = match r.limit.unwrap_or(0) {
        0 => usize::MAX,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    Ok(DetailsResp {
        key_infos: keys
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(info)
            .collect(),
        total_count,
    })
}

fn encrypt(hsm: &Hsm, scope: Scope<'_>, r: EncryptReq) -> Result<EncryptResp, CallError> {
    let plaintext = B64
        .decode(r.plain_text.trim())
        .map(Zeroizing::new)
        .map_err(|_| invalid("PlainText must be standard base64"))?;
    let given = r.initialization_vector.filter(|iv| !iv.is_empty());
    let iv = match &given {
        None => None,
        Some(text) => {
            let bytes = B64
                .decode(text.trim())
                .map_err(|_| invalid("InitializationVector must be standard base64"))?;
            Some(
                <[u8; 16]>::try_from(&bytes[..])
                    .map_err(|_| invalid("InitializationVector must decode to 16 bytes"))?,
            )
        }
    };
    let out = hsm.encrypt_by_whitebox(scope, &r.key_id, &plaintext, iv)?;
    Ok(EncryptResp {
        // A given IV is returned as sent (the SDK's docstring).
        initialization_vector: given.unwrap_or_else(|| B64.encode(out.iv)),
        cipher_text: B64.encode(&out.ciphertext),
    })
}
