//! The suite AEADs (AES-256-GCM, SM4-GCM). Public: which SM4-GCM backend this process may use
//! ([`sm4_selection`]); the whole-message cipher mock-hsm uses is `internal::AeadKey`.
//!
//! Each suite sits behind one seal / open pair in place and out of place,
//! shared by envelope frames (empty AAD) and TDE pages and headers (with AAD). Tags are detached
//! 16-byte values. Sealing in place serves streaming and pages; sealing from one buffer into
//! another serves the one-shot envelope path, saving a copy. The SM4-GCM backend lives in its own
//! module `sm4_gcm` so a faster implementation can replace it by changing that module only.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::suite::Suite;

/// The one setting that lets SM4-GCM run on its table-based backend (`TKMS_SM4_ALLOW_TABLE=1`).
pub use tkms_sm4::ALLOW_TABLE_ENV as SM4_ALLOW_TABLE_ENV;
/// SM4-GCM is refused in this process: only the table-based backend is available and the user
/// did not opt in, or an SM4 setting is invalid. The message names the setting (docs/sm4.md,
/// "Constant-time guarantee").
pub use tkms_sm4::Refused as Sm4Refused;
/// The SM4-GCM backend this process uses (`tkms --version`, warnings); see [`sm4_selection`].
pub use tkms_sm4::Selection as Sm4Selection;
/// The SM4-GCM backend this process uses, or why SM4 is refused. Every SM4 key kms-core makes
/// goes through this decision.
pub use tkms_sm4::selection as sm4_selection;

/// Bytes in every nonce (both suites).
pub(crate) const NONCE_LEN: usize = 12;
/// Bytes in every authentication tag (both suites).
pub(crate) const TAG_LEN: usize = 16;

/// A seal failed to authenticate. Deliberately carries nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AeadFailed;

/// Refuses `suite` up front, before any KMS call or file write, when it cannot run here (SM4
/// without a constant-time backend and without the opt-in). The decision is made once per
/// process, so a suite that passes here never fails in [`Cipher::new`] later.
pub(crate) fn check_suite(suite: Suite) -> Result<(), Sm4Refused> {
    match suite {
        Suite::Aes256Gcm => Ok(()),
        Suite::Sm4Gcm => sm4_selection().map(|_| ()),
    }
}

/// A key of one suite, ready to seal and open.
pub(crate) enum Cipher {
    /// AES-256-GCM (NIST SP 800-38D) from aws-lc-rs.
    Aes256Gcm(LessSafeKey),
    /// SM4-GCM (RFC 8998). Boxed: its key schedule and GHASH state are large.
    Sm4Gcm(Box<sm4_gcm::Key>),
}

impl Cipher {
    /// A cipher for `suite` under `key`, which must be [`Suite::content_key_len`] bytes; SM4 is
    /// refused where only its table-based backend runs, unless the user opted in.
    pub(crate) fn new(suite: Suite, key: &[u8]) -> Result<Self, Sm4Refused> {
        debug_assert_eq!(key.len(), suite.content_key_len());
        Ok(match suite {
            Suite::Aes256Gcm => {
                let key = UnboundKey::new(&AES_256_GCM, key)
                    .expect("the key length matches AES-256 by construction");
                Self::Aes256Gcm(LessSafeKey::new(key))
            }
            Suite::Sm4Gcm => Self::Sm4Gcm(Box::new(sm4_gcm::Key::new(key)?)),
        })
    }

