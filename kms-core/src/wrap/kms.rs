//! Wrapping through a KMS CMK.
//!
//! - [`KmsSymmetricWrapper`]: an `ENCRYPT_DECRYPT` CMK. The data key comes from GenerateDataKey
//!   (or is sent to Encrypt) and the wrapped key is the KMS CiphertextBlob, bound to the
//!   message's encryption context (`EncryptionContext`, a sorted compact JSON object).
//! - [`KmsAsymmetricWrapper`]: an `ASYMMETRIC_DECRYPT_RSA_2048` or `ASYMMETRIC_DECRYPT_SM2` CMK.
//!   Its public key is fetched once (GetPublicKey) and data keys are wrapped locally
//!   (RSA-OAEP-SHA256 / SM2 C1C3C2 DER); unwrapping goes through AsymmetricRsaDecrypt
//!   (`RSAES_OAEP_SHA_256`) or AsymmetricSm2Decrypt.
//! - [`KmsWrapper::for_key`] picks one of the two from DescribeKey's `KeyUsage`.
//! - [`KmsUnwrapper`] unwraps any wrapped key that names a KMS CMK, with the key id the
//!   envelope records (for decrypting without naming the key).
//!
//! KMS refusals come back as [`WrapError::Kms`] with the Tencent error code
//! (`ResourceUnavailable.CmkDisabled`, ...); a KMS answer that does not unwrap to a data key
//! is the opaque [`WrapError::Crypto`].

use std::sync::Arc;

use super::keys::{ID_EC_PUBLIC_KEY, RSA_ENCRYPTION};
use super::rsa::RsaWrapper;
use super::sm2::Sm2Wrapper;
use super::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use crate::context::EncryptionContext;
use crate::error::{FormatError, WrapError};
use crate::kms::{
    KeyMetadata, KmsClient as _, KmsError, KmsTransport, RsaDecryptAlgorithm, alias_of,
};
use crate::secret::{DATA_KEY_LEN, DataKey};

/// KeyUsage of a symmetric CMK.
pub const USAGE_SYMMETRIC: &str = "ENCRYPT_DECRYPT";
/// KeyUsage of an RSA-2048 decryption CMK.
pub const USAGE_RSA_2048: &str = "ASYMMETRIC_DECRYPT_RSA_2048";
/// KeyUsage of an SM2 decryption CMK.
pub const USAGE_SM2: &str = "ASYMMETRIC_DECRYPT_SM2";

/// How [`KmsUnwrapper::key_ref`] names "any KMS key".
const ANY_KMS_KEY: &str = "*";

/// A symmetric (`ENCRYPT_DECRYPT`) KMS CMK.
pub struct KmsSymmetricWrapper {
    transport: Arc<dyn KmsTransport>,
    key_id: String,
}

