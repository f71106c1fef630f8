//! Envelope encryption with Tencent Cloud KMS.
//!
//! A message is sealed under a fresh data key with AES-256-GCM or SM4-GCM in authenticated
//! frames; the data key is kept only wrapped, by a KMS CMK and/or by RSA-2048 or SM2 public
//! keys (docs/envelope-format.md).

#![deny(missing_docs)]

pub mod aead;
mod body;
pub mod cache;
mod context;
mod error;
#[cfg(unix)]
mod file;
mod format;
mod kdf;
mod message;
mod secret;
mod stream;
#[cfg(feature = "tokio")]
mod stream_async;
mod suite;

pub mod http;
// Helpers only mock-hsm uses: public only with the non-default `internal` feature.
#[cfg(feature = "internal")]
pub mod internal;
#[cfg(not(feature = "internal"))]
#[allow(unreachable_pub, dead_code)]
mod internal;
pub mod kms;
pub mod private_file;
pub mod tde;
pub mod wrap;

// The public interface is:
pub use context::EncryptionContext;
pub use error::{DecryptError, EncryptError, FormatError, WrapError};
#[cfg(unix)]
pub use file::{Progress, decrypt_file, encrypt_file};
pub use format::{
    DEFAULT_FRAME_SIZE, Header, MAX_FRAME_SIZE, MIN_FRAME_SIZE, parse_header, read_header,
};
pub use message::{EncryptOptions, decrypt, encrypt};
pub use secret::{DATA_KEY_LEN, DataKey, SecretBytes};
pub use stream::{Decryptor, Encryptor};
#[cfg(feature = "tokio")]
pub use stream_async::{AsyncDecryptor, AsyncEncryptor};
pub use suite::Suite;
