//! Error types. Cryptographic failures are deliberately opaque (one `DecryptionFailed`);
//! format problems say exactly what is wrong. No message ever carries key bytes or plaintext.

use crate::aead::Sm4Refused;
use crate::kms::KmsError;

/// The bytes are not a well-formed tkms envelope (or a well-formed key encoding).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The input does not start with the tkms magic bytes.
    #[error("not a tkms envelope (bad magic bytes)")]
    NotEnvelope,
    /// The envelope's format version is not one this library reads.
    #[error("unsupported envelope format version {0}")]
    UnknownVersion(u8),
    /// The suite id is not one this library knows.
    #[error("unknown cipher suite id {0:#06x}")]
    UnknownSuite(u16),
    /// The frame size is outside the supported range.
    #[error("unsupported frame size {0} bytes")]
    UnsupportedFrameSize(u32),
    /// A wrapping method id is not one this library knows.
    #[error("unknown key wrapping method {0}")]
    UnknownWrapMethod(u8),
    /// The header is structurally invalid (truncated, over-long, inconsistent).
    #[error("malformed envelope header: {0}")]
    MalformedHeader(&'static str),
    /// A key (PEM/DER/SPKI) could not be parsed.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
}

/// Why a key could not be wrapped or unwrapped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WrapError {
    /// The wrapping or unwrapping primitive failed (opaque on purpose).
    #[error("key unwrap failed")]
    Crypto,
    /// This wrapper can only wrap (it holds a public key only).
    #[error("this key can only encrypt: a private key or a KMS is needed to decrypt")]
    NoPrivateKey,
    /// The key is of the wrong kind for this operation.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The KMS refused or failed the call.
    #[error(transparent)]
    Kms(#[from] KmsError),
    /// A key encoding could not be parsed.
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// Why a message could not be encrypted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// No wrapping key was given: the data key would be lost.
    #[error("at least one key to wrap the data key with is required")]
    NoRecipients,
    /// Wrapping the data key failed.
    #[error("could not wrap the data key: {0}")]
    Wrap(#[from] WrapError),
    /// The options cannot be encoded (frame size, context too large...).
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Writing the output failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    /// Reading the input file failed, or it changed size while being read (`encrypt_file`).
    #[error("read failed: {0}")]
    Read(std::io::Error),
    /// The suite is SM4-GCM and SM4 is refused in this process (the message names the setting).
    #[error(transparent)]
    Sm4Refused(#[from] Sm4Refused),
}

/// Why a message could not be decrypted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The input is not a readable envelope; nothing was decrypted.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// None of the given keys can open any wrapped key in this envelope.
    #[error("no matching key: the envelope is wrapped for {0}")]
    NoMatchingKey(String),
    /// The encryption context given does not match the one the message was sealed with.
    #[error("the encryption context does not match the one this message was sealed with")]
    ContextMismatch,
    /// The KMS refused or failed to unwrap the data key (disabled key, no permission...).
    #[error(transparent)]
    Kms(#[from] KmsError),
    /// Authentication failed: the envelope was tampered with, truncated, or the wrong key was used.
    /// Deliberately says nothing more.
    #[error(
        "decryption failed: the data is corrupt, truncated, tampered with, or not for this key"
    )]
    DecryptionFailed,
    /// Reading the input failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// Writing the output file failed (`decrypt_file`).
    #[error("write failed: {0}")]
    Write(std::io::Error),
    /// The envelope is SM4-GCM and SM4 is refused in this process (the message names the setting).
    #[error(transparent)]
    Sm4Refused(#[from] Sm4Refused),
}

impl From<DecryptError> for std::io::Error {
    fn from(err: DecryptError) -> Self {
        match err {
            DecryptError::Io(io) | DecryptError::Write(io) => io,
            DecryptError::Format(_) => std::io::Error::new(std::io::ErrorKind::InvalidData, err),
            other => std::io::Error::other(other),
        }
    }
}