impl core::fmt::Debug for KmsSymmetricWrapper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KmsSymmetricWrapper")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl KmsSymmetricWrapper {
    /// A wrapper for the CMK `key_id` (a KeyId, not an alias: Encrypt takes KeyIds only;
    /// use [`KmsWrapper::for_key`] to resolve an alias). Makes no KMS call.
    pub fn new(transport: Arc<dyn KmsTransport>, key_id: impl Into<String>) -> Self {
        Self {
            transport,
            key_id: key_id.into(),
        }
    }

    /// The CMK's KeyId.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl KeyWrapper for KmsSymmetricWrapper {
    fn wrap(
        &self,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<WrappedKey, WrapError> {
        let json = context.to_kms_json();
        let blob =
            self.transport
                .encrypt(&self.key_id, data_key.expose_secret(), json.as_deref())?;
        Ok(WrappedKey {
            method: WrapMethod::KmsSymmetric,
            key_ref: self.key_ref(),
            ciphertext: blob.into_bytes(),
        })
    }

    fn unwrap(
        &self,
        wrapped: &WrappedKey,
        context: &EncryptionContext,
    ) -> Result<Option<DataKey>, WrapError> {
        if wrapped.method != WrapMethod::KmsSymmetric || !names_key(wrapped, &self.key_id) {
            return Ok(None);
        }
        unwrap_with_kms(&*self.transport, &self.key_id, wrapped, context).map(Some)
    }

    fn generate(
        &self,
        context: &EncryptionContext,
    ) -> Result<Option<(DataKey, WrappedKey)>, WrapError> {
        let json = context.to_kms_json();
        let generated =
            self.transport
                .generate_data_key(&self.key_id, DATA_KEY_LEN, json.as_deref())?;
        let data_key =
            DataKey::from_slice(generated.plaintext.expose_secret()).ok_or_else(|| {
                KmsError::new(
                    "InternalError",
                    format!("GenerateDataKey returned a data key that is not {DATA_KEY_LEN} bytes"),
                )
            })?;
        if generated.ciphertext_blob.is_empty() {
            return Err(KmsError::new(
                "InternalError",
                "GenerateDataKey returned no CiphertextBlob",
            )
            .into());
        }
        // Name the CMK as the KMS reports it; fall back to the id we asked for.
        let key_id = if generated.key_id.is_empty() {
            self.key_id.clone()
        } else {
            generated.key_id
        };
        let wrapped = WrappedKey {
            method: WrapMethod::KmsSymmetric,
            key_ref: KeyRef::Kms { key_id },
            ciphertext: generated.ciphertext_blob.into_bytes(),
        };
        Ok(Some((data_key, wrapped)))
    }

    fn key_ref(&self) -> KeyRef {
        KeyRef::Kms {
            key_id: self.key_id.clone(),
        }
    }
}

/// The public half of an asymmetric CMK, used to wrap locally.
enum LocalPublicKey {
    Rsa(RsaWrapper),
    Sm2(Sm2Wrapper),
}

/// An asymmetric decryption CMK (`ASYMMETRIC_DECRYPT_RSA_2048` or `ASYMMETRIC_DECRYPT_SM2`).
pub struct KmsAsymmetricWrapper {
    transport: Arc<dyn KmsTransport>,
    key_id: String,
    // Boxed: a local key is a few hundred bytes, the KMS handle a few dozen.
    public: Box<LocalPublicKey>,
}

impl core::fmt::Debug for KmsAsymmetricWrapper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KmsAsymmetricWrapper")
            .field("key_id", &self.key_id)
            .field("method", &self.method().name())
            .finish_non_exhaustive()
    }
}

impl KmsAsymmetricWrapper {
    /// Fetches the CMK's public key (GetPublicKey, once) and recognises RSA or SM2 from its
    /// SubjectPublicKeyInfo. RSA keys under 2048 bits are refused.
    pub fn new(
        transport: Arc<dyn KmsTransport>,
        key_id: impl Into<String>,
    ) -> Result<Self, WrapError> {
        let mut key_id = key_id.into();
        let info = transport.get_public_key(&key_id)?;
        if !info.key_id.is_empty() {
            key_id = info.key_id;
        }
        let public = match spki_algorithm(&info.spki_der)? {
            SpkiAlgorithm::Rsa => LocalPublicKey::Rsa(RsaWrapper::from_spki_der(&info.spki_der)?),
            SpkiAlgorithm::Ec => LocalPublicKey::Sm2(Sm2Wrapper::from_spki_der(&info.spki_der)?),
        };
        Ok(Self {
            transport,
            key_id,
            public: Box::new(public),
        })
    }

    /// The CMK's KeyId.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// [`WrapMethod::RsaOaepSha256`] or [`WrapMethod::Sm2`].
    pub fn method(&self) -> WrapMethod {
        match *self.public {
            LocalPublicKey::Rsa(_) => WrapMethod::RsaOaepSha256,
            LocalPublicKey::Sm2(_) => WrapMethod::Sm2,
        }
    }

    /// The CMK's public key as DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        match &*self.public {
            LocalPublicKey::Rsa(rsa) => rsa.public_key_der(),
            LocalPublicKey::Sm2(sm2) => sm2.public_key_der(),
        }
    }
}

impl KeyWrapper for KmsAsymmetricWrapper {
    fn wrap(
        &self,
        data_key: &DataKey,
        _context: &EncryptionContext,
    ) -> Result<WrappedKey, WrapError> {
        let ciphertext = match &*self.public {
            LocalPublicKey::Rsa(rsa) => rsa.encrypt_data_key(data_key)?,
            LocalPublicKey::Sm2(sm2) => sm2.encrypt_data_key(data_key)?,
        };
        Ok(WrappedKey {
            method: self.method(),
            key_ref: self.key_ref(),
            ciphertext,
        })
    }

