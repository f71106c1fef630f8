//! Key wrapping: how an envelope's data key is protected by a KMS CMK or a public key.
//!
//! One trait, [`KeyWrapper`], with one implementation per method:
//! - [`kms::KmsSymmetricWrapper`] (module `kms`): a symmetric KMS CMK, through GenerateDataKey/Encrypt/Decrypt;
//! - [`kms::KmsAsymmetricWrapper`]: an RSA-2048 or SM2 KMS CMK, wrapped locally with its public key,
//!   unwrapped through AsymmetricRsaDecrypt / AsymmetricSm2Decrypt;
//! - [`rsa::RsaWrapper`] (module `rsa`): RSA-2048 OAEP-SHA256 with a local public/private key;
//! - [`sm2::Sm2Wrapper`] (module `sm2`): SM2 public-key encryption (C1C3C2 DER) with a local key.
//!
//! [`local::LocalWrapper`] is either local wrapper, recognised from the key file; [`kms::KmsWrapper`]
//! either KMS wrapper, chosen by the CMK's KeyUsage; [`kms::KmsUnwrapper`] opens any KMS-wrapped key.

use crate::context::EncryptionContext;
use crate::error::{FormatError, WrapError};
use crate::secret::DataKey;

/// Implements [`KeyWrapper`] for an enum of wrappers by forwarding every method to the
/// variant's wrapper, which its `fn inner(&self) -> &dyn KeyWrapper` returns.
macro_rules! forward_key_wrapper {
    ($ty:ty) => {
        impl $crate::wrap::KeyWrapper for $ty {
            fn wrap(
                &self,
                data_key: &$crate::secret::DataKey,
                context: &$crate::context::EncryptionContext,
            ) -> Result<$crate::wrap::WrappedKey, $crate::error::WrapError> {
                self.inner().wrap(data_key, context)
            }

            fn unwrap(
                &self,
                wrapped: &$crate::wrap::WrappedKey,
                context: &$crate::context::EncryptionContext,
            ) -> Result<Option<$crate::secret::DataKey>, $crate::error::WrapError> {
                self.inner().unwrap(wrapped, context)
            }

            fn generate(
                &self,
                context: &$crate::context::EncryptionContext,
            ) -> Result<
                Option<($crate::secret::DataKey, $crate::wrap::WrappedKey)>,
                $crate::error::WrapError,
            > {
                self.inner().generate(context)
            }

            fn key_ref(&self) -> $crate::wrap::KeyRef {
                self.inner().key_ref()
            }
        }
    };
}

mod keys;
pub mod kms;
pub mod local;
pub mod rsa;
pub mod sm2;

/// How a wrapped key was produced. The numeric value is its id in the envelope format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum WrapMethod {
    /// A symmetric KMS CMK: the wrapped key is the KMS CiphertextBlob (ASCII), bound to the context.
    KmsSymmetric = 1,
    /// RSA-2048 OAEP with SHA-256 and MGF1-SHA-256, empty label.
    RsaOaepSha256 = 2,
    /// SM2 public-key encryption (GB/T 32918.4), ciphertext as C1C3C2 ASN.1 DER.
    Sm2 = 3,
}

impl WrapMethod {
    /// The id in the envelope format.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// Parses an envelope method id.
    pub fn from_id(id: u8) -> Result<Self, FormatError> {
        match id {
            1 => Ok(Self::KmsSymmetric),
            2 => Ok(Self::RsaOaepSha256),
            3 => Ok(Self::Sm2),
            other => Err(FormatError::UnknownWrapMethod(other)),
        }
    }

    /// A short stable name for display (`kms`, `rsa-oaep-sha256`, `sm2`).
    pub fn name(self) -> &'static str {
        match self {
            Self::KmsSymmetric => "kms",
            Self::RsaOaepSha256 => "rsa-oaep-sha256",
            Self::Sm2 => "sm2",
        }
    }
}

/// Which key a wrapped key is addressed to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyRef {
    /// A KMS CMK, by its KeyId (a UUID string).
    Kms {
        /// The CMK's KeyId.
        key_id: String,
    },
    /// A local public key, by the SHA-256 of its DER SubjectPublicKeyInfo.
    PublicKey {
        /// SHA-256 of the SPKI DER.
        fingerprint: [u8; 32],
    },
}

impl core::fmt::Display for KeyRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Kms { key_id } => write!(f, "kms:{key_id}"),
            Self::PublicKey { fingerprint } => write!(f, "sha256:{}", hex::encode(fingerprint)),
        }
    }
}

/// One wrapped copy of a message's data key, as stored in the envelope header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WrappedKey {
    /// How it was wrapped.
    pub method: WrapMethod,
    /// Which key can unwrap it.
    pub key_ref: KeyRef,
    /// The wrapped data key (not secret).
    pub ciphertext: Vec<u8>,
}

/// Wraps a data key for one key, and unwraps it again where this value can.
pub trait KeyWrapper: Send + Sync {
    /// Wraps `data_key`. `context` is the message's encryption context; wrappers that can bind
    /// associated data (a KMS) bind it.
    fn wrap(
        &self,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<WrappedKey, WrapError>;

    /// Unwraps `wrapped` if it is addressed to this key: `Ok(None)` when it is not
    /// (so the caller tries the next wrapped key), `Err` when it is but unwrapping failed.
    fn unwrap(
        &self,
        wrapped: &WrappedKey,
        context: &EncryptionContext,
    ) -> Result<Option<DataKey>, WrapError>;

    /// Creates the data key and its wrapped copy in one step, when this wrapper's key holder
    /// generates data keys itself (a KMS's GenerateDataKey). `Ok(None)`: the caller draws the
    /// data key from the OS CSPRNG and calls [`KeyWrapper::wrap`].
    fn generate(
        &self,
        _context: &EncryptionContext,
    ) -> Result<Option<(DataKey, WrappedKey)>, WrapError> {
        Ok(None)
    }

    /// The key this wrapper addresses (for "no matching key" messages and `inspect`).
    fn key_ref(&self) -> KeyRef;
}
