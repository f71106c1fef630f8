//! RSA-2048 OAEP-SHA256 wrapping with local keys.
//!
//! RSAES-OAEP (RFC 8017 §7.1) with SHA-256, MGF1-SHA-256 and an empty label, through aws-lc-rs,
//! whose private-key operations are constant time. (The `rsa` crate is never used for private
//! keys: RUSTSEC-2023-0071, Marvin.)

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use der::Encode as _;
use der::asn1::{AnyRef, BitStringRef, OctetStringRef};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use zeroize::Zeroizing;

use super::keys::{self, KeyDocument, PublicKeyId, RSA_ENCRYPTION};
use super::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use crate::context::EncryptionContext;
use crate::error::{FormatError, WrapError};
use crate::secret::{DATA_KEY_LEN, DataKey};

/// Shortest RSA modulus we accept, in bits.
pub const MIN_RSA_BITS: usize = 2048;

const TOO_SMALL: &str = "RSA keys shorter than 2048 bits are refused (use RSA-2048 or larger)";
const TOO_LARGE: &str = "RSA keys longer than 8192 bits are not supported";

/// Wraps data keys for an RSA public key with OAEP-SHA256; unwraps them too when it holds
/// the private key.
///
/// Wrapped keys name the key by the SHA-256 of its DER SubjectPublicKeyInfo.
pub struct RsaWrapper {
    public: PublicEncryptingKey,
    private: Option<PrivateDecryptingKey>,
    id: PublicKeyId,
}

impl core::fmt::Debug for RsaWrapper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaWrapper")
            .field("fingerprint", &hex::encode(self.id.fingerprint()))
            .field("bits", &self.public.key_size_bits())
            .field("has_private_key", &self.private.is_some())
            .finish()
    }
}

impl RsaWrapper {
    /// A wrapper that can only wrap, from a public key: PEM `PUBLIC KEY` (SPKI) or
    /// `RSA PUBLIC KEY` (PKCS#1), or the same structures as DER.
    pub fn from_public_key(input: &[u8]) -> Result<Self, WrapError> {
        let doc = keys::decode(input)?;
        match doc.label.as_deref() {
            Some("PUBLIC KEY") => Self::from_spki_der(&doc.der),
            Some("RSA PUBLIC KEY") => Self::from_spki_der(&pkcs1_public_to_spki(&doc.der)?),
            Some(_) => Err(FormatError::MalformedKey(
                "expected an RSA public key (PEM PUBLIC KEY or RSA PUBLIC KEY)",
            )
            .into()),
            None => Self::from_spki_der(&doc.der).or_else(|spki_err| {
                match pkcs1_public_to_spki(&doc.der) {
                    Ok(spki) => Self::from_spki_der(&spki),
                    Err(_) => Err(spki_err),
                }
            }),
        }
    }

    /// A wrapper that wraps and unwraps, from a private key: PEM `PRIVATE KEY` (PKCS#8) or
    /// `RSA PRIVATE KEY` (PKCS#1), or the same structures as DER.
    pub fn from_private_key(input: &[u8]) -> Result<Self, WrapError> {
        let doc = keys::decode(input)?;
        Self::from_private_document(&doc)
    }

    /// A wrapper from either a private or a public key, in any encoding the two
    /// constructors above take. With a public key it can only wrap.
    pub fn from_key(input: &[u8]) -> Result<Self, WrapError> {
        let doc = keys::decode(input)?;
        match doc.label.as_deref() {
            Some("PUBLIC KEY" | "RSA PUBLIC KEY") => Self::from_public_key(input),
            Some(_) => Self::from_private_document(&doc),
            // Not a private key of ours: maybe a public one. Other refusals (a key too small)
            // stand.
            None => match Self::from_private_document(&doc) {
                Err(WrapError::Format(_)) => Self::from_public_key(input),
                other => other,
            },
        }
    }

