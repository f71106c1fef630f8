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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let key = DataKey::from_slice(&[0xAB; DATA_KEY_LEN]).unwrap();
        assert_eq!(format!("{key:?}"), "DataKey(..)");
        let bytes = SecretBytes::new(vec![0xAB; 4]);
        assert_eq!(format!("{bytes:?}"), "SecretBytes(..)");
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
}
