//! Envelope format v1: header constants, the parsed header, and its read and write halves
//! (docs/envelope-format.md is normative; the parser quotes it).

use crate::context::EncryptionContext;
use crate::kdf::{COMMITMENT_LEN, HEADER_TAG_LEN, MESSAGE_ID_LEN};
use crate::suite::Suite;
use crate::wrap::WrappedKey;

mod read;
mod write;

pub(crate) use read::read_versioned;
pub use read::{parse_header, read_header};
pub(crate) use write::write_v1;

/// The first bytes of every envelope.
pub(crate) const MAGIC: [u8; 7] = *b"TKMSENV";
/// The format version this library writes and reads.
pub(crate) const VERSION_1: u8 = 0x01;

/// Default plaintext bytes per frame.
pub const DEFAULT_FRAME_SIZE: u32 = 64 * 1024;
/// Smallest supported frame size (small frames exist so tests can cover many frames cheaply).
pub const MIN_FRAME_SIZE: u32 = 64;
/// Largest supported frame size (16 MiB).
pub const MAX_FRAME_SIZE: u32 = 16 * 1024 * 1024;

/// Most wrapped keys one envelope may carry (bounds the unwrap attempts a header can cause).
pub(crate) const MAX_WRAPPED_KEYS: usize = 64;
/// Key reference kind: a KMS CMK by KeyId (UTF-8).
pub(crate) const KEY_REF_KMS: u8 = 0x01;
/// Key reference kind: a public key by the SHA-256 of its SPKI DER (32 bytes).
pub(crate) const KEY_REF_PUBLIC_KEY: u8 = 0x02;
/// Bytes in a public-key fingerprint.
pub(crate) const FINGERPRINT_LEN: usize = 32;

/// Most frames one message may have: the frame index in the nonce is a u32.
pub(crate) const MAX_FRAMES: u64 = 1 << 32;

/// A parsed envelope header: everything `tkms inspect` shows, readable without any key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// Format version (1).
    pub version: u8,
    /// Data-key suite.
    pub suite: Suite,
    /// Plaintext bytes per frame.
    pub frame_size: u32,
    /// The random per-message id (the HKDF salt of the key schedule).
    pub message_id: [u8; MESSAGE_ID_LEN],
    /// The authenticated encryption context.
    pub context: EncryptionContext,
    /// Every wrapped copy of the data key.
    pub wrapped_keys: Vec<WrappedKey>,
}

/// A header as read, tagged by version. Only v1 exists; any other version byte is
/// `FormatError::UnknownVersion` before anything else is parsed.
#[derive(Clone, Debug)]
pub(crate) enum VersionedHeader {
    /// Format version 1.
    V1(HeaderV1),
}

/// A v1 header with the parts needed to authenticate it.
#[derive(Clone, Debug)]
pub(crate) struct HeaderV1 {
    pub(crate) header: Header,
    pub(crate) commitment: [u8; COMMITMENT_LEN],
    pub(crate) tag: [u8; HEADER_TAG_LEN],
    /// The header bytes exactly as received, from the magic through the commitment:
    /// the header tag is checked over these, never over a re-serialisation.
    pub(crate) authenticated: Vec<u8>,
}

impl HeaderV1 {
    /// Total length of the header on the wire.
    pub(crate) fn encoded_len(&self) -> usize {
        self.authenticated.len() + HEADER_TAG_LEN
    }
}

/// Checks a frame size against the supported range.
pub(crate) fn check_frame_size(frame_size: u32) -> Result<(), crate::error::FormatError> {
    if (MIN_FRAME_SIZE..=MAX_FRAME_SIZE).contains(&frame_size) {
        Ok(())
    } else {
        Err(crate::error::FormatError::UnsupportedFrameSize(frame_size))
    }
}
