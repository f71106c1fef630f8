//! Building blocks mock-hsm shares with this crate; not part of kms-core's API. Public only
//! with the non-default `internal` feature, which only mock-hsm enables: they live here, not
//! in mock-hsm, because kms-core's KMS client uses the same buffers, and [`AeadKey`] is the
//! crate's own suite cipher (one AES-256-GCM/SM4-GCM implementation for envelopes and mock).

use zeroize::{Zeroize as _, Zeroizing};

use crate::aead::{Cipher, NONCE_LEN, Sm4Refused, TAG_LEN};
use crate::suite::Suite;

/// A suite key that seals whole small messages: `ciphertext || tag` out, under a 12-byte nonce
/// the caller makes unique. For services built on kms-core (the mock HSM seals CiphertextBlobs
/// and stored key material with it); envelopes and TDE use the frame-level cipher inside the
/// crate. The key schedule is computed once, and zeroized on drop.
pub struct AeadKey(Cipher);

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AeadKey(..)")
    }
}

impl AeadKey {
    /// Bytes in a nonce.
    pub const NONCE_LEN: usize = NONCE_LEN;
    /// Bytes in the tag that ends every sealed message.
    pub const TAG_LEN: usize = TAG_LEN;

    /// A key of `suite`; `Ok(None)` when `key` is not the suite's key length (32 bytes for
    /// AES-256-GCM, 16 for SM4-GCM), `Err` when SM4 is refused in this process.
    pub fn new(suite: Suite, key: &[u8]) -> Result<Option<Self>, Sm4Refused> {
        if key.len() != suite.content_key_len() {
            return Ok(None);
        }
        Ok(Some(Self(Cipher::new(suite, key)?)))
    }

    /// Seals `plaintext`, authenticating `aad` too; returns `ciphertext || tag`.
    ///
    /// # Panics
    ///
    /// If `plaintext` is longer than GCM allows (about 64 GiB).
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        // Room for the tag up front: growing the Vec would leave a plaintext copy behind.
        let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        out.extend_from_slice(plaintext);
        let tag = self.0.seal_in_place(nonce, aad, &mut out);
        out.extend_from_slice(&tag);
        out
    }

    /// Opens `ciphertext || tag` sealed by [`AeadKey::seal`]; `None` when it does not
    /// authenticate (nothing of the plaintext is returned then).
    pub fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let split = sealed.len().checked_sub(TAG_LEN)?;
        let (ciphertext, tag) = sealed.split_at(split);
        let tag: &[u8; TAG_LEN] = tag.try_into().ok()?;
        let mut out = Zeroizing::new(ciphertext.to_vec());
        self.0.open_in_place(nonce, aad, &mut out, tag).ok()?;
        Some(out)
    }
}

/// A growable buffer for bytes that may be secret: request and response bodies carrying
/// plaintext, data keys or credentials.
///
/// `Vec` growth frees the old allocation without clearing it, leaving a copy behind. This buffer
/// grows by copying into a new zeroizing allocation and zeroizing the old one, so it can start
/// small; `Debug` prints `SecretBuf(..)`.
pub struct SecretBuf(Zeroizing<Vec<u8>>);

impl SecretBuf {
    /// An empty buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Zeroizing::new(Vec::with_capacity(capacity)))
    }

    /// `value` as JSON, written into a buffer like this one.
    pub fn json(value: &impl serde::Serialize) -> serde_json::Result<Zeroizing<Vec<u8>>> {
        let mut out = Self::with_capacity(512);
        serde_json::to_writer(&mut out, value)?;
        Ok(out.into_zeroizing())
    }

    /// Appends `bytes`.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let needed = self.0.len() + bytes.len();
        if needed > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(needed.max(self.0.capacity() * 2)));
            bigger.extend_from_slice(&self.0);
            // The old allocation is zeroized as it drops.
            self.0 = bigger;
        }
        self.0.extend_from_slice(bytes);
    }

    /// The bytes, still zeroized on drop.
    pub fn into_zeroizing(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

impl std::io::Write for SecretBuf {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl core::fmt::Debug for SecretBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretBuf(..)")
    }
}

/// Zeroizes every string in a JSON value, before it drops: KMS parameters and answers carry
/// plaintext and data keys as base64 strings.
pub fn zeroize_json_strings(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(zeroize_json_strings),
        Value::Object(map) => map.values_mut().for_each(zeroize_json_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aead_key_seals_whole_messages_and_refuses_wrong_keys_and_tampering() {
        for suite in [Suite::Aes256Gcm, Suite::Sm4Gcm] {
            let len = suite.content_key_len();
            assert!(AeadKey::new(suite, &vec![7u8; len - 1]).unwrap().is_none());
            assert!(AeadKey::new(suite, &vec![7u8; len + 1]).unwrap().is_none());
            let key = AeadKey::new(suite, &vec![7u8; len]).unwrap().unwrap();
            let nonce = [3u8; NONCE_LEN];
            let sealed = key.seal(&nonce, b"aad", b"message");
            assert_eq!(sealed.len(), b"message".len() + TAG_LEN);
            // The same bytes as the frame-level cipher: ciphertext then tag.
            let mut frame = b"message".to_vec();
            let tag = Cipher::new(suite, &vec![7u8; len])
                .unwrap()
                .seal_in_place(&nonce, b"aad", &mut frame);
            assert_eq!(&sealed[..], &[&frame[..], &tag[..]].concat()[..]);
            assert_eq!(&key.open(&nonce, b"aad", &sealed).unwrap()[..], b"message");
            assert!(key.open(&nonce, b"other", &sealed).is_none());
            for i in 0..sealed.len() {
                let mut bad = sealed.clone();
                bad[i] ^= 0x80;
                assert!(
                    key.open(&nonce, b"aad", &bad).is_none(),
                    "{suite:?} byte {i}"
                );
            }
            assert!(key.open(&nonce, b"aad", &sealed[..TAG_LEN - 1]).is_none());
            assert_eq!(
                &key.open(&nonce, b"", &key.seal(&nonce, b"", b"")).unwrap()[..],
                b""
            );
        }
    }

    #[test]
    fn secret_buf_grows_past_its_capacity_and_keeps_every_byte() {
        let mut buf = SecretBuf::with_capacity(4);
        let mut expected = Vec::new();
        for i in 0..200u8 {
            buf.extend_from_slice(&[i; 3]);
            expected.extend_from_slice(&[i; 3]);
        }
        assert_eq!(&buf.into_zeroizing()[..], &expected[..]);
        let long = "x".repeat(2000);
        let json = SecretBuf::json(&serde_json::json!({"Plaintext": long})).unwrap();
        assert_eq!(&json[..], format!(r#"{{"Plaintext":"{long}"}}"#).as_bytes());
    }

    #[test]
    fn json_strings_are_zeroized_at_every_depth() {
        let mut value = serde_json::json!({"a": "secret", "b": ["x", {"c": "y"}], "n": 1});
        zeroize_json_strings(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"a": "", "b": ["", {"c": ""}], "n": 1})
        );
    }

    #[test]
    fn debug_never_shows_bytes() {
        assert_eq!(
            format!("{:?}", SecretBuf::with_capacity(4)),
            "SecretBuf(..)"
        );
        let key = AeadKey::new(Suite::Sm4Gcm, &[1; 16]).unwrap().unwrap();
        assert_eq!(format!("{key:?}"), "AeadKey(..)");
    }
}
