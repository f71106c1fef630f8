//! The primitives of the TDE hierarchy, per suite: HKDF to derive working keys, HMAC for the
//! counter table and journals, and the page AEAD (AES-256-GCM via aws-lc-rs, SM4-GCM via the
//! constant-time `tkms-sm4` kernels). The AES suite uses SHA-256 throughout, the SM4 suite SM3.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::suite::Suite;

/// GCM nonce length (96 bits) for both ciphers.
pub(crate) const NONCE_LEN: usize = 12;
/// GCM tag length for both ciphers.
pub(crate) const TAG_LEN: usize = 16;
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

/// An AEAD key of one suite (AES-256-GCM or SM4-GCM).
pub(crate) enum AeadKey {
    Aes(LessSafeKey),
    Sm4(Box<tkms_sm4::Sm4Gcm>),
}

impl AeadKey {
    /// The AEAD key derived from `ikm` for `info` (32 bytes for AES, 16 for SM4).
    pub(crate) fn derive(suite: Suite, ikm: &[u8], salt: &[u8], info: &[&[u8]]) -> Self {
        match suite {
            Suite::Sm4Gcm => {
                let key = derive(suite, ikm, salt, info, 16);
                let key: &[u8; 16] = key.as_slice().try_into().expect("SM4 keys are 16 bytes");
                Self::Sm4(Box::new(tkms_sm4::Sm4Gcm::new(key)))
            }
            _ => {
                let key = derive(suite, ikm, salt, info, 32);
                let unbound =
                    UnboundKey::new(&AES_256_GCM, &key).expect("AES-256 keys are 32 bytes");
                Self::Aes(LessSafeKey::new(unbound))
            }
        }
    }

    /// Encrypts `buf` in place and returns the tag. The caller guarantees `nonce` is unique
    /// under this key.
    pub(crate) fn seal(&self, nonce: [u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let mut out = [0u8; TAG_LEN];
        match self {
            Self::Aes(key) => {
                let tag = key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        buf,
                    )
                    .expect("AES-GCM seals any buffer shorter than 64 GiB");
                out.copy_from_slice(tag.as_ref());
            }
            Self::Sm4(key) => {
                out = key
                    .seal_in_place_detached(&nonce, aad, buf)
                    .expect("pages and keys are far below the SM4-GCM length limit");
            }
        }
        out
    }

    /// Decrypts `buf` in place if `tag` authenticates it with `aad`; on failure `buf` holds
    /// nothing useful and the caller must discard it.
    pub(crate) fn open(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), Opaque> {
        match self {
            Self::Aes(key) => key
                .open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    tag,
                    buf,
                )
                .map(|_| ())
                .map_err(|_| Opaque),
            Self::Sm4(key) => {
                let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| Opaque)?;
                key.open_in_place_detached(&nonce, aad, buf, tag)
                    .map_err(|_| Opaque)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl AeadKey {
        fn from_raw(suite: Suite, key: &[u8]) -> Self {
            match suite {
                Suite::Sm4Gcm => {
                    Self::Sm4(Box::new(tkms_sm4::Sm4Gcm::new(key.try_into().unwrap())))
                }
                _ => Self::Aes(LessSafeKey::new(
                    UnboundKey::new(&AES_256_GCM, key).unwrap(),
                )),
            }
        }
    }

    struct Vector {
        source: &'static str,
        suite: Suite,
        key: &'static str,
        iv: &'static str,
        aad: &'static str,
        msg: &'static str,
        ct: &'static str,
        tag: &'static str,
        valid: bool,
    }

    const VECTORS: &[Vector] = &[
        Vector {
            source: "RFC 8998 A.1 = Wycheproof sm4_gcm_test.json tcId 1",
            suite: Suite::Sm4Gcm,
            key: "0123456789abcdeffedcba9876543210",
            iv: "00001234567800000000abcd",
            aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            msg: "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccddddddddddddddddeeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa",
            ct: "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d",
            tag: "83de3541e4c2b58177e065a9bf7b62ec",
            valid: true,
        },
        Vector {
            source: "Wycheproof sm4_gcm_test.json tcId 39 (modified tag)",
            suite: Suite::Sm4Gcm,
            key: "000102030405060708090a0b0c0d0e0f",
            iv: "505152535455565758595a5b",
            aad: "",
            msg: "202122232425262728292a2b2c2d2e2f",
            ct: "2610dc674b46c13dd4e2406d0c0873c4",
            tag: "517976811555a04bb20921a3d81edae4",
            valid: false,
        },
        Vector {
            source: "Wycheproof aes_gcm_test.json tcId 100",
            suite: Suite::Aes256Gcm,
            key: "b279f57e19c8f53f2f963f5f2519fdb7c1779be2ca2b3ae8e1128b7d6c627fc4",
            iv: "98bc2c7438d5cd7665d76f6e",
            aad: "c0",
            msg: "fcc515b294408c8645c9183e3f4ecee5127846d1",
            ct: "eb5500e3825952866d911253f8de860c00831c81",
            tag: "ecb660e1fb0541ec41e8d68a64141b3a",
            valid: true,
        },
        Vector {
            source: "Wycheproof aes_gcm_test.json tcId 130 (modified tag)",
            suite: Suite::Aes256Gcm,
            key: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            iv: "505152535455565758595a5b",
            aad: "",
            msg: "202122232425262728292a2b2c2d2e2f",
            ct: "b2061457c0759fc1749f174ee1ccadfa",
            tag: "9de8fef6d8ab1bf1bf887232eab590dd",
            valid: false,
        },
    ];

    #[test]
    fn page_aead_matches_known_answers() {
        for v in VECTORS {
            let key = AeadKey::from_raw(v.suite, &hex::decode(v.key).unwrap());
            let nonce: [u8; NONCE_LEN] = hex::decode(v.iv).unwrap().try_into().unwrap();
            let aad = hex::decode(v.aad).unwrap();
            let (msg, ct, tag) = (
                hex::decode(v.msg).unwrap(),
                hex::decode(v.ct).unwrap(),
                hex::decode(v.tag).unwrap(),
            );
            let mut buf = ct.clone();
            let opened = key.open(nonce, &aad, &mut buf, &tag);
            assert_eq!(opened.is_ok(), v.valid, "{}", v.source);
            if v.valid {
                assert_eq!(buf, msg, "{}", v.source);
                let mut buf = msg.clone();
                assert_eq!(
                    key.seal(nonce, &aad, &mut buf).to_vec(),
                    tag,
                    "{}",
                    v.source
                );
                assert_eq!(buf, ct, "{}", v.source);
            }
        }
    }

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