    fn unwrap(
        &self,
        wrapped: &WrappedKey,
        context: &EncryptionContext,
    ) -> Result<Option<DataKey>, WrapError> {
        if wrapped.method != self.method() || !names_key(wrapped, &self.key_id) {
            return Ok(None);
        }
        unwrap_with_kms(&*self.transport, &self.key_id, wrapped, context).map(Some)
    }

    fn key_ref(&self) -> KeyRef {
        KeyRef::Kms {
            key_id: self.key_id.clone(),
        }
    }
}

/// A KMS CMK of either kind, chosen from its `KeyUsage`.
#[derive(Debug)]
#[non_exhaustive]
pub enum KmsWrapper {
    /// An `ENCRYPT_DECRYPT` CMK.
    Symmetric(KmsSymmetricWrapper),
    /// An `ASYMMETRIC_DECRYPT_RSA_2048` or `ASYMMETRIC_DECRYPT_SM2` CMK.
    Asymmetric(KmsAsymmetricWrapper),
}

impl KmsWrapper {
    /// Resolves `key` (a KeyId, or an alias looked up with ListKeyDetail), reads its
    /// `KeyUsage` with DescribeKey and builds the matching wrapper. Keys that cannot
    /// encrypt (signing keys...) are refused with [`WrapError::Unsupported`].
    pub fn for_key(transport: Arc<dyn KmsTransport>, key: &str) -> Result<Self, WrapError> {
        let key = key.trim();
        if key.is_empty() {
            return Err(WrapError::Unsupported("a KMS key id or alias is required"));
        }
        let summary = resolve_key(&*transport, key)?;
        Self::for_summary(transport, &summary)
    }

    /// Builds the wrapper for a CMK already described (DescribeKey / ListKeyDetail metadata),
    /// choosing by its `KeyUsage`. Asymmetric keys cost one GetPublicKey call.
    pub fn for_summary(
        transport: Arc<dyn KmsTransport>,
        summary: &KeyMetadata,
    ) -> Result<Self, WrapError> {
        match summary.key_usage.as_str() {
            USAGE_SYMMETRIC => Ok(Self::Symmetric(KmsSymmetricWrapper::new(
                transport,
                summary.key_id.clone(),
            ))),
            USAGE_RSA_2048 | USAGE_SM2 => {
                let wrapper = KmsAsymmetricWrapper::new(transport, summary.key_id.clone())?;
                let expected = if summary.key_usage == USAGE_RSA_2048 {
                    WrapMethod::RsaOaepSha256
                } else {
                    WrapMethod::Sm2
                };
                if wrapper.method() != expected {
                    return Err(WrapError::Unsupported(
                        "the KMS key's public key does not match its KeyUsage",
                    ));
                }
                Ok(Self::Asymmetric(wrapper))
            }
            _ => Err(WrapError::Unsupported(
                "this KMS key cannot encrypt: its KeyUsage must be ENCRYPT_DECRYPT, ASYMMETRIC_DECRYPT_RSA_2048 or ASYMMETRIC_DECRYPT_SM2",
            )),
        }
    }

    /// The CMK's KeyId.
    pub fn key_id(&self) -> &str {
        match self {
            Self::Symmetric(w) => w.key_id(),
            Self::Asymmetric(w) => w.key_id(),
        }
    }

    fn inner(&self) -> &dyn KeyWrapper {
        match self {
            Self::Symmetric(w) => w,
            Self::Asymmetric(w) => w,
        }
    }
}

forward_key_wrapper!(KmsWrapper);

/// Unwraps every wrapped key that names a KMS CMK, with the CMK the envelope records:
/// Decrypt for [`WrapMethod::KmsSymmetric`], AsymmetricRsaDecrypt (`RSAES_OAEP_SHA_256`) for
/// [`WrapMethod::RsaOaepSha256`], AsymmetricSm2Decrypt for [`WrapMethod::Sm2`].
///
/// It cannot wrap. Its [`KeyWrapper::key_ref`] is `kms:*`.
pub struct KmsUnwrapper {
    transport: Arc<dyn KmsTransport>,
}

