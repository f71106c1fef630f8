//! The read half: parses a header from bytes or from a stream, without any key.
//! It reads exactly the header's bytes and nothing after them.

use std::io::{ErrorKind, Read};

use super::{
    FINGERPRINT_LEN, Header, HeaderV1, KEY_REF_KMS, KEY_REF_PUBLIC_KEY, MAGIC, MAX_WRAPPED_KEYS,
    VERSION_1, VersionedHeader, check_frame_size,
};
use crate::context::{EncryptionContext, MAX_CONTEXT_PAIRS};
use crate::error::{DecryptError, FormatError};
use crate::kdf::{COMMITMENT_LEN, HEADER_TAG_LEN, MESSAGE_ID_LEN};
use crate::suite::Suite;
use crate::wrap::{KeyRef, WrapMethod, WrappedKey};

/// Parses the header at the start of `input` (no key needed). Returns the header and its length in bytes.
///
/// The header is not authenticated here (that needs the data key); `decrypt` does it.
pub fn parse_header(input: &[u8]) -> Result<(Header, usize), FormatError> {
    let mut cursor = input;
    match read_versioned(&mut cursor) {
        Ok(VersionedHeader::V1(v1)) => {
            let len = v1.encoded_len();
            Ok((v1.header, len))
        }
        Err(DecryptError::Format(err)) => Err(err),
        // A slice only fails with end of input, which `read_versioned` already maps.
        Err(_) => Err(FormatError::MalformedHeader("header is truncated")),
    }
}

/// Reads the header from the start of `input`, consuming exactly its bytes (so the body follows).
///
/// Errors are [`DecryptError::Format`] or [`DecryptError::Io`].
pub fn read_header<R: Read>(input: &mut R) -> Result<Header, DecryptError> {
    read_versioned(input).map(|VersionedHeader::V1(v1)| v1.header)
}

/// Reads a header, keeping the bytes it read for authentication.
pub(crate) fn read_versioned<R: Read>(input: &mut R) -> Result<VersionedHeader, DecryptError> {
    let mut reader = Recorder {
        input,
        recorded: Vec::with_capacity(256),
    };

    // "magic: 7 bytes, "TKMSENV""
    let mut magic = [0u8; MAGIC.len()];
    match reader.input.read_exact(&mut magic) {
        Ok(()) => reader.recorded.extend_from_slice(&magic),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
            return Err(FormatError::NotEnvelope.into());
        }
        Err(e) => return Err(e.into()),
    }
    if magic != MAGIC {
        return Err(FormatError::NotEnvelope.into());
    }
    // "version: u8, 0x01. A reader MUST reject any other value before parsing further."
    let version = reader.u8()?;
    if version != VERSION_1 {
        return Err(FormatError::UnknownVersion(version).into());
    }
    read_v1(reader).map(VersionedHeader::V1)
}

