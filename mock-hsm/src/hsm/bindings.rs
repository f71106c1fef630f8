//! Cloud-resource bindings: BindCloudResource, UnbindCloudResource, and the one rule they
//! impose on the lifecycle (docs/kms-api.md §4.7): a CMK that a cloud product uses cannot be
//! disabled, archived, scheduled for deletion or lose its imported material.

use super::rules::state_not_supported;
use super::types::KeyState;
use super::{Hsm, HsmError, Scope};
use crate::store::{KeyRow, Tx};

/// Longest ProductId or ResourceId accepted (the reference gives no limit; TencentDB instance
/// ids are about 12 characters).
const MAX_BINDING_FIELD: usize = 128;

/// The refusal of a lifecycle change to a CMK a cloud resource is bound to. Every action the
/// binding protects calls this inside its write transaction, so DisableKeys refuses all keys
/// when one is bound.
pub(super) fn refuse_if_bound(tx: &Tx<'_>, row: &KeyRow) -> Result<(), HsmError> {
    if tx.is_bound(&row.key_id)? {
        return Err(HsmError::UsedByCloudProduct(row.key_id.clone()));
    }
    Ok(())
}

/// ProductId and ResourceId: 1-128 printable ASCII characters, no spaces [choice].
fn check_binding(product_id: &str, resource_id: &str) -> Result<(), HsmError> {
    for (value, field) in [(product_id, "ProductId"), (resource_id, "ResourceId")] {
        let ok = !value.is_empty()
            && value.len() <= MAX_BINDING_FIELD
            && value.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(HsmError::InvalidParameter(format!(
                "{field} must be 1-{MAX_BINDING_FIELD} printable ASCII characters without spaces"
            )));
        }
    }
    Ok(())
}

impl Hsm {
    /// BindCloudResource (`bind`): an Enabled CMK only; the same triple again succeeds; a
    /// resource bound to another CMK is FailedOperation.CmkUsedByCloudProduct.
    /// UnbindCloudResource: in any key state; an unknown triple is CloudResourceBindingNotFound.
    pub(crate) fn set_cloud_binding(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        (product_id, resource_id): (&str, &str),
        bind: bool,
    ) -> Result<(), HsmError> {
        check_binding(product_id, resource_id)?;
        self.mutate(scope, key_id, |tx, row, now| {
            if !bind {
                let removed = tx.delete_binding(&row.key_id, product_id, resource_id)?;
                return if removed {
                    Ok(())
                } else {
                    Err(HsmError::BindingNotFound)
                };
            }
            match tx.bound_key(product_id, resource_id)? {
                Some(bound) if bound == row.key_id => return Ok(()),
                Some(_) => return Err(HsmError::ResourceUsesAnotherKey),
                None => {}
            }
            if row.key_state != KeyState::Enabled {
                return Err(state_not_supported(row));
            }
            tx.insert_binding(&row.key_id, product_id, resource_id, now)?;
            Ok(())
        })
    }
}
