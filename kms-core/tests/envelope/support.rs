//! Test doubles and helpers: key wrappers under fixed AES-256-GCM keys (the real RSA, SM2 and
//! KMS wrappers are tested elsewhere), and an independent implementation of the key schedule
//! written from docs/envelope-format.md.

use std::io::{self, Read};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use kms_core::{DataKey, DecryptError, EncryptionContext, Suite, WrapError};

/// Wraps data keys with AES-256-GCM under a fixed key: `nonce (12) || ciphertext (32) || tag (16)`.
/// Like the real wrappers: [`TestKey::new`] stands for a public key (a fake fingerprint, no
/// context binding, as RSA and SM2 cannot bind one); [`TestKey::kms`] for a KMS CMK (addressed
/// by key id, binds the context's canonical bytes as AAD, and generates data keys like
/// GenerateDataKey).
pub(crate) struct TestKey {
    key: [u8; 32],
    key_ref: KeyRef,
    generates: bool,
}

impl TestKey {
    pub(crate) fn new(seed: u8) -> Self {
        Self {
            key: [seed; 32],
            key_ref: KeyRef::PublicKey {
                fingerprint: [seed ^ 0xA5; 32],
            },
            generates: false,
        }
    }

    pub(crate) fn kms(seed: u8) -> Self {
        Self {
            key: [seed; 32],
            key_ref: KeyRef::Kms {
                key_id: format!("test-key-{seed}"),
            },
            generates: true,
        }
    }

    fn method(&self) -> WrapMethod {
        match self.key_ref {
            KeyRef::Kms { .. } => WrapMethod::KmsSymmetric,
            _ => WrapMethod::RsaOaepSha256,
        }
    }

    fn aad(&self, context: &EncryptionContext) -> Vec<u8> {
        if self.generates {
            context.to_canonical_bytes().unwrap()
        } else {
            Vec::new()
        }
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.key).unwrap())
    }

    /// Wraps arbitrary key bytes (the commitment test wraps a second, different data key).
    pub(crate) fn wrap_bytes(&self, key: &[u8], context: &EncryptionContext) -> WrappedKey {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).unwrap();
        let mut buf = key.to_vec();
        let aad = self.aad(context);
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut buf,
            )
            .unwrap();
        let mut ciphertext = nonce.to_vec();
        ciphertext.extend_from_slice(&buf);
        WrappedKey {
            method: self.method(),
            key_ref: self.key_ref.clone(),
            ciphertext,
        }
    }
}

impl KeyWrapper for TestKey {
    fn wrap(
        &self,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<WrappedKey, WrapError> {
        Ok(self.wrap_bytes(data_key.expose_secret(), context))
    }

    fn unwrap(
        &self,
        wrapped: &WrappedKey,
        context: &EncryptionContext,
    ) -> Result<Option<DataKey>, WrapError> {
        if wrapped.key_ref != self.key_ref || wrapped.method != self.method() {
            return Ok(None);
        }
        if wrapped.ciphertext.len() < 12 + 16 {
            return Err(WrapError::Crypto);
        }
        let (nonce, rest) = wrapped.ciphertext.split_at(12);
        let mut buf = rest.to_vec();
        let aad = self.aad(context);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| WrapError::Crypto)?;
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::from(&aad), &mut buf)
            .map_err(|_| WrapError::Crypto)?;
        DataKey::from_slice(plain)
            .map(Some)
            .ok_or(WrapError::Crypto)
    }

    fn generate(
        &self,
        context: &EncryptionContext,
    ) -> Result<Option<(DataKey, WrappedKey)>, WrapError> {
        if !self.generates {
            return Ok(None);
        }
        let data_key = DataKey::generate();
        let wrapped = self.wrap(&data_key, context)?;
        Ok(Some((data_key, wrapped)))
    }

    fn key_ref(&self) -> KeyRef {
        self.key_ref.clone()
    }
}

/// A wrapper holding only a public key: it wraps, but refuses to unwrap what is addressed to it.
pub(crate) struct PublicOnly(pub(crate) TestKey);

impl KeyWrapper for PublicOnly {
    fn wrap(
        &self,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<WrappedKey, WrapError> {
        self.0.wrap(data_key, context)
    }
    fn unwrap(
        &self,
        wrapped: &WrappedKey,
        _: &EncryptionContext,
    ) -> Result<Option<DataKey>, WrapError> {
        if wrapped.key_ref == self.0.key_ref {
            Err(WrapError::NoPrivateKey)
        } else {
            Ok(None)
        }
    }
    fn key_ref(&self) -> KeyRef {
        self.0.key_ref()
    }
}

/// The decrypt error inside an `io::Error` from a `Decryptor` read.
pub(crate) fn inner(err: &io::Error) -> &DecryptError {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<DecryptError>())
        .unwrap_or_else(|| panic!("not a DecryptError: {err:?}"))
}

/// Reads everything a reader yields until its first error. Returns the bytes and the error.
pub(crate) fn read_until_error<R: Read>(
    mut reader: R,
    chunk: usize,
) -> (Vec<u8>, Option<io::Error>) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// A reader that returns at most `step` bytes per call (exercises short reads).
pub(crate) struct Trickle<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// A deterministic plaintext of `len` bytes.
pub(crate) fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

// --- An independent key schedule, written from docs/envelope-format.md ---

pub(crate) fn spec_expand(
    suite: Suite,
    data_key: &[u8],
    message_id: &[u8],
    label: &str,
    len: usize,
) -> Vec<u8> {
    let mut info = label.as_bytes().to_vec();
    info.extend_from_slice(&suite.id().to_be_bytes());
    let mut okm = vec![0u8; len];
    match suite {
        Suite::Aes256Gcm => hkdf::Hkdf::<sha2::Sha256>::new(Some(message_id), data_key)
            .expand(&info, &mut okm)
            .unwrap(),
        Suite::Sm4Gcm => hkdf::Hkdf::<sm3::Sm3>::new(Some(message_id), data_key)
            .expand(&info, &mut okm)
            .unwrap(),
        _ => unreachable!(),
    }
    okm
}

pub(crate) fn spec_hmac(suite: Suite, key: &[u8], bytes: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit, Mac};
    match suite {
        Suite::Aes256Gcm => {
            let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
            mac.update(bytes);
            mac.finalize().into_bytes().to_vec()
        }
        Suite::Sm4Gcm => {
            let mut mac = <hmac::Hmac<sm3::Sm3> as KeyInit>::new_from_slice(key).unwrap();
            mac.update(bytes);
            mac.finalize().into_bytes().to_vec()
        }
        _ => unreachable!(),
    }
}
