//! Post-quantum cryptography: PostQuantumCryptoEncrypt/Decrypt (ML-KEM-768 with AES-256-GCM,
//! the blob of docs/ciphertext-blob.md) and PostQuantumCryptoSign/Verify (ML-DSA-65).
//!
//! State rules are the table every other key follows (docs/kms-api.md §4.3): encryption is
//! `KeyOperation::Encrypt` (an Archived key refuses with CmkArchived), decryption
//! `KeyOperation::Decrypt` (Archived still decrypts), signing and verifying `UsePrivateKey`.

use super::symmetric::{MAX_PLAINTEXT, Opened};
use super::types::KeyUsage;
use super::{Hsm, HsmError, Scope};
use crate::blob::{self, Blob};
use crate::material::pqc::{DsaKey, KEM_CT_LEN};
use crate::material::{Algorithm, ParsedKey, aead_open, aead_seal, random_nonce};
use kms_core::kms::KeyOperation;

impl Hsm {
    /// Encapsulates to the key's ML-KEM public key and seals `plaintext` under the shared
    /// secret; returns the CiphertextBlob.
    pub(crate) fn pq_encrypt(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        plaintext: &[u8],
    ) -> Result<String, HsmError> {
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(HsmError::InvalidPlaintext);
        }
        self.asymmetric_for(
            scope,
            key_id,
            KeyUsage::PQ_ENCRYPTING,
            KeyOperation::Encrypt,
            |row, key| {
                let ParsedKey::MlKem(kem) = key else {
                    return Err(HsmError::Internal("ML-KEM key material"));
                };
                let header = blob::header(Algorithm::MlKem768, &row.key_id, row.current_version)
                    .ok_or(HsmError::Internal("blob header"))?;
                let (kem_ct, secret) = kem
                    .encapsulate()
                    .map_err(|_| HsmError::Internal("ML-KEM encapsulation"))?;
                let nonce = random_nonce().map_err(|_| HsmError::Internal("random generator"))?;
                let sealed = aead_seal(Algorithm::Aes256, &secret[..], &nonce, &header, plaintext)
                    .map_err(|_| HsmError::Internal("AES-256-GCM"))?;
                let mut body = kem_ct;
                body.extend_from_slice(&sealed);
                Ok(blob::encode(&header, &nonce, &body))
            },
        )
    }

    /// Opens a PostQuantumCryptoEncrypt blob (`None`: it did not parse). Every failure that
    /// is not the key's state is the one InvalidCiphertext, as for Decrypt.
    pub(crate) fn pq_decrypt(
        &self,
        scope: Scope<'_>,
        blob: Option<&Blob>,
    ) -> Result<Opened, HsmError> {
        let blob = blob
            .filter(|b| b.algorithm == Algorithm::MlKem768 && b.sealed.len() > KEM_CT_LEN)
            .ok_or(HsmError::InvalidCiphertext)?;
        let opened = self.asymmetric_for(
            scope,
            &blob.key_id,
            KeyUsage::PQ_ENCRYPTING,
            KeyOperation::Decrypt,
            |row, key| {
                let ParsedKey::MlKem(kem) = key else {
                    return Err(HsmError::InvalidCiphertext);
                };
                // Asymmetric keys never rotate: the blob must name the one version.
                if blob.version != row.current_version {
                    return Err(HsmError::InvalidCiphertext);
                }
                let (kem_ct, sealed) = blob.sealed.split_at(KEM_CT_LEN);
                let secret = kem
                    .decapsulate(kem_ct)
                    .map_err(|_| HsmError::InvalidCiphertext)?;
                let plaintext = aead_open(
                    Algorithm::Aes256,
                    &secret[..],
                    &blob.nonce,
                    &blob.header,
                    sealed,
                )
                .map_err(|_| HsmError::InvalidCiphertext)?;
                Ok(Opened {
                    key_id: row.key_id.clone(),
                    plaintext,
                })
            },
        );
        // A blob naming a key of another usage is a bad ciphertext, not a usage error.
        match opened {
            Err(HsmError::WrongUsage { .. }) => Err(HsmError::InvalidCiphertext),
            other => other,
        }
    }

    /// ML-DSA-65 signature of `message` (empty context).
    pub(crate) fn pq_sign(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        message: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        self.with_dsa(scope, key_id, |dsa| {
            dsa.sign(message).map_err(|_| HsmError::SignFailed)
        })
    }

    /// Checks an ML-DSA-65 signature; a wrong or malformed one is `false`.
    pub(crate) fn pq_verify(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, HsmError> {
        self.with_dsa(scope, key_id, |dsa| Ok(dsa.verify(message, signature)))
    }

    /// Runs `f` on a Dilithium key whose state allows signing.
    fn with_dsa<T>(
        &self,
        scope: Scope<'_>,
        key_id: &str,
        f: impl FnOnce(&DsaKey) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        self.asymmetric(scope, key_id, KeyUsage::PQ_SIGNING, |_, key| match key {
            ParsedKey::MlDsa(dsa) => f(dsa),
            _ => Err(HsmError::Internal("ML-DSA key material")),
        })
    }
}
