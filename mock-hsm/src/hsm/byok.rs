//! Bring your own key: GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::rules::state_not_supported;
use super::types::{KeyState, Origin};
use super::{DAY, Hsm, HsmError, Scope};
use crate::material::{Algorithm, Material, ParsedKey, RsaPadding, random_bytes};
use crate::store::KeyRow;

/// Import tokens and wrapping keys are valid this long.
const IMPORT_TOKEN_LIFETIME: u64 = DAY;

/// How long an expired token's id is remembered, so a late import hears TokenExpired rather
/// than "unknown token" (its wrapping key is erased at expiry; docs/kms-api.md §4.8).
pub(super) const EXPIRED_TOKEN_MEMORY: u64 = 365 * DAY;

/// Largest ImportKeyMaterial ValidTo.
const MAX_VALID_TO: u64 = 2_147_443_200;

/// Result of GetParametersForImport.
pub(crate) struct ImportParameters {
    pub(crate) token: String,
    pub(crate) public_key_der: Vec<u8>,
    pub(crate) valid_to: u64,
}

impl Hsm {
    pub(crate) fn parameters_for_import(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        algorithm: RsaPadding,
    ) -> Result<ImportParameters, HsmError> {
        let now = self.now();
        let wrapping = Material::generate(Algorithm::Rsa2048)
            .map_err(|_| HsmError::Internal("key generation"))?;
        let public_key_der = ParsedKey::parse(Algorithm::Rsa2048, &wrapping)
            .and_then(|k| k.public_key_der())
            .map_err(|_| HsmError::Internal("wrapping key"))?;
        let token_bytes = random_bytes(32).map_err(|_| HsmError::Internal("random generator"))?;
        let token = B64.encode(&token_bytes[..]);
        let valid_to = now + IMPORT_TOKEN_LIFETIME;
        self.mutate(scope, key_id, |tx, row, _| {
            require_importable(row)?;
            tx.insert_import_token(
                &token_id(&token),
                &row.key_id,
                algorithm.name(),
                valid_to,
                &wrapping,
            )?;
            Ok(())
        })?;
        Ok(ImportParameters {
            token,
            public_key_der,
            valid_to,
        })
    }

    pub(crate) fn import_key_material(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        token: &str,
        encrypted_material: &[u8],
        valid_to: u64,
    ) -> Result<(), HsmError> {
        self.mutate(scope, key_id, |tx, row, now| {
            require_importable(row)?;
            if valid_to != 0 && (valid_to <= now || valid_to > MAX_VALID_TO) {
                return Err(HsmError::InvalidParameter(format!(
                    "ValidTo must be 0 (never) or a time after now and at most {MAX_VALID_TO}"
                )));
            }
            let stored = tx
                .import_token(&token_id(token))?
                .filter(|t| t.key_id == row.key_id)
                .ok_or_else(|| {
                    HsmError::InvalidParameter(
                        "ImportToken is unknown or belongs to another CMK".into(),
                    )
                })?;
            let private_key = match &stored.private_key {
                Some(key) if now <= stored.valid_to => key,
                _ => return Err(HsmError::TokenExpired),
            };
            let padding = RsaPadding::from_name(&stored.algorithm)
                .ok_or_else(|| HsmError::Internal("import token"))?;
            let wrapping = ParsedKey::parse(Algorithm::Rsa2048, private_key)
                .map_err(|_| HsmError::Internal("wrapping key"))?;
            let material = wrapping
                .rsa_decrypt(padding, encrypted_material)
                .map_err(|_| HsmError::UndecryptableMaterial)?;
            let material = Material::new(material);
            if material.validate(row.algorithm).is_err() {
                let bits = row.algorithm.symmetric_len().unwrap_or(32) * 8;
                return Err(HsmError::InvalidImportMaterial(bits));
            }
            let fingerprint = tx.store().fingerprint(material.expose_secret());
            match &row.import_fingerprint {
                Some(old)
                    if !bool::from(subtle::ConstantTimeEq::ct_eq(&old[..], &fingerprint[..])) =>
                {
                    return Err(HsmError::MaterialNotMatch);
                }
                _ => {}
            }
            if tx.versions(&row.key_id)?.is_empty() {
                tx.insert_version(&row.key_id, 1, now, &material)?;
            }
            row.import_fingerprint = Some(fingerprint);
            row.current_version = 1;
            row.key_state = KeyState::Enabled;
            row.valid_to = valid_to;
            Ok(())
        })
    }

    pub(crate) fn delete_imported_material(
        &self,
        scope: Scope<'_>,
        key_id: &str,
    ) -> Result<(), HsmError> {
        self.mutate(scope, key_id, |tx, row, _| {
            require_importable(row)?;
            super::bindings::refuse_if_bound(tx, row)?;
            tx.delete_versions(&row.key_id)?;
            row.key_state = KeyState::PendingImport;
            row.valid_to = 0;
            Ok(())
        })
    }
}

/// BYOK actions apply only to keys created for imported material, in state Enabled or
/// PendingImport.
pub(super) fn require_importable(row: &KeyRow) -> Result<(), HsmError> {
    if row.origin != Origin::External {
        return Err(HsmError::NotExternal(row.key_id.clone()));
    }
    if ![KeyState::Enabled, KeyState::PendingImport].contains(&row.key_state) {
        return Err(state_not_supported(row));
    }
    Ok(())
}

pub(super) fn token_id(token: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}