    /// Encrypts `in_out` in place, authenticating `aad` too, and returns the tag. The caller
    /// guarantees `nonce` is unique under this key.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> [u8; TAG_LEN] {
        match self {
            Self::Aes256Gcm(key) => {
                let tag = key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(*nonce),
                        Aad::from(aad),
                        in_out,
                    )
                    .expect("frames and pages are far below the AES-GCM length limit");
                let mut out = [0u8; TAG_LEN];
                out.copy_from_slice(tag.as_ref());
                out
            }
            Self::Sm4Gcm(key) => key.seal_in_place(nonce, aad, in_out),
        }
    }

    /// Encrypts `input` into `output` (same length), authenticating `aad` too, and returns the tag.
    pub(crate) fn seal_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> [u8; TAG_LEN] {
        match self {
            Self::Aes256Gcm(key) => {
                let mut tag = [0u8; TAG_LEN];
                key.seal_out_of_place_scatter(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), input, output, &[], &mut tag)
                    .expect("output and tag lengths match by construction; frames are far below the GCM limit");
                tag
            }
            Self::Sm4Gcm(key) => key.seal_into(nonce, aad, input, output),
        }
    }

    /// Checks `tag` over `input` and `aad` and decrypts `input` into `output` (same length). On
    /// failure `output` is zeroed.
    pub(crate) fn open_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        tag: &[u8; TAG_LEN],
        output: &mut [u8],
    ) -> Result<(), AeadFailed> {
        let result = match self {
            Self::Aes256Gcm(key) => key
                .open_separate_gather(
                    Nonce::assume_unique_for_key(*nonce),
                    Aad::from(aad),
                    input,
                    tag,
                    output,
                )
                .map_err(|_| AeadFailed),
            Self::Sm4Gcm(key) => key.open_into(nonce, aad, input, tag, output),
        };
        wipe_on_failure(result, output)
    }

    /// Checks `tag` over `in_out` and `aad` and decrypts `in_out` in place. On failure `in_out`
    /// is zeroed.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadFailed> {
        let result = match self {
            Self::Aes256Gcm(key) => key
                .open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(*nonce),
                    Aad::from(aad),
                    tag,
                    in_out,
                )
                .map(|_| ())
                .map_err(|_| AeadFailed),
            Self::Sm4Gcm(key) => key.open_in_place(nonce, aad, in_out, tag),
        };
        wipe_on_failure(result, in_out)
    }
}

/// Zeroes `buf` if `result` is a failure: it may hold unauthenticated keystream output, which
/// must never escape.
fn wipe_on_failure(result: Result<(), AeadFailed>, buf: &mut [u8]) -> Result<(), AeadFailed> {
    if result.is_err() {
        buf.fill(0);
    }
    result
}

/// The SM4-GCM backend: `tkms-sm4`, its GFNI/AES-NI kernels (constant-time) picked at run time.
/// On CPUs without AES-NI/PCLMULQDQ only its table-based fallback (not constant-time) exists, and
/// `Key::new` refuses it unless the user opted in (docs/sm4.md, "Constant-time guarantee").
pub(crate) mod sm4_gcm {
    use super::{AeadFailed, NONCE_LEN, Sm4Refused, TAG_LEN};

    /// Bytes in an SM4 key.
    pub(crate) const KEY_LEN: usize = 16;

    /// An SM4-GCM key (key schedule zeroized on drop).
    pub(crate) struct Key(tkms_sm4::Sm4Gcm);

    impl Key {
        /// `key` must be [`KEY_LEN`] bytes.
        pub(crate) fn new(key: &[u8]) -> Result<Self, Sm4Refused> {
            let key: &[u8; KEY_LEN] = key
                .try_into()
                .expect("SM4 keys are 16 bytes by construction");
            Ok(Self(tkms_sm4::Sm4Gcm::new(key)?))
        }

        /// Encrypts `in_out` in place and returns its tag.
        pub(crate) fn seal_in_place(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
        ) -> [u8; TAG_LEN] {
            self.0
                .seal_in_place_detached(nonce, aad, in_out)
                .expect("frames and pages are far below the GCM length limit")
        }

        /// Encrypts `input` into `output` (same length) and returns the tag.
        pub(crate) fn seal_into(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            input: &[u8],
            output: &mut [u8],
        ) -> [u8; TAG_LEN] {
            self.0
                .seal_detached_into(nonce, aad, input, output)
                .expect("frames and pages are far below the GCM length limit")
        }

        /// Checks `tag` and decrypts `input` into `output` (same length).
        pub(crate) fn open_into(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            input: &[u8],
            tag: &[u8; TAG_LEN],
            output: &mut [u8],
        ) -> Result<(), AeadFailed> {
            self.0
                .open_detached_into(nonce, aad, input, tag, output)
                .map_err(|_| AeadFailed)
        }