impl core::fmt::Debug for KmsUnwrapper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KmsUnwrapper").finish_non_exhaustive()
    }
}

impl KmsUnwrapper {
    /// An unwrapper over `transport`. Makes no KMS call until asked to unwrap.
    pub fn new(transport: Arc<dyn KmsTransport>) -> Self {
        Self { transport }
    }
}

impl KeyWrapper for KmsUnwrapper {
    fn wrap(
        &self,
        _data_key: &DataKey,
        _context: &EncryptionContext,
    ) -> Result<WrappedKey, WrapError> {
        Err(WrapError::Unsupported(
            "name a KMS key to encrypt: the any-key KMS unwrapper only decrypts",
        ))
    }

    fn unwrap(
        &self,
        wrapped: &WrappedKey,
        context: &EncryptionContext,
    ) -> Result<Option<DataKey>, WrapError> {
        let KeyRef::Kms { key_id } = &wrapped.key_ref else {
            return Ok(None);
        };
        unwrap_with_kms(&*self.transport, key_id, wrapped, context).map(Some)
    }

    fn key_ref(&self) -> KeyRef {
        KeyRef::Kms {
            key_id: ANY_KMS_KEY.to_owned(),
        }
    }
}

fn names_key(wrapped: &WrappedKey, key_id: &str) -> bool {
    matches!(&wrapped.key_ref, KeyRef::Kms { key_id: named } if named == key_id)
}

/// One KMS call that turns `wrapped` back into the data key, by its method.
fn unwrap_with_kms(
    transport: &dyn KmsTransport,
    key_id: &str,
    wrapped: &WrappedKey,
    context: &EncryptionContext,
) -> Result<DataKey, WrapError> {
    let plaintext = match wrapped.method {
        WrapMethod::KmsSymmetric => {
            let blob = std::str::from_utf8(&wrapped.ciphertext).map_err(|_| {
                FormatError::MalformedHeader("KMS ciphertext blob is not ASCII text")
            })?;
            let json = context.to_kms_json();
            let decrypted = transport.decrypt(blob, json.as_deref())?;
            // The blob names its CMK; a header that names another one has been altered.
            if !decrypted.key_id.is_empty() && decrypted.key_id != key_id {
                return Err(WrapError::Crypto);
            }
            decrypted.plaintext
        }
        WrapMethod::RsaOaepSha256 => transport.asymmetric_rsa_decrypt(
            key_id,
            &wrapped.ciphertext,
            RsaDecryptAlgorithm::OaepSha256,
        )?,
        WrapMethod::Sm2 => transport.asymmetric_sm2_decrypt(key_id, &wrapped.ciphertext)?,
    };
    DataKey::from_slice(plaintext.expose_secret()).ok_or(WrapError::Crypto)
}

enum SpkiAlgorithm {
    Rsa,
    Ec,
}

fn spki_algorithm(spki_der: &[u8]) -> Result<SpkiAlgorithm, WrapError> {
    use der::Decode as _;
    let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|_| {
        FormatError::MalformedKey(
            "the KMS returned a public key that is not a DER SubjectPublicKeyInfo",
        )
    })?;
    match spki.algorithm.oid {
        RSA_ENCRYPTION => Ok(SpkiAlgorithm::Rsa),
        ID_EC_PUBLIC_KEY => Ok(SpkiAlgorithm::Ec),
        _ => Err(WrapError::Unsupported(
            "the KMS key's public key is neither RSA nor SM2",
        )),
    }
}

/// [`crate::kms::KmsClient::find_key`], with "no such alias" as `ResourceUnavailable.CmkNotFound`.
fn resolve_key(transport: &dyn KmsTransport, key: &str) -> Result<KeyMetadata, WrapError> {
    transport.find_key(key)?.ok_or_else(|| {
        KmsError::new(
            "ResourceUnavailable.CmkNotFound",
            format!("no KMS key has the alias `{}`", alias_of(key)),
        )
        .into()
    })
}
