//! Symmetric cryptography: Encrypt, Decrypt, ReEncrypt, GenerateDataKey, and sealing a result
//! to the caller's public key.

use zeroize::Zeroizing;

use super::rules::canonical_context;
use super::types::{KeyState, KeyUsage};
use kms_core::kms::KeyOperation;

use super::{Hsm, HsmError, Scope, state_refusal};
use crate::blob::{self, Blob};
use crate::material::{SealAlgorithm, SealError, random_bytes, random_nonce, seal_to_public_key};
use crate::store::{HotKey, KeyRow};

/// Most bytes Encrypt takes.
pub(crate) const MAX_PLAINTEXT: usize = 4096;

/// Result of Decrypt / ReEncrypt's source half.
pub(crate) struct Opened {
    pub(crate) key_id: String,
    pub(crate) plaintext: Zeroizing<Vec<u8>>,
}

/// Result of ReEncrypt.
pub(crate) struct ReEncrypted {
    pub(crate) blob: String,
    pub(crate) key_id: String,
    pub(crate) source_key_id: String,
    pub(crate) re_encrypted: bool,
}

impl Hsm {
    pub(super) fn encrypt_with(
        key: &HotKey,
        purpose: KeyOperation,
        plaintext: &[u8],
        context: &[u8],
    ) -> Result<String, HsmError> {
        let row = &key.row;
        check_symmetric(row)?;
        if let Some(refusal) = state_refusal(&row.key_id, row.key_state, purpose) {
            return Err(refusal);
        }
        let cipher = key
            .version(row.current_version)
            .ok_or_else(|| HsmError::Internal("loading key material"))?;
        let header = blob::header(row.algorithm, &row.key_id, row.current_version)
            .ok_or_else(|| HsmError::Internal("blob header"))?;
        let nonce = random_nonce().map_err(|_| HsmError::Internal("random generator"))?;
        let sealed = cipher.seal(&nonce, &blob::aad(&header, context), plaintext);
        Ok(blob::encode(&header, &nonce, &sealed))
    }

    pub(crate) fn encrypt(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        plaintext: &[u8],
        context: Option<&str>,
    ) -> Result<String, HsmError> {
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(HsmError::InvalidPlaintext);
        }
        let context = canonical_context(context)?;
        self.with_hot_key(scope, key_id, None, |key| {
            Self::encrypt_with(key, KeyOperation::Encrypt, plaintext, &context)
        })
    }

    pub(crate) fn generate_data_key(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        len: usize,
        context: Option<&str>,
    ) -> Result<(Zeroizing<Vec<u8>>, String), HsmError> {
        let context = canonical_context(context)?;
        let data_key = random_bytes(len).map_err(|_| HsmError::Internal("random generator"))?;
        let blob = self.with_hot_key(scope, key_id, None, |key| {
            Self::encrypt_with(key, KeyOperation::GenerateDataKey, &data_key, &context)
        })?;
        Ok((data_key, blob))
    }

    /// Opens a blob (`None`: the CiphertextBlob did not parse): the key is found from the blob
    /// alone.
    pub(crate) fn decrypt(
        &self,
        scope: Scope<'_>,
        blob: Option<&Blob>,
        context: Option<&str>,
    ) -> Result<Opened, HsmError> {
        let context = canonical_context(context)?;
        let blob = blob.ok_or(HsmError::InvalidCiphertext)?;
        self.with_hot_key(scope, &blob.key_id, Some(blob.version), |key| {
            let row = &key.row;
            if let Some(refusal) = state_refusal(&row.key_id, row.key_state, KeyOperation::Decrypt)
            {
                return Err(refusal);
            }
            if row.key_usage != KeyUsage::EncryptDecrypt || row.algorithm != blob.algorithm {
                return Err(HsmError::InvalidCiphertext);
            }
            let plaintext = key
                .version(blob.version)
                .ok_or(HsmError::InvalidCiphertext)?
                .open(
                    &blob.nonce,
                    &blob::aad(&blob.header, &context),
                    &blob.sealed,
                )
                .ok_or(HsmError::InvalidCiphertext)?;
            Ok(Opened {
                key_id: row.key_id.clone(),
                plaintext,
            })
        })
    }

    /// Re-encrypts `source` (parsed from `source_text`, which is answered unchanged when
    /// nothing would change).
    pub(crate) fn re_encrypt(
        &self,
        scope: Scope<'_>,
        source_text: &str,
        source: Option<&Blob>,
        destination: Option<&str>,
        source_context: Option<&str>,
        destination_context: Option<&str>,
    ) -> Result<ReEncrypted, HsmError> {
        let opened = self.decrypt(scope, source, source_context)?;
        let source = source.ok_or(HsmError::InvalidCiphertext)?;
        let dest_id = destination
            .filter(|d| !d.is_empty())
            .unwrap_or(&opened.key_id)
            .to_owned();
        let src_ctx = canonical_context(source_context)?;
        let dst_ctx = canonical_context(destination_context)?;
        let result = self.with_hot_key(scope, &dest_id, None, |key| {
            let row = &key.row;
            if row.key_id == source.key_id
                && row.current_version == source.version
                && src_ctx == dst_ctx
                && row.key_state == KeyState::Enabled
            {
                return Ok(None);
            }
            Self::encrypt_with(key, KeyOperation::Encrypt, &opened.plaintext, &dst_ctx).map(Some)
        })?;
        Ok(match result {
            None => ReEncrypted {
                blob: source_text.to_owned(),
                key_id: dest_id,
                source_key_id: opened.key_id,
                re_encrypted: false,
            },
            Some(blob) => ReEncrypted {
                blob,
                key_id: dest_id,
                source_key_id: opened.key_id,
                re_encrypted: true,
            },
        })
    }

    /// Seals a plaintext to the caller's public key when one was supplied (never returns it
    /// in clear in that case).
    pub(crate) fn seal_for_caller(
        &self,
        plaintext: Zeroizing<Vec<u8>>,
        public_key: Option<&str>,
        algorithm: Option<&str>,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let Some(pem) = public_key.filter(|p| !p.is_empty()) else {
            return Ok(plaintext);
        };
        let invalid = |message: &str| HsmError::InvalidParameter(message.into());
        let algorithm = SealAlgorithm::from_name(algorithm).ok_or_else(|| {
            invalid("EncryptionAlgorithm must be SM2, SM2_C1C3C2_ASN1, RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256")
        })?;
        seal_to_public_key(pem, algorithm, &plaintext).map(Zeroizing::new).map_err(|e| match e {
            SealError::BadKey => invalid("EncryptionPublicKey must be a PEM RSA-2048 or SM2 public key"),
            SealError::Mismatch => invalid("EncryptionAlgorithm does not fit the EncryptionPublicKey type (RSA key with SM2, or SM2 key with RSA)"),
            SealError::Failed => HsmError::SealFailed,
        })
    }
}

pub(super) fn check_symmetric(row: &KeyRow) -> Result<(), HsmError> {
    if row.key_usage != KeyUsage::EncryptDecrypt {
        return Err(HsmError::NotSymmetric {
            key_id: row.key_id.clone(),
            usage: row.key_usage,
        });
    }
    Ok(())
}