    /// A fresh RSA-2048 key pair.
    pub fn generate() -> Result<Self, WrapError> {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048)
            .map_err(|_| WrapError::Unsupported("RSA key generation failed"))?;
        Self::from_private(private)
    }

    /// A wrap-only wrapper from a DER SubjectPublicKeyInfo (e.g. a KMS GetPublicKey answer).
    pub(crate) fn from_spki_der(spki_der: &[u8]) -> Result<Self, WrapError> {
        let public = PublicEncryptingKey::from_der(spki_der).map_err(rejected)?;
        check_size(public.key_size_bits())?;
        Self::with_public(public, None)
    }

    fn from_private_document(doc: &KeyDocument) -> Result<Self, WrapError> {
        let pkcs8 = match doc.label.as_deref() {
            Some("PRIVATE KEY") => Zeroizing::new(doc.der.to_vec()),
            Some("RSA PRIVATE KEY") => pkcs1_private_to_pkcs8(&doc.der)?,
            Some(_) => {
                return Err(FormatError::MalformedKey(
                    "expected an RSA private key (PEM PRIVATE KEY or RSA PRIVATE KEY)",
                )
                .into());
            }
            None => match PrivateDecryptingKey::from_pkcs8(&doc.der) {
                Ok(private) => return Self::from_private(private),
                Err(err) if is_size_rejection(err) => return Err(rejected(err)),
                Err(_) => pkcs1_private_to_pkcs8(&doc.der)?,
            },
        };
        let private = PrivateDecryptingKey::from_pkcs8(&pkcs8).map_err(rejected)?;
        Self::from_private(private)
    }

    fn from_private(private: PrivateDecryptingKey) -> Result<Self, WrapError> {
        check_size(private.key_size_bits())?;
        Self::with_public(private.public_key(), Some(private))
    }

    fn with_public(
        public: PublicEncryptingKey,
        private: Option<PrivateDecryptingKey>,
    ) -> Result<Self, WrapError> {
        // Fingerprint the canonical re-encoding, so PKCS#1 and SPKI inputs of one key agree.
        let spki_der = public
            .as_der()
            .map_err(|_| WrapError::Unsupported("the RSA public key could not be encoded"))?
            .as_ref()
            .to_vec();
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
            .as_der()
            .map_err(|_| WrapError::Unsupported("the RSA private key could not be encoded"))?;
        keys::to_secret_pem("PRIVATE KEY", der.as_ref()).map(Some)
    }

    /// True when this wrapper holds the private key and can unwrap.
    pub fn can_unwrap(&self) -> bool {
        self.private.is_some()
    }

    /// RSA-OAEP-SHA256 encryption of the data key (a fresh random seed each time).
    pub(crate) fn encrypt_data_key(&self, data_key: &DataKey) -> Result<Vec<u8>, WrapError> {
        let key =
            OaepPublicEncryptingKey::new(self.public.clone()).map_err(|_| WrapError::Crypto)?;
        let mut out = vec![0u8; key.ciphertext_size()];
        let len = key
            .encrypt(
                &OAEP_SHA256_MGF1SHA256,
                data_key.expose_secret(),
                &mut out,
                None,
            )
            .map_err(|_| WrapError::Crypto)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    fn decrypt_data_key(
        &self,
        private: &PrivateDecryptingKey,
        ciphertext: &[u8],
    ) -> Result<DataKey, WrapError> {
        let key = OaepPrivateDecryptingKey::new(private.clone()).map_err(|_| WrapError::Crypto)?;
        if ciphertext.len() != key.key_size_bytes() {
            return Err(WrapError::Crypto);
        }
        let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
        let plaintext = key
            .decrypt(&OAEP_SHA256_MGF1SHA256, ciphertext, &mut out, None)
            .map_err(|_| WrapError::Crypto)?;
        DataKey::from_slice(plaintext).ok_or(WrapError::Crypto)
    }
}

impl KeyWrapper for RsaWrapper {
    fn wrap(
        &self,
        data_key: &DataKey,
        _context: &EncryptionContext,
    ) -> Result<WrappedKey, WrapError> {
        debug_assert_eq!(data_key.expose_secret().len(), DATA_KEY_LEN);
        Ok(WrappedKey {
            method: WrapMethod::RsaOaepSha256,
            key_ref: self.key_ref(),
            ciphertext: self.encrypt_data_key(data_key)?,
        })
    }

    fn unwrap(
        &self,
        wrapped: &WrappedKey,
        _context: &EncryptionContext,
    ) -> Result<Option<DataKey>, WrapError> {
        if !self.id.addresses(WrapMethod::RsaOaepSha256, wrapped) {
            return Ok(None);
        }
        let private = self.private.as_ref().ok_or(WrapError::NoPrivateKey)?;
        self.decrypt_data_key(private, &wrapped.ciphertext)
            .map(Some)
    }

    fn key_ref(&self) -> KeyRef {
        self.id.key_ref()
    }
}

fn check_size(bits: usize) -> Result<(), WrapError> {
    match bits {
        0..MIN_RSA_BITS => Err(WrapError::Unsupported(TOO_SMALL)),
        MIN_RSA_BITS..=8192 => Ok(()),
        _ => Err(WrapError::Unsupported(TOO_LARGE)),
    }
}

fn is_size_rejection(err: aws_lc_rs::error::KeyRejected) -> bool {
    matches!(err.description_(), "TooSmall" | "TooLarge")
}

fn rejected(err: aws_lc_rs::error::KeyRejected) -> WrapError {
    match err.description_() {
        "TooSmall" => WrapError::Unsupported(TOO_SMALL),
        "TooLarge" => WrapError::Unsupported(TOO_LARGE),
        _ => FormatError::MalformedKey("not a valid RSA key").into(),
    }
}

fn rsa_algorithm() -> AlgorithmIdentifierRef<'static> {
    AlgorithmIdentifierRef {
        oid: RSA_ENCRYPTION,
        parameters: Some(AnyRef::NULL),
    }
}

/// PKCS#1 RSAPublicKey → SubjectPublicKeyInfo (RFC 5280 §4.1.2.7, RFC 8017 Appendix A.1.1).
fn pkcs1_public_to_spki(pkcs1: &[u8]) -> Result<Vec<u8>, WrapError> {
    let bits = BitStringRef::from_bytes(pkcs1)
        .map_err(|_| FormatError::MalformedKey("not a valid RSA public key"))?;
    SubjectPublicKeyInfoRef {
        algorithm: rsa_algorithm(),
        subject_public_key: bits,
    }
    .to_der()
    .map_err(|_| FormatError::MalformedKey("not a valid RSA public key").into())
}

/// PKCS#1 RSAPrivateKey → PKCS#8 PrivateKeyInfo v1 (RFC 5208), zeroized.
fn pkcs1_private_to_pkcs8(pkcs1: &[u8]) -> Result<Zeroizing<Vec<u8>>, WrapError> {
    let octets = OctetStringRef::new(pkcs1)
        .map_err(|_| FormatError::MalformedKey("not a valid RSA private key"))?;
    pkcs8::PrivateKeyInfoRef::new(rsa_algorithm(), octets)
        .to_der()
        .map(Zeroizing::new)
        .map_err(|_| FormatError::MalformedKey("not a valid RSA private key").into())
}
