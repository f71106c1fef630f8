//! The envelope key schedule (docs/envelope-format.md, "Key schedule"), on top of the suite's
//! HKDF and HMAC, which TDE uses too.
//!
//! > PRK = HKDF-Extract(salt = message_id, IKM = data_key) with the suite's hash;
//! > every derived key is HKDF-Expand(PRK, info = label || u16 suite id, L).

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sm3::Sm3;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::aead::{Cipher, NONCE_LEN, Sm4Refused};
use crate::secret::DataKey;
use crate::suite::Suite;

/// HKDF info label of the frame content key.
pub(crate) const LABEL_CONTENT_KEY: &[u8] = b"tkms/v1/content-key";
/// HKDF info label of the header authentication key.
pub(crate) const LABEL_HEADER_KEY: &[u8] = b"tkms/v1/header-key";
/// HKDF info label of the key commitment.
pub(crate) const LABEL_COMMITMENT: &[u8] = b"tkms/v1/key-commitment";

/// Bytes in the random per-message id (the HKDF salt).
pub(crate) const MESSAGE_ID_LEN: usize = 32;
/// Bytes in the key commitment.
pub(crate) const COMMITMENT_LEN: usize = 32;
/// Bytes in an HMAC-SHA256 or HMAC-SM3 output.
pub(crate) const MAC_LEN: usize = 32;
/// Bytes in the header authentication key and tag (an HMAC output).
pub(crate) const HEADER_TAG_LEN: usize = MAC_LEN;

/// Where the big-endian u32 frame index sits in the nonce (bytes 0..7 are zero).
const NONCE_INDEX_AT: usize = 7;
/// Where the final flag sits in the nonce (its last byte).
const NONCE_FLAG_AT: usize = NONCE_LEN - 1;

/// Nonce byte 11 of a frame that is not the last one.
pub(crate) const FLAG_NOT_FINAL: u8 = 0x00;
/// Nonce byte 11 of the last frame.
pub(crate) const FLAG_FINAL: u8 = 0x01;

/// Everything derived from one (data key, message id, suite).
pub(crate) struct MessageKeys {
    pub(crate) cipher: Cipher,
    header_key: Zeroizing<[u8; HEADER_TAG_LEN]>,
    pub(crate) commitment: [u8; COMMITMENT_LEN],
    suite: Suite,
}

impl MessageKeys {
    /// Derives the content key, header key and commitment.
    pub(crate) fn derive(
        suite: Suite,
        data_key: &DataKey,
        message_id: &[u8; MESSAGE_ID_LEN],
    ) -> Result<Self, Sm4Refused> {
        let prk = Prk::extract(suite, data_key.expose_secret(), message_id);
        let content = prk.expand(LABEL_CONTENT_KEY, suite.content_key_len());
        let header = prk.expand(LABEL_HEADER_KEY, HEADER_TAG_LEN);
        let commitment = prk.expand(LABEL_COMMITMENT, COMMITMENT_LEN);
        let mut header_key = Zeroizing::new([0u8; HEADER_TAG_LEN]);
        header_key.copy_from_slice(&header);
        let mut commitment_bytes = [0u8; COMMITMENT_LEN];
        commitment_bytes.copy_from_slice(&commitment);
        Ok(Self {
            cipher: Cipher::new(suite, &content)?,
            header_key,
            commitment: commitment_bytes,
            suite,
        })
    }

    /// The header tag over `bytes`: HMAC-SHA256 (AES suite) or HMAC-SM3 (SM4 suite).
    pub(crate) fn header_tag(&self, bytes: &[u8]) -> [u8; HEADER_TAG_LEN] {
        hmac(self.suite, &self.header_key[..], &[bytes])
    }

    /// Checks a received commitment and header tag in constant time (both, always).
    pub(crate) fn verify(
        &self,
        commitment: &[u8; COMMITMENT_LEN],
        authenticated: &[u8],
        tag: &[u8; HEADER_TAG_LEN],
    ) -> bool {
        let commitment_ok = self.commitment.ct_eq(commitment);
        let tag_ok = hmac_verify(self.suite, &self.header_key[..], &[authenticated], tag);
        bool::from(commitment_ok & tag_ok)
    }
}

/// HKDF with the suite's hash: one extract, then one expand per derived value.
enum Prk {
    Sha256(Hkdf<Sha256>),
    Sm3(Hkdf<Sm3>),
}

