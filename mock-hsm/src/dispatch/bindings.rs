//! Cloud-resource bindings on the wire: BindCloudResource, UnbindCloudResource.

use serde::{Deserialize, Serialize};

use super::CallError;
use super::messages::Empty;
use crate::hsm::{Hsm, Scope};

/// The request of both actions.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct BindingReq {
    pub(super) key_id: String,
    pub(super) product_id: String,
    pub(super) resource_id: String,
}

/// BindCloudResource (`bind`) or UnbindCloudResource.
pub(super) fn set(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: BindingReq,
    bind: bool,
) -> Result<impl Serialize, CallError> {
    hsm.set_cloud_binding(scope, &r.key_id, (&r.product_id, &r.resource_id), bind)?;
    Ok(Empty {})
}
