//! Envelope format v1: header parsing and writing (docs/envelope-format.md).
//! SKELETON: to be implemented.

use crate::context::EncryptionContext;
use crate::error::FormatError;
use crate::suite::Suite;
use crate::wrap::WrappedKey;

/// Default plaintext bytes per frame.
pub const DEFAULT_FRAME_SIZE: u32 = 64 * 1024;

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
    /// The authenticated encryption context.
    pub context: EncryptionContext,
    /// Every wrapped copy of the data key.
    pub wrapped_keys: Vec<WrappedKey>,
}

/// Parses the header at the start of `input` (no key needed). Returns the header and its length in bytes.
pub fn parse_header(input: &[u8]) -> Result<(Header, usize), FormatError> {
    let _ = input;
    todo!("envelope header parsing")
}
