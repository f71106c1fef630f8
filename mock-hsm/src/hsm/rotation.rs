//! Rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKey, and the
//! scheduled rotation that adds a version.

use super::rules::state_not_supported;
use super::types::{KeyState, KeyUsage, Origin};
use super::{DAY, Hsm, HsmError, Scope};
use crate::material::Material;
use crate::store::{KeyRow, Tx};

impl Hsm {
    /// Adds a new version (stored before anything can use it) and moves the schedule on.
    pub(super) fn rotate(&self, tx: &Tx<'_>, row: &mut KeyRow, now: u64) -> Result<(), HsmError> {
        let material =
            Material::generate(row.algorithm).map_err(|_| HsmError::Internal("key generation"))?;
        let version = row.current_version + 1;
        tx.insert_version(&row.key_id, version, now, &material)?;
        row.current_version = version;
        row.last_rotate_time = now;
        row.next_rotate_time = now + row.rotate_days * DAY;
        tx.update_key(row)?;
        Ok(())
    }

    pub(crate) fn enable_rotation(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        days: Option<u64>,
    ) -> Result<(), HsmError> {
        let days = days.unwrap_or(365);
        if !(7..=365).contains(&days) {
            return Err(HsmError::InvalidParameterValue(
                "RotateDays must be 7 to 365".into(),
            ));
        }
        self.mutate(scope, key_id, |_, row, now| {
            check_rotatable(row)?;
            if ![KeyState::Enabled, KeyState::Disabled].contains(&row.key_state) {
                return Err(state_not_supported(row));
            }
            row.rotation_enabled = true;
            row.rotate_days = days;
            let anchor = if row.last_rotate_time > 0 {
                row.last_rotate_time
            } else {
                row.create_time
            };
            let next = anchor + days * DAY;
            row.next_rotate_time = if next > now { next } else { now + days * DAY };
            Ok(())
        })
    }

    pub(crate) fn disable_rotation(&self, scope: Scope<'_>, key_id: &str) -> Result<(), HsmError> {
        self.mutate(scope, key_id, |_, row, _| {
            if [KeyState::PendingDelete, KeyState::PendingImport].contains(&row.key_state) {
                return Err(state_not_supported(row));
            }
            row.rotation_enabled = false;
            Ok(())
        })
    }

    pub(crate) fn rotation_status(&self, scope: Scope<'_>, key_id: &str) -> Result<bool, HsmError> {
        self.with_key(scope, key_id, |_, row| Ok(row.rotation_enabled))
    }

    pub(crate) fn rotate_now(&self, scope: Scope<'_>, key_id: &str) -> Result<u32, HsmError> {
        self.mutate(scope, key_id, |tx, row, now| {
            check_rotatable(row).map_err(|_| HsmError::RotateNotSupported)?;
            if !row.rotation_enabled {
                return Err(HsmError::RotationNotEnabled(row.key_id.clone()));
            }
            if row.key_state != KeyState::Enabled {
                return Err(state_not_supported(row));
            }
            if row.last_rotate_time > 0 && now < row.last_rotate_time + DAY {
                return Err(HsmError::RotateRateLimited(row.key_id.clone()));
            }
            self.rotate(tx, row, now)?;
            Ok(row.current_version)
        })
    }
}

pub(super) fn can_rotate(row: &KeyRow) -> bool {
    row.origin == Origin::TencentKms && row.key_usage == KeyUsage::EncryptDecrypt
}

pub(super) fn check_rotatable(row: &KeyRow) -> Result<(), HsmError> {
    if row.origin == Origin::External {
        return Err(HsmError::ExternalCannotRotate);
    }
    if row.key_usage != KeyUsage::EncryptDecrypt {
        return Err(HsmError::OnlySymmetricRotates);
    }
    Ok(())
}
