//! Asymmetric cryptography: GetPublicKey, AsymmetricRsaDecrypt, AsymmetricSm2Decrypt,
//! SignByAsymmetricKey, VerifyByAsymmetricKey.

use zeroize::Zeroizing;

use super::types::KeyUsage;
use kms_core::kms::KeyOperation;

use super::{Hsm, HsmError, Scope, state_refusal};
use crate::material::{ParsedKey, RsaPadding, SignAlgorithm, SignInput};
use crate::store::KeyRow;

impl Hsm {
    /// Runs `f` on the parsed key when its usage is one of `usages` and it is Enabled.
    pub(super) fn asymmetric<T>(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        usages: &'static [KeyUsage],
        f: impl FnOnce(&KeyRow, &ParsedKey) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        self.asymmetric_for(scope, key_id, usages, KeyOperation::UsePrivateKey, f)
    }

    /// [`Hsm::asymmetric`] for an operation with its own column of the state table
    /// (post-quantum encryption and decryption, docs/kms-api.md §4.3).
    pub(super) fn asymmetric_for<T>(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        usages: &'static [KeyUsage],
        operation: KeyOperation,
        f: impl FnOnce(&KeyRow, &ParsedKey) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        self.with_key(scope, key_id, |tx, row| {
            if !usages.contains(&row.key_usage) {
                return Err(HsmError::WrongUsage {
                    key_id: row.key_id.clone(),
                    usage: row.key_usage,
                    needed: usages,
                });
            }
            if let Some(refusal) = state_refusal(&row.key_id, row.key_state, operation) {
                return Err(refusal);
            }
            let parsed = tx
                .parsed_key(row, row.current_version)?
                .ok_or_else(|| HsmError::Internal("loading key material"))?;
            f(row, &parsed)
        })
    }

    pub(crate) fn public_key(&self, scope: Scope<'_>, key_id: &str) -> Result<Vec<u8>, HsmError> {
        self.asymmetric(scope, key_id, KeyUsage::ASYMMETRIC, |_, key| {
            key.public_key_der()
                .map_err(|_| HsmError::Internal("public key encoding"))
        })
    }

    pub(crate) fn rsa_decrypt(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        padding: RsaPadding,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        self.asymmetric(scope, key_id, &[KeyUsage::DecryptRsa2048], |_, key| {
            key.rsa_decrypt(padding, ciphertext)
                .map_err(|_| HsmError::DecryptFailed)
        })
    }

    pub(crate) fn sm2_decrypt(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        if ciphertext.len() > 256 {
            return Err(HsmError::InvalidParameter(
                "Ciphertext must be at most 256 bytes of C1C3C2 ASN.1 DER".into(),
            ));
        }
        self.asymmetric(scope, key_id, &[KeyUsage::DecryptSm2], |_, key| {
            key.sm2_decrypt_der(ciphertext)
                .map_err(|_| HsmError::DecryptFailed)
        })
    }

    pub(crate) fn sign(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        algorithm: SignAlgorithm,
        input: SignInput<'_>,
    ) -> Result<Vec<u8>, HsmError> {
        self.asymmetric(scope, key_id, KeyUsage::SIGNING, |row, key| {
            check_sign_algorithm(row, algorithm)?;
            key.sign(algorithm, input).map_err(|_| HsmError::SignFailed)
        })
    }

    pub(crate) fn verify(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        algorithm: SignAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> Result<bool, HsmError> {
        self.asymmetric(scope, key_id, KeyUsage::SIGNING, |row, key| {
            check_sign_algorithm(row, algorithm)?;
            Ok(key.verify(algorithm, input, signature))
        })
    }
}

pub(super) fn check_sign_algorithm(row: &KeyRow, algorithm: SignAlgorithm) -> Result<(), HsmError> {
    if !algorithm.fits(row.algorithm) {
        return Err(HsmError::InvalidParameterValue(format!(
            "Algorithm does not fit CMK {} ({})",
            row.key_id, row.key_usage
        )));
    }
    Ok(())
}