impl Prk {
    fn extract(suite: Suite, ikm: &[u8], salt: &[u8]) -> Self {
        match suite {
            Suite::Aes256Gcm => Self::Sha256(Hkdf::new(Some(salt), ikm)),
            Suite::Sm4Gcm => Self::Sm3(Hkdf::new(Some(salt), ikm)),
        }
    }

    fn suite(&self) -> Suite {
        match self {
            Self::Sha256(_) => Suite::Aes256Gcm,
            Self::Sm3(_) => Suite::Sm4Gcm,
        }
    }

    /// The envelope's expansion: `info = label || u16 suite id`.
    fn expand(&self, label: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
        self.expand_info(&[label, &self.suite().id().to_be_bytes()], len)
    }

    /// HKDF-Expand with `info` the concatenation of `info_parts`.
    fn expand_info(&self, info_parts: &[&[u8]], len: usize) -> Zeroizing<Vec<u8>> {
        let mut okm = Zeroizing::new(vec![0u8; len]);
        let result = match self {
            Self::Sha256(hkdf) => hkdf.expand_multi_info(info_parts, &mut okm),
            Self::Sm3(hkdf) => hkdf.expand_multi_info(info_parts, &mut okm),
        };
        result.expect("every derived length is far below 255 hash lengths");
        okm
    }
}

/// HKDF-Expand(HKDF-Extract(salt, ikm), info) into `len` bytes with the suite's hash, `info`
/// being the concatenation of `info_parts`.
pub(crate) fn hkdf(
    suite: Suite,
    ikm: &[u8],
    salt: &[u8],
    info_parts: &[&[u8]],
    len: usize,
) -> Zeroizing<Vec<u8>> {
    Prk::extract(suite, ikm, salt).expand_info(info_parts, len)
}

/// HMAC over the concatenation of `parts` with the suite's hash: HMAC-SHA256 (AES suite) or
/// HMAC-SM3 (SM4 suite).
pub(crate) fn hmac(suite: Suite, key: &[u8], parts: &[&[u8]]) -> [u8; MAC_LEN] {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> [u8; MAC_LEN] {
        let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part);
        }
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }
    match suite {
        Suite::Aes256Gcm => run::<Hmac<Sha256>>(key, parts),
        Suite::Sm4Gcm => run::<Hmac<Sm3>>(key, parts),
    }
}

/// Whether `expected` is the [`hmac()`] of `parts`, compared in constant time.
pub(crate) fn hmac_verify(suite: Suite, key: &[u8], parts: &[&[u8]], expected: &[u8]) -> Choice {
    hmac(suite, key, parts).ct_eq(expected)
}

