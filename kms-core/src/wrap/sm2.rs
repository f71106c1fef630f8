//! SM2 public-key encryption wrapping with local keys.
//!
//! SM2 encryption (GB/T 32918.4-2016) with SM3 on the recommended curve (GB/T 32918.5-2017),
//! through the RustCrypto `sm2` crate. Wrapped keys are C1C3C2 in ASN.1 DER
//! (GM/T 0009-2012 §7.2: `SEQUENCE { INTEGER x, INTEGER y, OCTET STRING C3, OCTET STRING C2 }`),
//! the form Tencent's AsymmetricSm2Decrypt and OpenSSL 3 `pkeyutl` use; unwrapping also takes
//! the raw concatenation `04 || X || Y || C3 || C2`.

use sm2::elliptic_curve::common::getrandom::SysRng;
use sm2::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
};
use sm2::pke::{DecryptingKey, EncryptingKey, Mode};
use sm2::{NonZeroScalar, PublicKey, Scalar, SecretKey};
use zeroize::Zeroizing;

use super::keys::{self, KeyDocument, PublicKeyId};
use super::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use crate::context::EncryptionContext;
use crate::error::{FormatError, WrapError};
use crate::secret::DataKey;

/// First byte of DER C1C3C2 (SEQUENCE) and of raw C1C3C2 (uncompressed point).
const DER_SEQUENCE: u8 = 0x30;
const UNCOMPRESSED_POINT: u8 = 0x04;

/// Wraps data keys for an SM2 public key; unwraps them too when it holds the private key.
///
/// Wrapped keys name the key by the SHA-256 of its DER SubjectPublicKeyInfo
/// (id-ecPublicKey with curve 1.2.156.10197.1.301).
pub struct Sm2Wrapper {
    public: PublicKey,
    private: Option<PrivateKey>,
    id: PublicKeyId,
}

/// The private half: the zeroizing `SecretKey` (for export) and the crate's decrypting key,
/// which is scrubbed on drop because the `sm2` crate does not zeroize it.
struct PrivateKey {
    secret: SecretKey,
    decrypting: DecryptingKey,
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        // Overwrite the scalar in place with the scalar 1; black_box keeps the store.
        let one: Option<NonZeroScalar> = NonZeroScalar::new(Scalar::ONE).into();
        if let Some(one) = one {
            self.decrypting = DecryptingKey::new_with_mode(one, Mode::C1C3C2);
            core::hint::black_box(&self.decrypting);
        }
    }
}

impl core::fmt::Debug for Sm2Wrapper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sm2Wrapper")
            .field("fingerprint", &hex::encode(self.id.fingerprint()))
            .field("has_private_key", &self.private.is_some())
            .finish()
    }
}

impl Sm2Wrapper {
    /// A wrapper that can only wrap, from a public key: PEM `PUBLIC KEY` or DER
    /// SubjectPublicKeyInfo (what `openssl pkey -pubout` and KMS GetPublicKey give).
    pub fn from_public_key(input: &[u8]) -> Result<Self, WrapError> {
        let doc = keys::decode(input)?;
        match doc.label.as_deref() {
            Some("PUBLIC KEY") | None => Self::from_spki_der(&doc.der),
            Some(_) => {
                Err(FormatError::MalformedKey("expected an SM2 public key (PEM PUBLIC KEY)").into())
            }
        }
    }

    /// A wrapper that wraps and unwraps, from a private key: PEM `PRIVATE KEY` (PKCS#8, what
    /// `openssl genpkey -algorithm SM2` writes), `EC PRIVATE KEY` / `SM2 PRIVATE KEY`
    /// (SEC1), or the same structures as DER.
    pub fn from_private_key(input: &[u8]) -> Result<Self, WrapError> {
        let doc = keys::decode(input)?;
        Self::from_private_document(&doc)
    }

    /// A wrapper from either a private or a public key, in any encoding the two
    /// constructors above take. With a public key it can only wrap.
    pub fn from_key(input: &[u8]) -> Result<Self, WrapError> {
        let doc = keys::decode(input)?;
        match doc.label.as_deref() {
            Some("PUBLIC KEY") => Self::from_spki_der(&doc.der),
            Some(_) => Self::from_private_document(&doc),
            // Not a private key of ours: maybe a public one. Other refusals (a key too small)
            // stand.
            None => match Self::from_private_document(&doc) {
                Err(WrapError::Format(_)) => Self::from_spki_der(&doc.der),
                other => other,
            },
        }
    }

