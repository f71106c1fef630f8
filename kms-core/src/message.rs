//! One-shot encryption and decryption of byte slices.
//! SKELETON: to be implemented.

use crate::context::EncryptionContext;
use crate::error::{DecryptError, EncryptError};
use crate::format::DEFAULT_FRAME_SIZE;
use crate::suite::Suite;
use crate::wrap::KeyWrapper;

/// How to seal a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptOptions {
    /// Data-key suite (default AES-256-GCM).
    pub suite: Suite,
    /// Encryption context, authenticated with the message.
    pub context: EncryptionContext,
    /// Plaintext bytes per frame (default 64 KiB).
    pub frame_size: u32,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            suite: Suite::Aes256Gcm,
            context: EncryptionContext::new(),
            frame_size: DEFAULT_FRAME_SIZE,
        }
    }
}

/// Seals `plaintext` for every key in `wrappers` (at least one).
pub fn encrypt(
    plaintext: &[u8],
    wrappers: &[&dyn KeyWrapper],
    options: &EncryptOptions,
) -> Result<Vec<u8>, EncryptError> {
    let _ = (plaintext, wrappers, options);
    todo!()
}

/// Opens `envelope` with the first of `unwrappers` that can unwrap one of its data keys.
/// `context` must equal the context the message was sealed with.
pub fn decrypt(
    envelope: &[u8],
    unwrappers: &[&dyn KeyWrapper],
    context: &EncryptionContext,
) -> Result<Vec<u8>, DecryptError> {
    let _ = (envelope, unwrappers, context);
    todo!()
}
