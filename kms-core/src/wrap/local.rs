//! A local key of either algorithm, recognised from the key file itself.
//!
//! `tkms` takes `--recipient pub.pem` and `--identity key.pem` without saying whether the key
//! is RSA or SM2; [`LocalWrapper`] reads the PEM label or the DER algorithm identifier
//! (rsaEncryption, or id-ecPublicKey for SM2) and builds the matching wrapper.

use der::Decode as _;

use super::keys::{self, ID_EC_PUBLIC_KEY, KeyDocument, RSA_ENCRYPTION};
use super::rsa::RsaWrapper;
use super::sm2::Sm2Wrapper;
use super::{KeyWrapper, WrapMethod};
use crate::error::{FormatError, WrapError};

const UNKNOWN_KEY: &str = "not an RSA or SM2 key (PEM/DER SPKI, PKCS#8, PKCS#1 or SEC1)";

/// An RSA or SM2 local key wrapper.
#[derive(Debug)]
#[non_exhaustive]
pub enum LocalWrapper {
    /// RSA-2048+ with OAEP-SHA256.
    Rsa(RsaWrapper),
    /// SM2 public-key encryption.
    Sm2(Sm2Wrapper),
}

#[derive(Clone, Copy)]
enum Algorithm {
    Rsa,
    Sm2,
}

impl LocalWrapper {
    /// A wrap-only wrapper from a public key of either algorithm.
    pub fn from_public_key(input: &[u8]) -> Result<Self, WrapError> {
        match detect(&keys::decode(input)?)? {
            Algorithm::Rsa => RsaWrapper::from_public_key(input).map(Self::Rsa),
            Algorithm::Sm2 => Sm2Wrapper::from_public_key(input).map(Self::Sm2),
        }
    }

    /// A wrapper that also unwraps, from a private key of either algorithm.
    pub fn from_private_key(input: &[u8]) -> Result<Self, WrapError> {
        match detect(&keys::decode(input)?)? {
            Algorithm::Rsa => RsaWrapper::from_private_key(input).map(Self::Rsa),
            Algorithm::Sm2 => Sm2Wrapper::from_private_key(input).map(Self::Sm2),
        }
    }

    /// A wrapper from a public or private key of either algorithm.
    pub fn from_key(input: &[u8]) -> Result<Self, WrapError> {
        match detect(&keys::decode(input)?)? {
            Algorithm::Rsa => RsaWrapper::from_key(input).map(Self::Rsa),
            Algorithm::Sm2 => Sm2Wrapper::from_key(input).map(Self::Sm2),
        }
    }

    /// True for an SM2 key (so a national-standard-only setup can default to SM4-GCM).
    pub fn is_sm2(&self) -> bool {
        matches!(self, Self::Sm2(_))
    }

    /// The wrapping method this key produces.
    pub fn method(&self) -> WrapMethod {
        match self {
            Self::Rsa(_) => WrapMethod::RsaOaepSha256,
            Self::Sm2(_) => WrapMethod::Sm2,
        }
    }

    /// True when the private key is held and this wrapper can unwrap.
    pub fn can_unwrap(&self) -> bool {
        match self {
            Self::Rsa(w) => w.can_unwrap(),
            Self::Sm2(w) => w.can_unwrap(),
        }
    }

    fn inner(&self) -> &dyn KeyWrapper {
        match self {
            Self::Rsa(w) => w,
            Self::Sm2(w) => w,
        }
    }
}

forward_key_wrapper!(LocalWrapper);

/// The key's algorithm, from its PEM label or its DER algorithm identifier.
fn detect(doc: &KeyDocument) -> Result<Algorithm, WrapError> {
    match doc.label.as_deref() {
        Some("RSA PUBLIC KEY" | "RSA PRIVATE KEY") => return Ok(Algorithm::Rsa),
        Some("EC PRIVATE KEY" | "SM2 PRIVATE KEY") => return Ok(Algorithm::Sm2),
        _ => {}
    }
    let oid = spki::SubjectPublicKeyInfoRef::from_der(&doc.der)
        .map(|spki| spki.algorithm.oid)
        .or_else(|_| pkcs8::PrivateKeyInfoRef::from_der(&doc.der).map(|info| info.algorithm.oid));
    match oid {
        Ok(RSA_ENCRYPTION) => Ok(Algorithm::Rsa),
        Ok(ID_EC_PUBLIC_KEY) => Ok(Algorithm::Sm2),
        Ok(_) => Err(WrapError::Unsupported(
            "only RSA (2048 bits or more) and SM2 keys can wrap data keys",
        )),
        // Unlabelled DER: PKCS#1 or SEC1; let each parser say whether the bytes are its own.
        Err(_) if doc.label.is_none() => {
            // A too-small RSA key is still RSA: let the RSA loader give its clear refusal.
            if matches!(
                RsaWrapper::from_key(&doc.der),
                Ok(_) | Err(WrapError::Unsupported(_))
            ) {
                Ok(Algorithm::Rsa)
            } else if Sm2Wrapper::from_key(&doc.der).is_ok() {
                Ok(Algorithm::Sm2)
            } else {
                Err(FormatError::MalformedKey(UNKNOWN_KEY).into())
            }
        }
        Err(_) => Err(FormatError::MalformedKey(UNKNOWN_KEY).into()),
    }
}
