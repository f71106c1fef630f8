//! Rotation on the wire: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKey.

use serde::Serialize;

use super::CallError;
use super::messages::{Empty, KeyIdReq, RotationReq, RotationStatusResp, TaskResp};
use crate::hsm::{Hsm, Scope};

pub(super) fn enable_rotation(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: RotationReq,
) -> Result<impl Serialize, CallError> {
    hsm.enable_rotation(scope, &r.key_id, r.rotate_days)?;
    Ok(Empty {})
}

pub(super) fn disable_rotation(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: KeyIdReq,
) -> Result<impl Serialize, CallError> {
    hsm.disable_rotation(scope, &r.key_id)?;
    Ok(Empty {})
}

pub(super) fn rotation_status(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: KeyIdReq,
) -> Result<impl Serialize, CallError> {
    let key_rotation_enabled = hsm.rotation_status(scope, &r.key_id)?;
    Ok(RotationStatusResp {
        key_rotation_enabled,
    })
}

pub(super) fn rotate_now(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: KeyIdReq,
) -> Result<impl Serialize, CallError> {
    hsm.rotate_now(scope, &r.key_id)?;
    Ok(TaskResp {
        task_id: uuid::Uuid::new_v4().to_string(),
    })
}
