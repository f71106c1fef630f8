//! The write half: serialises a v1 header and appends its commitment and tag.

use super::{
    FINGERPRINT_LEN, KEY_REF_KMS, KEY_REF_PUBLIC_KEY, MAGIC, MAX_WRAPPED_KEYS, VERSION_1,
    check_frame_size,
};
use crate::context::EncryptionContext;
use crate::error::FormatError;
use crate::kdf::{MESSAGE_ID_LEN, MessageKeys};
use crate::suite::Suite;
use crate::wrap::{KeyRef, WrappedKey};

/// The complete v1 header: fields, commitment, then the header tag over all of them.
pub(crate) fn write_v1(
    suite: Suite,
    frame_size: u32,
    message_id: &[u8; MESSAGE_ID_LEN],
    context: &EncryptionContext,
    wrapped_keys: &[WrappedKey],
    keys: &MessageKeys,
) -> Result<Vec<u8>, FormatError> {
    check_frame_size(frame_size)?;
    if wrapped_keys.is_empty() || wrapped_keys.len() > MAX_WRAPPED_KEYS {
        return Err(FormatError::MalformedHeader(
            "an envelope holds 1 to 64 wrapped keys",
        ));
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION_1);
    out.extend_from_slice(&suite.id().to_be_bytes());
    out.extend_from_slice(&frame_size.to_be_bytes());
    out.extend_from_slice(message_id);
    out.extend_from_slice(&context.to_canonical_bytes()?);
    out.push(wrapped_keys.len() as u8);
    for wrapped in wrapped_keys {
        out.push(wrapped.method.id());
        match &wrapped.key_ref {
            KeyRef::Kms { key_id } => {
                if key_id.is_empty() {
                    return Err(FormatError::MalformedHeader("empty KMS key id"));
                }
                out.push(KEY_REF_KMS);
                put_u16_prefixed(
                    &mut out,
                    key_id.as_bytes(),
                    "KMS key id longer than 65535 bytes",
                )?;
            }
            KeyRef::PublicKey { fingerprint } => {
                out.push(KEY_REF_PUBLIC_KEY);
                debug_assert_eq!(fingerprint.len(), FINGERPRINT_LEN);
                put_u16_prefixed(
                    &mut out,
                    fingerprint,
                    "unreachable: fingerprints are 32 bytes",
                )?;
            }
        }
        if wrapped.ciphertext.is_empty() {
            return Err(FormatError::MalformedHeader("empty wrapped key"));
        }
        put_u16_prefixed(
            &mut out,
            &wrapped.ciphertext,
            "wrapped key longer than 65535 bytes",
        )?;
    }
    out.extend_from_slice(&keys.commitment);
    let tag = keys.header_tag(&out);
    out.extend_from_slice(&tag);
    Ok(out)
}

fn put_u16_prefixed(
    out: &mut Vec<u8>,
    bytes: &[u8],
    too_long: &'static str,
) -> Result<(), FormatError> {
    let len = u16::try_from(bytes.len()).map_err(|_| FormatError::MalformedHeader(too_long))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}
