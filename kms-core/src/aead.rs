//! The frame AEADs, each behind one seal-in-place / open-in-place pair.
//!
//! Frames are sealed with a detached 16-byte tag, in place (streaming) or from one buffer into
//! another (one-shot, saving a copy). The SM4-GCM backend lives in its own module [`sm4_gcm`]
//! so a faster implementation can replace it by changing that module only.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::suite::Suite;

/// Bytes in every frame nonce (both suites).
pub(crate) const NONCE_LEN: usize = 12;
/// Bytes in every frame authentication tag (both suites).
pub(crate) const TAG_LEN: usize = 16;

/// A frame failed to authenticate. Deliberately carries nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AeadFailed;

/// A content key ready to seal and open frames.
pub(crate) enum FrameCipher {
    /// AES-256-GCM (NIST SP 800-38D) from aws-lc-rs.
    Aes256Gcm(LessSafeKey),
    /// SM4-GCM (RFC 8998). Boxed: its key schedule and GHASH state are large.
    Sm4Gcm(Box<sm4_gcm::Key>),
}

impl FrameCipher {
    /// A cipher for `suite` under `key`, which must be [`Suite::content_key_len`] bytes.
    pub(crate) fn new(suite: Suite, key: &[u8]) -> Self {
        debug_assert_eq!(key.len(), suite.content_key_len());
        match suite {
            Suite::Aes256Gcm => {
                let key = UnboundKey::new(&AES_256_GCM, key)
                    .expect("the content key length matches AES-256 by construction");
                Self::Aes256Gcm(LessSafeKey::new(key))
            }
            Suite::Sm4Gcm => Self::Sm4Gcm(Box::new(sm4_gcm::Key::new(key))),
        }
    }

    /// Encrypts `in_out` in place and returns its tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        in_out: &mut [u8],
    ) -> [u8; TAG_LEN] {
        match self {
            Self::Aes256Gcm(key) => {
                let tag = key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(*nonce),
                        Aad::empty(),
                        in_out,
                    )
                    .expect("frames are at most 16 MiB, far below the AES-GCM length limit");
                let mut out = [0u8; TAG_LEN];
                out.copy_from_slice(tag.as_ref());
                out
            }
            Self::Sm4Gcm(key) => key.seal_in_place(nonce, in_out),
        }
    }

    /// Encrypts `input` into `output` (same length) and returns the tag.
    pub(crate) fn seal_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        input: &[u8],
        output: &mut [u8],
    ) -> [u8; TAG_LEN] {
        match self {
            Self::Aes256Gcm(key) => {
                let mut tag = [0u8; TAG_LEN];
                key.seal_out_of_place_scatter(Nonce::assume_unique_for_key(*nonce), Aad::empty(), input, output, &[], &mut tag)
                    .expect("output and tag lengths match by construction; frames are far below the GCM limit");
                tag
            }
            Self::Sm4Gcm(key) => key.seal_into(nonce, input, output),
        }
    }

    /// Checks `tag` and decrypts `input` into `output` (same length). On failure `output` is zeroed.
    pub(crate) fn open_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        input: &[u8],
        tag: &[u8; TAG_LEN],
        output: &mut [u8],
    ) -> Result<(), AeadFailed> {
        let result = match self {
            Self::Aes256Gcm(key) => key
                .open_separate_gather(
                    Nonce::assume_unique_for_key(*nonce),
                    Aad::empty(),
                    input,
                    tag,
                    output,
                )
                .map_err(|_| AeadFailed),
            Self::Sm4Gcm(key) => key.open_into(nonce, input, tag, output),
        };
        if result.is_err() {
            output.fill(0);
        }
        result
    }

    /// Checks `tag` and decrypts `in_out` in place. On failure `in_out` is zeroed.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadFailed> {
        let result = match self {
            Self::Aes256Gcm(key) => key
                .open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(*nonce),
                    Aad::empty(),
                    tag,
                    in_out,
                )
                .map(|_| ())
                .map_err(|_| AeadFailed),
            Self::Sm4Gcm(key) => key.open_in_place(nonce, in_out, tag),
        };
        if result.is_err() {
            // The buffer may hold unauthenticated keystream output: never let it escape.
            in_out.fill(0);
        }
        result
    }
}

/// The SM4-GCM backend: RustCrypto's generic GCM over the `sm4` block cipher.
/// Replace this module (same `Key` type and five functions) to switch to a faster SM4-GCM.
pub(crate) mod sm4_gcm {
    use aes_gcm::aead::AeadInOut;
    use aes_gcm::aead::array::Array;
    use aes_gcm::aead::inout::InOutBuf;
    use aes_gcm::{AesGcm, KeyInit};
    use cipher::consts::U12;

    use super::{AeadFailed, NONCE_LEN, TAG_LEN};

    /// Bytes in an SM4 key.
    pub(crate) const KEY_LEN: usize = 16;

    /// An SM4-GCM key (key schedule zeroized on drop).
    pub(crate) struct Key(AesGcm<sm4::Sm4, U12>);

    impl Key {
        /// `key` must be [`KEY_LEN`] bytes.
        pub(crate) fn new(key: &[u8]) -> Self {
            Self(
                AesGcm::new_from_slice(key).expect("SM4 content keys are 16 bytes by construction"),
            )
        }

