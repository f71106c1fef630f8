//! Bring your own key on the wire: GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;

use super::messages::{Empty, ImportParamsReq, ImportParamsResp, ImportReq, KeyIdReq};
use super::{CallError, decode_b64, err};
use crate::api::ApiError;
use crate::hsm::{Hsm, Scope};
use crate::material::RsaPadding;

pub(super) fn parameters_for_import(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: ImportParamsReq,
) -> Result<impl Serialize, CallError> {
    let padding = RsaPadding::from_name(&r.wrapping_algorithm).ok_or_else(|| {
        err::<ApiError>(
            "InvalidParameter",
            "WrappingAlgorithm must be RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256",
        )
    })?;
    if r.wrapping_key_spec != "RSA_2048" {
        return Err(err("InvalidParameter", "WrappingKeySpec must be RSA_2048"));
    }
    let params = hsm.parameters_for_import(scope, &r.key_id, padding)?;
    Ok(ImportParamsResp {
        key_id: r.key_id,
        import_token: params.token,
        public_key: B64.encode(&params.public_key_der),
        parameters_valid_to: params.valid_to,
    })
}

pub(super) fn import_key_material(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: ImportReq,
) -> Result<impl Serialize, CallError> {
    let material = decode_b64(&r.encrypted_key_material, "EncryptedKeyMaterial")?;
    hsm.import_key_material(
        scope,
        &r.key_id,
        &r.import_token,
        &material,
        r.valid_to.unwrap_or(0),
    )?;
    Ok(Empty {})
}

pub(super) fn delete_imported_material(
    hsm: &Hsm,
    scope: Scope<'_>,
    r: KeyIdReq,
) -> Result<impl Serialize, CallError> {
    hsm.delete_imported_material(scope, &r.key_id)?;
    Ok(Empty {})
}
