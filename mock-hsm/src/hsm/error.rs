//! Why the core refused a call. `code()` gives the Tencent error code; the JSON edge
//! (`dispatch`) turns an error into the wire error, adding the action name where a message
//! needs it, since the core knows operations, not action names.

use kms_core::kms::{KeyOperation, StateRefusal};

use super::types::{KeyState, KeyUsage};

/// A refused or failed core operation. Messages never hold key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HsmError {
    /// A parameter is malformed or out of range (`InvalidParameter`).
    #[error("{0}")]
    InvalidParameter(String),
    /// A parameter value is not acceptable (`InvalidParameterValue`).
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("KeyId must be a lower-case UUID such as 23e80852-1e38-11e9-b129-5cb9019b4b01")]
    InvalidKeyId,
    #[error(
        "Alias must be 1-60 letters, digits, '-' or '_', start with a letter or digit, and not start with 'kms-'"
    )]
    InvalidAlias,
    #[error("alias {0} is already in use")]
    AliasExists(String),
    #[error("KeyId {0} appears twice")]
    DuplicatedKeyId(String),
    #[error("TagKey {0} appears twice")]
    DuplicatedTagKey(String),
    #[error("KeyUsage {0} is not supported")]
    UnsupportedUsage(String),
    #[error("only ENCRYPT_DECRYPT CMKs can have imported material (Type 2)")]
    ImportNeedsSymmetric,
    /// A symmetric operation on an asymmetric key.
    #[error("CMK {key_id} is {usage}, not ENCRYPT_DECRYPT")]
    NotSymmetric { key_id: String, usage: KeyUsage },
    /// An asymmetric operation on a key of another usage; the edge names the action.
    #[error("needs a CMK with KeyUsage {}; {key_id} is {usage}", usages(needed))]
    WrongUsage {
        key_id: String,
        usage: KeyUsage,
        needed: &'static [KeyUsage],
    },
    #[error("PendingWindowInDays must be 7 to 30")]
    InvalidPendingWindow,
    #[error("Plaintext must decode to 1-4096 bytes")]
    InvalidPlaintext,
    #[error("CiphertextBlob is not valid for this KMS, or the EncryptionContext does not match")]
    InvalidCiphertext,
    #[error("key material for this CMK must be {0} bits")]
    InvalidImportMaterial(usize),
    #[error("the material differs from the material imported before")]
    MaterialNotMatch,
    #[error("EncryptedKeyMaterial could not be decrypted with the wrapping key")]
    UndecryptableMaterial,
    #[error("CMK {0} does not exist in this account and region")]
    NotFound(String),
    #[error("CMK {0} is disabled")]
    Disabled(String),
    #[error("CMK {0} is archived: it decrypts but never encrypts")]
    Archived(String),
    #[error("CMK {0} is pending deletion")]
    PendingDelete(String),
    /// The key's state does not allow the operation; the edge names the action.
    #[error("is not allowed for CMK {key_id} in state {state}")]
    StateNotSupported { key_id: String, state: KeyState },
    #[error("CMK {0} must be disabled before its deletion is scheduled")]
    ShouldBeDisabled(String),
    #[error("CMK {0} is not pending deletion")]
    NotPendingDelete(String),
    #[error("the ImportToken has expired; call GetParametersForImport again")]
    TokenExpired,
    #[error("CMK {0} was not created for imported material (Type 2)")]
    NotExternal(String),
    #[error("CMKs with imported material cannot rotate")]
    ExternalCannotRotate,
    #[error("only ENCRYPT_DECRYPT CMKs rotate")]
    OnlySymmetricRotates,
    #[error("only TENCENT_KMS ENCRYPT_DECRYPT CMKs rotate")]
    RotateNotSupported,
    #[error("key rotation is not enabled for CMK {0} (EnableKeyRotation first)")]
    RotationNotEnabled(String),
    #[error("CMK {0} was rotated less than 24 hours ago")]
    RotateRateLimited(String),
    #[error("CMK {0} is used by a cloud product: unbind it (UnbindCloudResource) first")]
    UsedByCloudProduct(String),
    #[error("the cloud resource is already bound to another CMK")]
    ResourceUsesAnotherKey,
    #[error("the CMK is not bound to this cloud resource")]
    BindingNotFound,
    #[error("the region is not supported (GetRegions lists the supported ones)")]
    UnsupportedRegion,
    #[error("decryption failed")]
    DecryptFailed,
    #[error("signing failed")]
    SignFailed,
    #[error("encrypting to EncryptionPublicKey failed")]
    SealFailed,
    /// A step that cannot fail with good inputs did (random generator, key encoding).
    #[error("{0} failed")]
    Internal(&'static str),
    /// A white-box key refused the call (hsm/whitebox.rs).
    #[error(transparent)]
    WhiteBox(#[from] super::WhiteBoxError),
    #[error("key store error: {0}")]
    Store(#[from] rusqlite::Error),
    /// A hosted data key's own refusals (hsm/datakeys.rs).
    #[error(transparent)]
    DataKey(#[from] super::datakeys::DataKeyError),
}

fn usages(list: &[KeyUsage]) -> String {
    list.iter()
        .map(|u| u.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

impl HsmError {
    /// The Tencent error code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::InvalidParameter(_) => "InvalidParameter",
            Self::InvalidParameterValue(_) => "InvalidParameterValue",
            Self::InvalidKeyId => "InvalidParameterValue.InvalidKeyId",
            Self::InvalidAlias => "InvalidParameterValue.InvalidAlias",
            Self::AliasExists(_) => "InvalidParameterValue.AliasAlreadyExists",
            Self::DuplicatedKeyId(_) => "InvalidParameterValue.DuplicatedKeyId",
            Self::DuplicatedTagKey(_) => "InvalidParameterValue.TagKeysDuplicated",
            Self::UnsupportedUsage(_)
            | Self::ImportNeedsSymmetric
            | Self::NotSymmetric { .. }
            | Self::WrongUsage { .. } => "InvalidParameterValue.InvalidKeyUsage",
            Self::InvalidPendingWindow => "InvalidParameter.InvalidPendingWindowInDays",
            Self::InvalidPlaintext => "InvalidParameterValue.InvalidPlaintext",
            Self::InvalidCiphertext => "InvalidParameterValue.InvalidCiphertext",
            Self::InvalidImportMaterial(_) => "InvalidParameterValue.InvalidImportKeyMaterial",
            Self::MaterialNotMatch => "InvalidParameterValue.MaterialNotMatch",
            Self::UndecryptableMaterial => "InvalidParameter.DecryptMaterialError",
            Self::NotFound(_) => "ResourceUnavailable.CmkNotFound",
            Self::Disabled(_) => StateRefusal::Disabled.code(),
            Self::Archived(_) => StateRefusal::Archived.code(),
            Self::PendingDelete(_) => StateRefusal::PendingDelete.code(),
            Self::StateNotSupported { .. } => StateRefusal::NotSupported.code(),
            Self::ShouldBeDisabled(_) => "ResourceUnavailable.CmkShouldBeDisabled",
            Self::NotPendingDelete(_) => "ResourceUnavailable.CmkNotPendingDelete",
            Self::TokenExpired => "ResourceUnavailable.TokenExpired",
            Self::NotExternal(_) => "UnsupportedOperation.NotExternalCmk",
            Self::ExternalCannotRotate => "UnsupportedOperation.ExternalCmkCanNotRotate",
            Self::OnlySymmetricRotates => "UnsupportedOperation",
            Self::RotateNotSupported | Self::RotationNotEnabled(_) => {
                "UnsupportedOperation.RotateNotSupported"
            }
            Self::RotateRateLimited(_) => "RequestLimitExceeded.RotateRateLimited",
            Self::UsedByCloudProduct(_) | Self::ResourceUsesAnotherKey => {
                "FailedOperation.CmkUsedByCloudProduct"
            }
            Self::BindingNotFound => "ResourceUnavailable.CloudResourceBindingNotFound",
            Self::UnsupportedRegion => "UnsupportedRegion",
            Self::DecryptFailed => "FailedOperation.DecryptError",
            Self::SignFailed => "FailedOperation.SignError",
            Self::SealFailed => "FailedOperation.EncryptionError",
            Self::WhiteBox(e) => e.code(),
            Self::Internal(_) | Self::Store(_) => "InternalError",
            Self::DataKey(e) => e.code(),
        }
    }

    /// True when the message reads after the action's name ("Decrypt is not allowed ...").
    pub(crate) fn names_action(&self) -> bool {
        matches!(
            self,
            Self::StateNotSupported { .. } | Self::WrongUsage { .. }
        )
    }

    /// The refusal of a key in `state` for an operation that state does not allow.
    pub(crate) fn state(key_id: &str, state: KeyState) -> Self {
        Self::StateNotSupported {
            key_id: key_id.to_owned(),
            state,
        }
    }
}

/// `None` when a key in `state` may be used for `operation`, else the refusal: kms-core's one
/// table from key state to error (docs/kms-api.md §4.3), naming the key.
pub(crate) fn state_refusal(
    key_id: &str,
    state: KeyState,
    operation: KeyOperation,
) -> Option<HsmError> {
    Some(match state.refusal(operation)? {
        StateRefusal::Disabled => HsmError::Disabled(key_id.to_owned()),
        StateRefusal::Archived => HsmError::Archived(key_id.to_owned()),
        StateRefusal::PendingDelete => HsmError::PendingDelete(key_id.to_owned()),
        StateRefusal::NotSupported => HsmError::state(key_id, state),
    })
}