        /// Encrypts `in_out` in place and returns its tag.
        pub(crate) fn seal_in_place(
            &self,
            nonce: &[u8; NONCE_LEN],
            in_out: &mut [u8],
        ) -> [u8; TAG_LEN] {
            let tag = self
                .0
                .encrypt_inout_detached(&Array::from(*nonce), &[], in_out.into())
                .expect("frames are at most 16 MiB, far below the GCM length limit");
            tag.into()
        }

        /// Encrypts `input` into `output` (same length) and returns the tag.
        pub(crate) fn seal_into(
            &self,
            nonce: &[u8; NONCE_LEN],
            input: &[u8],
            output: &mut [u8],
        ) -> [u8; TAG_LEN] {
            let buf = InOutBuf::new(input, output)
                .expect("input and output lengths match by construction");
            let tag = self
                .0
                .encrypt_inout_detached(&Array::from(*nonce), &[], buf)
                .expect("frames are at most 16 MiB, far below the GCM length limit");
            tag.into()
        }

        /// Checks `tag` and decrypts `input` into `output` (same length).
        pub(crate) fn open_into(
            &self,
            nonce: &[u8; NONCE_LEN],
            input: &[u8],
            tag: &[u8; TAG_LEN],
            output: &mut [u8],
        ) -> Result<(), AeadFailed> {
            let buf = InOutBuf::new(input, output)
                .expect("input and output lengths match by construction");
            self.0
                .decrypt_inout_detached(&Array::from(*nonce), &[], buf, &Array::from(*tag))
                .map_err(|_| AeadFailed)
        }

        /// Checks `tag` and decrypts `in_out` in place.
        pub(crate) fn open_in_place(
            &self,
            nonce: &[u8; NONCE_LEN],
            in_out: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<(), AeadFailed> {
            self.0
                .decrypt_inout_detached(
                    &Array::from(*nonce),
                    &[],
                    in_out.into(),
                    &Array::from(*tag),
                )
                .map_err(|_| AeadFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// RFC 8998, Appendix A.1 (SM4-GCM), with non-empty AAD: exercised through the backend
    /// type directly since frames use empty AAD.
    #[test]
    fn sm4_gcm_backend_matches_rfc8998_vector() {
        use aes_gcm::aead::AeadInOut;
        use aes_gcm::aead::array::Array;
        let key = unhex("0123456789ABCDEFFEDCBA9876543210");
        let nonce: [u8; 12] = unhex("00001234567800000000ABCD").try_into().unwrap();
        let aad = unhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
        let pt = unhex(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD
             EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
        );
        let ct = unhex(
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735
             D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D",
        );
        let tag = unhex("83DE3541E4C2B58177E065A9BF7B62EC");
        let gcm: aes_gcm::AesGcm<sm4::Sm4, cipher::consts::U12> =
            aes_gcm::KeyInit::new_from_slice(&key).unwrap();
        let mut buf = pt.clone();
        let got = gcm
            .encrypt_inout_detached(&Array::from(nonce), &aad, (&mut buf[..]).into())
            .unwrap();
        assert_eq!(buf, ct);
        assert_eq!(got.as_slice(), &tag[..]);
    }

    #[test]
    fn seal_open_round_trip_and_tamper_both_suites() {
        for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
            let cipher = FrameCipher::new(suite, &vec![7u8; suite.content_key_len()]);
            let nonce = [1u8; NONCE_LEN];
            let mut buf = b"frame plaintext".to_vec();
            let tag = cipher.seal_in_place(&nonce, &mut buf);
            assert_ne!(&buf[..], b"frame plaintext");
            let mut good = buf.clone();
            cipher.open_in_place(&nonce, &mut good, &tag).unwrap();
            assert_eq!(&good[..], b"frame plaintext");
            let mut bad = buf.clone();
            bad[0] ^= 1;
            assert_eq!(
                cipher.open_in_place(&nonce, &mut bad, &tag),
                Err(AeadFailed)
            );
            assert!(
                bad.iter().all(|&b| b == 0),
                "a failed open leaves no plaintext behind"
            );
            // Out of place agrees with in place, both ways.
            let mut out = vec![0u8; buf.len()];
            assert_eq!(cipher.seal_into(&nonce, b"frame plaintext", &mut out), tag);
            assert_eq!(out, buf);
            let mut plain = vec![0u8; buf.len()];
            cipher.open_into(&nonce, &buf, &tag, &mut plain).unwrap();
            assert_eq!(&plain[..], b"frame plaintext");
            let mut wrong = tag;
            wrong[0] ^= 1;
            assert_eq!(
                cipher.open_into(&nonce, &buf, &wrong, &mut plain),
                Err(AeadFailed)
            );
            assert!(plain.iter().all(|&b| b == 0));
            let mut other_nonce = buf.clone();
            assert_eq!(
                cipher.open_in_place(&[2u8; NONCE_LEN], &mut other_nonce, &tag),
                Err(AeadFailed)
            );
        }
    }

    /// An AES frame is plain AES-256-GCM with empty AAD and the tag appended.
    #[test]
    fn aes_frames_are_plain_aes_256_gcm() {
        let key = [9u8; 32];
        let cipher = FrameCipher::new(Suite::Aes256Gcm, &key);
        let nonce = [3u8; NONCE_LEN];
        let mut buf = vec![0x55u8; 100];
        let tag = cipher.seal_in_place(&nonce, &mut buf);
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
}