fn read_v1<R: Read>(mut reader: Recorder<'_, R>) -> Result<HeaderV1, DecryptError> {
    // "suite: u16, 0x0001 AES-256-GCM/HKDF-SHA256, 0x0002 SM4-GCM/HKDF-SM3"
    let suite = Suite::from_id(reader.u16()?)?;
    // "frame_size: u32, plaintext bytes per frame, 64 ..= 16777216"
    let frame_size = reader.u32()?;
    check_frame_size(frame_size)?;
    // "message_id: 32 bytes, random"
    let message_id: [u8; MESSAGE_ID_LEN] = reader.array()?;
    // "context: the canonical encryption context encoding (u16 count, then per pair
    //  u16 key length, key, u16 value length, value; keys sorted by bytes, unique)"
    let context_start = reader.recorded.len();
    let pairs = reader.u16()? as usize;
    if pairs > MAX_CONTEXT_PAIRS {
        return Err(FormatError::MalformedHeader("encryption context has too many pairs").into());
    }
    for _ in 0..pairs * 2 {
        let len = reader.u16()? as usize;
        reader.bytes(len)?;
    }
    let (context, used) =
        EncryptionContext::from_canonical_bytes(&reader.recorded[context_start..])?;
    debug_assert_eq!(used, reader.recorded.len() - context_start);
    // "wrapped_key_count: u8, 1 ..= 64"
    let count = reader.u8()? as usize;
    if count == 0 {
        return Err(FormatError::MalformedHeader("no wrapped keys").into());
    }
    if count > MAX_WRAPPED_KEYS {
        return Err(FormatError::MalformedHeader("too many wrapped keys").into());
    }
    let mut wrapped_keys = Vec::with_capacity(count);
    for _ in 0..count {
        wrapped_keys.push(read_wrapped_key(&mut reader)?);
    }
    // "commitment: 32 bytes"
    let commitment: [u8; COMMITMENT_LEN] = reader.array()?;
    let authenticated = core::mem::take(&mut reader.recorded);
    // "header_tag: 32 bytes, HMAC over every header byte before it, as received"
    let mut tag = [0u8; HEADER_TAG_LEN];
    reader.input.read_exact(&mut tag).map_err(truncated)?;
    Ok(HeaderV1 {
        header: Header {
            version: VERSION_1,
            suite,
            frame_size,
            message_id,
            context,
            wrapped_keys,
        },
        commitment,
        tag,
        authenticated,
    })
}

/// "method: u8; key_ref_kind: u8; key_ref: u16 length + bytes; ciphertext: u16 length + bytes (1 ..= 65535)"
fn read_wrapped_key<R: Read>(reader: &mut Recorder<'_, R>) -> Result<WrappedKey, DecryptError> {
    let method = WrapMethod::from_id(reader.u8()?)?;
    let kind = reader.u8()?;
    let ref_len = reader.u16()? as usize;
    let ref_bytes = reader.bytes(ref_len)?.to_vec();
    let key_ref = match kind {
        // "kind 0x01: KMS KeyId, UTF-8, 1 ..= 65535 bytes"
        KEY_REF_KMS => {
            let key_id = String::from_utf8(ref_bytes)
                .map_err(|_| FormatError::MalformedHeader("KMS key id is not UTF-8"))?;
            if key_id.is_empty() {
                return Err(FormatError::MalformedHeader("empty KMS key id").into());
            }
            KeyRef::Kms { key_id }
        }
        // "kind 0x02: SHA-256 of the SPKI DER, exactly 32 bytes"
        KEY_REF_PUBLIC_KEY => {
            let fingerprint: [u8; FINGERPRINT_LEN] = ref_bytes.try_into().map_err(|_| {
                FormatError::MalformedHeader("public key fingerprint is not 32 bytes")
            })?;
            KeyRef::PublicKey { fingerprint }
        }
        _ => return Err(FormatError::MalformedHeader("unknown key reference kind").into()),
    };
    let ct_len = reader.u16()? as usize;
    if ct_len == 0 {
        return Err(FormatError::MalformedHeader("empty wrapped key").into());
    }
    let ciphertext = reader.bytes(ct_len)?.to_vec();
    Ok(WrappedKey {
        method,
        key_ref,
        ciphertext,
    })
}

/// Reads fields and records their bytes for the header tag.
struct Recorder<'a, R: Read> {
    input: &'a mut R,
    recorded: Vec<u8>,
}

impl<R: Read> Recorder<'_, R> {
    fn bytes(&mut self, n: usize) -> Result<&[u8], DecryptError> {
        let start = self.recorded.len();
        self.recorded.resize(start + n, 0);
        self.input
            .read_exact(&mut self.recorded[start..])
            .map_err(truncated)?;
        Ok(&self.recorded[start..])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecryptError> {
        let bytes = self.bytes(N)?;
        Ok(bytes.try_into().expect("bytes(N) returns N bytes"))
    }

    fn u8(&mut self) -> Result<u8, DecryptError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecryptError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecryptError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
}

fn truncated(err: std::io::Error) -> DecryptError {
    if err.kind() == ErrorKind::UnexpectedEof {
        FormatError::MalformedHeader("header is truncated").into()
    } else {
        err.into()
    }
}