/// The nonce of frame `index`:
///
/// > nonce = 7 zero bytes || u32 frame index (big-endian) || final flag (0x01 last, 0x00 other)
pub(crate) fn frame_nonce(index: u32, last: bool) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[NONCE_INDEX_AT..NONCE_FLAG_AT].copy_from_slice(&index.to_be_bytes());
    nonce[NONCE_FLAG_AT] = if last { FLAG_FINAL } else { FLAG_NOT_FINAL };
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fixed inputs for the vectors below: data key 00 01 .. 1f, message id 20 21 .. 3f.
    fn inputs() -> (DataKey, [u8; MESSAGE_ID_LEN]) {
        let key: Vec<u8> = (0u8..32).collect();
        let id: [u8; 32] = core::array::from_fn(|i| 0x20 + i as u8);
        (DataKey::from_slice(&key).unwrap(), id)
    }

    fn derived(suite: Suite, label: &[u8], len: usize) -> String {
        let (key, id) = inputs();
        hex::encode(&*Prk::extract(suite, key.expose_secret(), &id).expand(label, len))
    }

    // The expected values were computed independently with OpenSSL 3.0's HKDF, e.g.
    //   openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:000102..1f \
    //     -kdfopt hexsalt:202122..3f -kdfopt hexinfo:<hex(label)>0001 HKDF
    // (digest:SM3 and suffix 0002 for the SM4 suite). They pin the format: never change them.
    #[test]
    fn aes_suite_key_schedule_vectors() {
        assert_eq!(
            derived(Suite::Aes256Gcm, LABEL_CONTENT_KEY, 32),
            VECTOR_AES_CONTENT
        );
        assert_eq!(
            derived(Suite::Aes256Gcm, LABEL_HEADER_KEY, 32),
            VECTOR_AES_HEADER
        );
        assert_eq!(
            derived(Suite::Aes256Gcm, LABEL_COMMITMENT, 32),
            VECTOR_AES_COMMIT
        );
    }

    #[test]
    fn sm4_suite_key_schedule_vectors() {
        assert_eq!(
            derived(Suite::Sm4Gcm, LABEL_CONTENT_KEY, 16),
            VECTOR_SM4_CONTENT
        );
        assert_eq!(
            derived(Suite::Sm4Gcm, LABEL_HEADER_KEY, 32),
            VECTOR_SM4_HEADER
        );
        assert_eq!(
            derived(Suite::Sm4Gcm, LABEL_COMMITMENT, 32),
            VECTOR_SM4_COMMIT
        );
    }

    // HMAC vectors computed with `openssl mac -digest SHA256|SM3 -macopt hexkey:<header key> HMAC`
    // over the 5 bytes "tkms!".
    #[test]
    fn header_tag_vectors() {
        let (key, id) = inputs();
        let aes = MessageKeys::derive(Suite::Aes256Gcm, &key, &id).unwrap();
        assert_eq!(hex::encode(aes.header_tag(b"tkms!")), VECTOR_AES_HMAC);
        assert_eq!(hex::encode(aes.commitment), VECTOR_AES_COMMIT);
        let sm4 = MessageKeys::derive(Suite::Sm4Gcm, &key, &id).unwrap();
        assert_eq!(hex::encode(sm4.header_tag(b"tkms!")), VECTOR_SM4_HMAC);
        assert_eq!(hex::encode(sm4.commitment), VECTOR_SM4_COMMIT);
    }

    #[test]
    fn labels_are_distinct_and_suite_bound() {
        let labels = [LABEL_CONTENT_KEY, LABEL_HEADER_KEY, LABEL_COMMITMENT];
        for (i, a) in labels.iter().enumerate() {
            for b in &labels[i + 1..] {
                assert_ne!(a, b);
                assert!(
                    !a.starts_with(b) && !b.starts_with(a),
                    "no label is a prefix of another"
                );
            }
        }
        assert_ne!(
            derived(Suite::Aes256Gcm, LABEL_HEADER_KEY, 32),
            derived(Suite::Sm4Gcm, LABEL_HEADER_KEY, 32)
        );
    }

    #[test]
    fn nonce_layout() {
        assert_eq!(
            hex::encode(frame_nonce(0, false)),
            "000000000000000000000000"
        );
        assert_eq!(
            hex::encode(frame_nonce(0, true)),
            "000000000000000000000001"
        );
        assert_eq!(
            hex::encode(frame_nonce(0x0102_0304, false)),
            "000000000000000102030400"
        );
        assert_eq!(
            hex::encode(frame_nonce(u32::MAX, true)),
            "00000000000000ffffffff01"
        );
    }

    #[test]
    fn verify_needs_both_commitment_and_tag() {
        let (key, id) = inputs();
        let keys = MessageKeys::derive(Suite::Aes256Gcm, &key, &id).unwrap();
        let tag = keys.header_tag(b"header");
        assert!(keys.verify(&keys.commitment, b"header", &tag));
        let mut bad_commit = keys.commitment;
        bad_commit[31] ^= 1;
        assert!(!keys.verify(&bad_commit, b"header", &tag));
        assert!(!keys.verify(&keys.commitment, b"headex", &tag));
    }

    const VECTOR_AES_CONTENT: &str =
        "6de3fe194e745bc51ed924459ec72b8311ba5ad678c20bd83300d444521acf11";
    const VECTOR_AES_HEADER: &str =
        "0e71488e9088aaf36d34c58b1f382b9b1a51e380c25de794992829bd77f4a69a";
    const VECTOR_AES_COMMIT: &str =
        "94a1d03ef77048358bbfb74d468ecfbd09d9d13a66c8ec146479229d7139d20d";
    const VECTOR_SM4_CONTENT: &str = "25ab58d8497e5a25c2327a42f3c1e463";
    const VECTOR_SM4_HEADER: &str =
        "a053801dd3742449329f25cd6c0f48abf8cdd6b92a45c8ce924b8d25f0f96b77";
    const VECTOR_SM4_COMMIT: &str =
        "866c8c660293c866a44cd408efd34b3f8588422f1070b8f4e85a77c4dc2ed223";
    const VECTOR_AES_HMAC: &str =
        "399f3e6563fab69e87841d024defedd20a46b61aaf878ada7e8fdfa6fd0cd49a";
    const VECTOR_SM4_HMAC: &str =
        "64800971c7c16518b1e6143acce40255dbe78d07cda8c56aa844595bb6f271b8";
}