        /// Checks `tag` and decrypts `in_out` in place (zeroized on failure).
        pub(crate) fn open_in_place(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<(), AeadFailed> {
            self.0
                .open_in_place_detached(nonce, aad, in_out, tag)
                .map_err(|_| AeadFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper_both_suites() {
        for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
            let cipher = Cipher::new(suite, &vec![7u8; suite.content_key_len()]).unwrap();
            let nonce = [1u8; NONCE_LEN];
            let mut buf = b"frame plaintext".to_vec();
            let tag = cipher.seal_in_place(&nonce, &[], &mut buf);
            assert_ne!(&buf[..], b"frame plaintext");
            let mut good = buf.clone();
            cipher.open_in_place(&nonce, &[], &mut good, &tag).unwrap();
            assert_eq!(&good[..], b"frame plaintext");
            let mut bad = buf.clone();
            bad[0] ^= 1;
            assert_eq!(
                cipher.open_in_place(&nonce, &[], &mut bad, &tag),
                Err(AeadFailed)
            );
            assert!(
                bad.iter().all(|&b| b == 0),
                "a failed open leaves no plaintext behind"
            );
            // Out of place agrees with in place, both ways.
            let mut out = vec![0u8; buf.len()];
            assert_eq!(
                cipher.seal_into(&nonce, &[], b"frame plaintext", &mut out),
                tag
            );
            assert_eq!(out, buf);
            let mut plain = vec![0u8; buf.len()];
            cipher
                .open_into(&nonce, &[], &buf, &tag, &mut plain)
                .unwrap();
            assert_eq!(&plain[..], b"frame plaintext");
            let mut wrong = tag;
            wrong[0] ^= 1;
            assert_eq!(
                cipher.open_into(&nonce, &[], &buf, &wrong, &mut plain),
                Err(AeadFailed)
            );
            assert!(plain.iter().all(|&b| b == 0));
            let mut other_nonce = buf.clone();
            assert_eq!(
                cipher.open_in_place(&[2u8; NONCE_LEN], &[], &mut other_nonce, &tag),
                Err(AeadFailed)
            );
        }
    }

    /// An AES frame is plain AES-256-GCM with empty AAD and the tag appended.
    #[test]
    fn aes_frames_are_plain_aes_256_gcm() {
        let key = [9u8; 32];
        let cipher = Cipher::new(Suite::Aes256Gcm, &key).unwrap();
        let nonce = [3u8; NONCE_LEN];
        let mut buf = vec![0x55u8; 100];
        let tag = cipher.seal_in_place(&nonce, &[], &mut buf);
        let lsk = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
        let mut other = vec![0x55u8; 100];
        lsk.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut other,
        )
        .unwrap();
        assert_eq!(&other[..100], &buf[..]);
        assert_eq!(&other[100..], &tag[..]);
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
            let key = Cipher::new(v.suite, &hex::decode(v.key).unwrap()).unwrap();
            let nonce: [u8; NONCE_LEN] = hex::decode(v.iv).unwrap().try_into().unwrap();
            let aad = hex::decode(v.aad).unwrap();
            let (msg, ct, tag) = (
                hex::decode(v.msg).unwrap(),
                hex::decode(v.ct).unwrap(),
                hex::decode(v.tag).unwrap(),
            );
            let tag: [u8; TAG_LEN] = tag.try_into().unwrap();
            let mut buf = ct.clone();
            let opened = key.open_in_place(&nonce, &aad, &mut buf, &tag);
            assert_eq!(opened.is_ok(), v.valid, "{}", v.source);
            if v.valid {
                assert_eq!(buf, msg, "{}", v.source);
                let mut buf = msg.clone();
                assert_eq!(
                    key.seal_in_place(&nonce, &aad, &mut buf),
                    tag,
                    "{}",
                    v.source
                );
                assert_eq!(buf, ct, "{}", v.source);
            }
        }
    }
}
