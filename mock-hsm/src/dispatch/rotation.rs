//! Rotation on the wire: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKey.

use serde::Serialize;

use super::messages::{Empty, KeyIdReq, RotationReq, RotationStatusResp, TaskResp};
use super::{CallError, parse};
use crate::hsm::{Hsm, Scope};

pub(super) fn enable_rotation(
    hsm: &Hsm,
    scope: Scope<'_>,
    p: &[u8],
) -> Result<impl Serialize, CallError> {
    let r: RotationReq = parse(p)?;
    hsm.enable_rotation(scope, &r.key_id, r.rotate_days)?;
    Ok(Empty {})
}

pub(super) fn disable_rotation(
    hsm: &Hsm,
    scope: Scope<'_>,
    p: &[u8],
) -> Result<impl Serialize, CallError> {
    let r: KeyIdReq = parse(p)?;
    hsm.disable_rotation(scope, &r.key_id)?;
    Ok(Empty {})
}

pub(super) fn rotation_status(
    hsm: &Hsm,
    scope: Scope<'_>,
    p: &[u8],
) -> Result<impl Serialize, CallError> {
    let r: KeyIdReq = parse(p)?;
    let key_rotation_enabled = hsm.rotation_status(scope, &r.key_id)?;
    Ok(RotationStatusResp {
        key_rotation_enabled,
    })
}

pub(super) fn rotate_now(
    hsm: &Hsm,
    scope: Scope<'_>,
    p: &[u8],
) -> Result<impl Serialize, CallError> {
    let r: KeyIdReq = parse(p)?;
    hsm.rotate_now(scope, &r.key_id)?;
    Ok(TaskResp {
        task_id: uuid::Uuid::new_v4().to_string(),
    })
}
