//! What TDE adds to the suite primitives it shares with the envelope ([`crate::kdf`]'s HKDF and
//! HMAC, [`crate::aead`]'s cipher): AEAD keys derived in one step, and MAC checks that fail as
//! [`TdeError::DecryptionFailed`]. The AES suite uses SHA-256 throughout, the SM4 suite SM3.

use super::error::TdeError;
use crate::aead::Cipher;
use crate::kdf::{hkdf, hmac_verify};
use crate::suite::Suite;

/// Length of master keys and tablespace keys.
pub(crate) const KEY_LEN: usize = 32;

/// Checks an HMAC (see [`hmac_verify`]); a mismatch is an opaque decryption failure.
pub(crate) fn mac_verify(
    suite: Suite,
    key: &[u8],
    parts: &[&[u8]],
    expected: &[u8],
) -> Result<(), TdeError> {
    if bool::from(hmac_verify(suite, key, parts, expected)) {
        Ok(())
    } else {
        Err(TdeError::DecryptionFailed)
    }
}

/// The AEAD key derived from `ikm` for `info`, as long as the suite's cipher takes (32 bytes for
/// AES, 16 for SM4).
pub(crate) fn aead_key(suite: Suite, ikm: &[u8], salt: &[u8], info: &[&[u8]]) -> Cipher {
    Cipher::new(
        suite,
        &hkdf(suite, ikm, salt, info, suite.content_key_len()),
    )
    .expect("Instance::create and Instance::open refused a suite that cannot run here")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdf::{hkdf as derive, hmac as mac};

    #[test]
    fn hkdf_and_hmac_differ_by_suite_and_label() {
        let a = derive(Suite::Aes256Gcm, b"ikm", b"salt", &[b"label"], 32);
        let b = derive(Suite::Sm4Gcm, b"ikm", b"salt", &[b"label"], 32);
        let c = derive(Suite::Aes256Gcm, b"ikm", b"salt", &[b"label2"], 32);
        assert_ne!(*a, *b);
        assert_ne!(*a, *c);
        let m = mac(Suite::Sm4Gcm, b"k", &[b"a", b"b"]);
        assert_eq!(
            m,
            mac(Suite::Sm4Gcm, b"k", &[b"ab"]),
            "parts are concatenated"
        );
        assert!(mac_verify(Suite::Sm4Gcm, b"k", &[b"ab"], &m).is_ok());
        assert!(mac_verify(Suite::Aes256Gcm, b"k", &[b"ab"], &m).is_err());
    }
}
