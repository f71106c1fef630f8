//! Data-key suites: the AEAD that seals frames and the KDF that derives its keys.

use crate::error::FormatError;

/// A data-key cipher suite. The numeric value is its id in the envelope format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
#[non_exhaustive]
pub enum Suite {
    /// AES-256-GCM frames, keys derived with HKDF-SHA256.
    Aes256Gcm = 0x0001,
    /// SM4-GCM frames (RFC 8998), keys derived with HKDF-SM3.
    Sm4Gcm = 0x0002,
}

impl Suite {
    /// The id in the envelope format.
    pub fn id(self) -> u16 {
        self as u16
    }

    /// Parses an envelope suite id.
    pub fn from_id(id: u16) -> Result<Self, FormatError> {
        match id {
            0x0001 => Ok(Self::Aes256Gcm),
            0x0002 => Ok(Self::Sm4Gcm),
            other => Err(FormatError::UnknownSuite(other)),
        }
    }

    /// Bytes in the frame content key this suite derives (AES-256: 32, SM4: 16).
    pub(crate) fn content_key_len(self) -> usize {
        match self {
            Self::Aes256Gcm => 32,
            Self::Sm4Gcm => crate::aead::sm4_gcm::KEY_LEN,
        }
    }

    /// The CLI name: `aes256gcm` or `sm4gcm`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes256Gcm => "aes256gcm",
            Self::Sm4Gcm => "sm4gcm",
        }
    }

    /// Parses a CLI name (`aes256gcm`, `sm4gcm`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "aes256gcm" => Some(Self::Aes256Gcm),
            "sm4gcm" => Some(Self::Sm4Gcm),
            _ => None,
        }
    }
}

impl core::fmt::Display for Suite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
