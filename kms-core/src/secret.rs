//! Secret byte containers: zeroized on drop, never shown in `Debug`, no `Clone`.

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length in bytes of every envelope data key (both suites derive their content keys from it).
pub const DATA_KEY_LEN: usize = 32;

/// A plaintext data key: the secret that an envelope's wrapped keys protect.
///
/// Zeroized on drop; `Debug` prints `DataKey(..)`; read it only through [`DataKey::expose_secret`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DataKey(Box<[u8; DATA_KEY_LEN]>);

impl DataKey {
    /// A fresh random data key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut key = Box::new([0u8; DATA_KEY_LEN]);
        getrandom::fill(&mut key[..]).expect("the OS CSPRNG failed");
        Self(key)
    }

    /// Takes a data key from bytes that a KMS or an unwrap produced.
    /// Returns `None` unless `bytes` is exactly [`DATA_KEY_LEN`] long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; DATA_KEY_LEN] = bytes.try_into().ok()?;
        let mut key = Box::new([0u8; DATA_KEY_LEN]);
        key.copy_from_slice(&array);
        let mut array = array;
        array.zeroize();
        Some(Self(key))
    }

    /// The key bytes. Keep the borrow short and never log or print it.
    pub fn expose_secret(&self) -> &[u8; DATA_KEY_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// Secret bytes of any length (a KMS plaintext, a decoded key, a decrypted buffer).
///
/// Zeroized on drop; `Debug` prints `SecretBytes(..)`.
#[derive(Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps bytes that are already secret; they are zeroized when this value drops.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret bytes. Keep the borrow short and never log or print it.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Moves the bytes out into a zeroizing buffer.
    pub fn into_zeroizing(mut self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(core::mem::take(&mut self.0))
    }
}

impl From<Zeroizing<Vec<u8>>> for SecretBytes {
    fn from(mut bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(core::mem::take(&mut *bytes))
    }
}

impl core::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretBytes(..)")
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
    fn debug_never_shows_bytes() {
        let key = DataKey::from_slice(&[0xAB; DATA_KEY_LEN]).unwrap();
        assert_eq!(format!("{key:?}"), "DataKey(..)");
        let bytes = SecretBytes::new(vec![0xAB; 4]);
        assert_eq!(format!("{bytes:?}"), "SecretBytes(..)");
        assert_eq!(
            format!("{:?}", SecretBuf::with_capacity(4)),
            "SecretBuf(..)"
        );
    }

    #[test]
    fn from_slice_requires_exact_length() {
        assert!(DataKey::from_slice(&[0; 31]).is_none());
        assert!(DataKey::from_slice(&[0; 33]).is_none());
        assert_eq!(
            DataKey::from_slice(&[7; 32]).unwrap().expose_secret(),
            &[7; 32]
        );
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            DataKey::generate().expose_secret(),
            DataKey::generate().expose_secret()
        );
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
}
