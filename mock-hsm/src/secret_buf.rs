//! A growable buffer for bytes that may be secret: request bodies, and responses carrying
//! plaintext, data keys or temporary credentials.
//!
//! `Vec` growth frees the old allocation without clearing it, leaving a copy behind. This buffer
//! grows by copying into a new zeroizing allocation and zeroizing the old one, so it can start
//! small instead of reserving for the largest answer.

use zeroize::Zeroizing;

pub(crate) struct SecretBuf(Zeroizing<Vec<u8>>);

impl SecretBuf {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self(Zeroizing::new(Vec::with_capacity(capacity)))
    }

    pub(crate) fn extend_from_slice(&mut self, bytes: &[u8]) {
        let needed = self.0.len() + bytes.len();
        if needed > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(needed.max(self.0.capacity() * 2)));
            bigger.extend_from_slice(&self.0);
            // The old allocation is zeroized as it drops.
            self.0 = bigger;
        }
        self.0.extend_from_slice(bytes);
    }

    pub(crate) fn into_inner(self) -> Zeroizing<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_past_its_capacity_and_keeps_every_byte() {
        let mut buf = SecretBuf::with_capacity(4);
        let mut expected = Vec::new();
        for i in 0..200u8 {
            buf.extend_from_slice(&[i; 3]);
            expected.extend_from_slice(&[i; 3]);
        }
        let bytes = buf.into_inner();
        assert_eq!(bytes.len(), 600);
        assert_eq!(&bytes[..], &expected[..]);
    }
}
