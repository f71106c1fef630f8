//! The primitives of the TDE hierarchy, per suite: HKDF to derive working keys, HMAC for the
//! counter table and journals, and the page AEAD (the envelope's [`Cipher`], with AAD). The AES
//! suite uses SHA-256 throughout, the SM4 suite SM3.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::aead::Cipher;
use crate::suite::Suite;

/// HMAC-SHA256 and HMAC-SM3 output length.
pub(crate) const MAC_LEN: usize = 32;
/// Length of master keys and tablespace keys.
pub(crate) const KEY_LEN: usize = 32;

/// The AEAD failed to open: deliberately carries nothing.
#[derive(Debug)]
pub(crate) struct Opaque;

/// HKDF-Expand(HKDF-Extract(salt, ikm), label) into `len` bytes, with the suite's hash.
pub(crate) fn derive(
    suite: Suite,
    ikm: &[u8],
    salt: &[u8],
    info: &[&[u8]],
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    let ok = match suite {
        Suite::Sm4Gcm => Hkdf::<sm3::Sm3>::new(Some(salt), ikm).expand_multi_info(info, &mut out),
        _ => Hkdf::<sha2::Sha256>::new(Some(salt), ikm).expand_multi_info(info, &mut out),
    };
    ok.expect("HKDF output lengths here are at most 32 bytes");
    out
}

/// HMAC over the concatenation of `parts`, with the suite's hash.
pub(crate) fn mac(suite: Suite, key: &[u8], parts: &[&[u8]]) -> [u8; MAC_LEN] {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> [u8; MAC_LEN] {
        let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
        for part in parts {
            m.update(part);
        }
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&m.finalize().into_bytes());
        out
    }
    match suite {
        Suite::Sm4Gcm => run::<Hmac<sm3::Sm3>>(key, parts),
        _ => run::<Hmac<sha2::Sha256>>(key, parts),
    }
}

/// Checks an HMAC in constant time.
pub(crate) fn mac_verify(
    suite: Suite,
    key: &[u8],
    parts: &[&[u8]],
    expected: &[u8],
) -> Result<(), Opaque> {
    let actual = mac(suite, key, parts);
    if bool::from(actual.ct_eq(expected)) {
        Ok(())
    } else {
        Err(Opaque)
    }
}

/// The AEAD key derived from `ikm` for `info`, as long as the suite's cipher takes (32 bytes for
/// AES, 16 for SM4).
pub(crate) fn aead_key(suite: Suite, ikm: &[u8], salt: &[u8], info: &[&[u8]]) -> Cipher {
    Cipher::new(
        suite,
        &derive(suite, ikm, salt, info, suite.content_key_len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