    /// A fresh SM2 key pair from the OS CSPRNG.
    pub fn generate() -> Result<Self, WrapError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        loop {
            getrandom::fill(&mut bytes[..])
                .map_err(|_| WrapError::Unsupported("the OS random generator failed"))?;
            // Rejection sampling: about one draw in 2^32 is out of range.
            if let Ok(secret) = SecretKey::from_slice(&bytes[..]) {
                return Self::from_secret(secret);
            }
        }
    }

    /// A wrapper from a raw 32-byte private scalar (big-endian), e.g. a GB/T 32918 example key.
    pub fn from_private_scalar(scalar: &[u8]) -> Result<Self, WrapError> {
        let secret = SecretKey::from_slice(scalar).map_err(|_| {
            FormatError::MalformedKey("an SM2 private key is a scalar in [1, n-1] of 32 bytes")
        })?;
        Self::from_secret(secret)
    }

    /// A wrap-only wrapper from a DER SubjectPublicKeyInfo (e.g. a KMS GetPublicKey answer).
    pub(crate) fn from_spki_der(spki_der: &[u8]) -> Result<Self, WrapError> {
        let public = PublicKey::from_public_key_der(spki_der).map_err(|_| {
            FormatError::MalformedKey("not an SM2 public key (SPKI with curve 1.2.156.10197.1.301)")
        })?;
        Self::with_public(public, None)
    }

    fn from_private_document(doc: &KeyDocument) -> Result<Self, WrapError> {
        let invalid = || {
            FormatError::MalformedKey(
                "not an SM2 private key (PKCS#8 or SEC1 on curve 1.2.156.10197.1.301)",
            )
        };
        let secret = match doc.label.as_deref() {
            Some("PRIVATE KEY") => SecretKey::from_pkcs8_der(&doc.der).map_err(|_| invalid())?,
            Some("EC PRIVATE KEY" | "SM2 PRIVATE KEY") => {
                SecretKey::from_sec1_der(&doc.der).map_err(|_| invalid())?
            }
            Some(_) => {
                return Err(FormatError::MalformedKey(
                    "expected an SM2 private key (PEM PRIVATE KEY)",
                )
                .into());
            }
            None => SecretKey::from_pkcs8_der(&doc.der)
                .or_else(|_| SecretKey::from_sec1_der(&doc.der))
                .map_err(|_| invalid())?,
        };
        Self::from_secret(secret)
    }

    fn from_secret(secret: SecretKey) -> Result<Self, WrapError> {
        let decrypting = DecryptingKey::new_with_mode(secret.to_nonzero_scalar(), Mode::C1C3C2);
        Self::with_public(secret.public_key(), Some(PrivateKey { secret, decrypting }))
    }

    fn with_public(public: PublicKey, private: Option<PrivateKey>) -> Result<Self, WrapError> {
        let spki_der = public
            .to_public_key_der()
            .map_err(|_| WrapError::Unsupported("the SM2 public key could not be encoded"))?
            .into_vec();
        Ok(Self {
            public,
            private,
            id: PublicKeyId::new(spki_der),
        })
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo: how envelopes name this key.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.id.fingerprint()
    }

    /// The public key as DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        self.id.spki_der()
    }

    /// The public key as an uncompressed SEC1 point `04 || X || Y`.
    pub fn public_key_sec1(&self) -> Vec<u8> {
        self.public.to_sec1_bytes().into_vec()
    }

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_key_pem(&self) -> Result<String, WrapError> {
        self.id.to_pem()
    }

    /// The private key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), when this
    /// wrapper holds one. Secret: write it only to a protected file.
    pub fn private_key_pem(&self) -> Result<Option<Zeroizing<String>>, WrapError> {
        let Some(private) = &self.private else {
            return Ok(None);
        };
        let der = private
            .secret
            .to_pkcs8_der()
            .map_err(|_| WrapError::Unsupported("the SM2 private key could not be encoded"))?;
        keys::to_secret_pem("PRIVATE KEY", der.as_bytes()).map(Some)
    }

    /// True when this wrapper holds the private key and can unwrap.
    pub fn can_unwrap(&self) -> bool {
        self.private.is_some()
    }

    /// SM2 encryption of the data key, C1C3C2 DER (a fresh random k each time).
    pub(crate) fn encrypt_data_key(&self, data_key: &DataKey) -> Result<Vec<u8>, WrapError> {
        EncryptingKey::new_with_mode(self.public, Mode::C1C3C2)
            .encrypt_der(&mut SysRng, data_key.expose_secret())
            .map_err(|_| WrapError::Crypto)
    }
}

/// Decrypts C1C3C2 in DER or raw form with `key`. Every failure is the opaque `Crypto`.
pub(crate) fn decrypt_c1c3c2(
    key: &DecryptingKey,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, WrapError> {
    let plaintext = match ciphertext.first() {
        Some(&DER_SEQUENCE) => key.decrypt_der(ciphertext),
        Some(&UNCOMPRESSED_POINT) => key.decrypt(ciphertext),
        _ => return Err(WrapError::Crypto),
    };
    plaintext.map(Zeroizing::new).map_err(|_| WrapError::Crypto)
}

impl KeyWrapper for Sm2Wrapper {
    fn wrap(
        &self,
        data_key: &DataKey,
        _context: &EncryptionContext,
    ) -> Result<WrappedKey, WrapError> {
        Ok(WrappedKey {
            method: WrapMethod::Sm2,
            key_ref: self.key_ref(),
            ciphertext: self.encrypt_data_key(data_key)?,
        })
    }

    fn unwrap(
        &self,
        wrapped: &WrappedKey,
        _context: &EncryptionContext,
    ) -> Result<Option<DataKey>, WrapError> {
        if !self.id.addresses(WrapMethod::Sm2, wrapped) {
            return Ok(None);
        }
        let private = self.private.as_ref().ok_or(WrapError::NoPrivateKey)?;
        let plaintext = decrypt_c1c3c2(&private.decrypting, &wrapped.ciphertext)?;
        DataKey::from_slice(&plaintext)
            .map(Some)
            .ok_or(WrapError::Crypto)
    }

    fn key_ref(&self) -> KeyRef {
        self.id.key_ref()
    }
}
