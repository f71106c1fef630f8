//! PEM/DER key decoding shared by the RSA and SM2 wrappers.
//!
//! Keys arrive as files: PEM (RFC 7468, possibly with other blocks such as `EC PARAMETERS`
//! before the key) or raw DER. Decoded bytes of private keys are zeroized.

use sha2::{Digest as _, Sha256};
use spki::ObjectIdentifier;
use zeroize::Zeroizing;

use super::{KeyRef, WrapMethod, WrappedKey};
use crate::error::{FormatError, WrapError};

/// One decoded key document: its PEM label (`None` for raw DER) and its DER bytes.
pub(crate) struct KeyDocument {
    pub(crate) label: Option<String>,
    pub(crate) der: Zeroizing<Vec<u8>>,
}

/// rsaEncryption (RFC 8017 Appendix A.1): the algorithm of RSA SPKI and PKCS#8 keys.
pub(crate) const RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (RFC 5480): the algorithm of SM2 SPKI and PKCS#8 keys (curve in parameters).
pub(crate) const ID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// PEM labels of private-key documents that we refuse with a specific hint.
const ENCRYPTED_PRIVATE_KEY: &str = "ENCRYPTED PRIVATE KEY";

/// Decodes `input` as PEM (first block that is not parameters) or, failing the PEM marker,
/// takes it as DER.
pub(crate) fn decode(input: &[u8]) -> Result<KeyDocument, WrapError> {
    if !input.trim_ascii_start().starts_with(b"-----BEGIN ") {
        if input.is_empty() {
            return Err(FormatError::MalformedKey("the key file is empty").into());
        }
        return Ok(KeyDocument {
            label: None,
            der: Zeroizing::new(input.to_vec()),
        });
    }
    let text = std::str::from_utf8(input)
        .map_err(|_| FormatError::MalformedKey("PEM key is not ASCII text"))?;
    for block in pem_blocks(text) {
        let (label, der) = der::pem::decode_vec(block.as_bytes()).map_err(|_| {
            FormatError::MalformedKey("PEM block is not valid base64 between BEGIN/END lines")
        })?;
        let der = Zeroizing::new(der);
        if label.ends_with("PARAMETERS") {
            continue;
        }
        if label == ENCRYPTED_PRIVATE_KEY {
            return Err(WrapError::Unsupported(
                "password-protected private keys are not supported: decrypt it first (openssl pkey -in key.pem -out plain.pem)",
            ));
        }
        return Ok(KeyDocument {
            label: Some(label.to_owned()),
            der,
        });
    }
    Err(FormatError::MalformedKey("the PEM input holds no key block").into())
}

/// The `-----BEGIN X----- ... -----END X-----` blocks of a PEM text, in order.
fn pem_blocks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    core::iter::from_fn(move || {
        let start = rest.find("-----BEGIN ")?;
        let after_begin = &rest[start..];
        let end_marker = after_begin.find("-----END ")?;
        let after_end = &after_begin[end_marker + "-----END ".len()..];
        let close = after_end.find("-----")? + "-----".len();
        let block_len = end_marker + "-----END ".len() + close;
        let block = &after_begin[..block_len];
        rest = &after_begin[block_len..];
        Some(block)
    })
}

/// A local public key as envelopes address it: its DER SubjectPublicKeyInfo and the SHA-256 of
/// that DER (its fingerprint), shared by the RSA and SM2 wrappers.
pub(crate) struct PublicKeyId {
    spki_der: Vec<u8>,
    fingerprint: [u8; 32],
}

impl PublicKeyId {
    /// `spki_der` should be the canonical re-encoding, so every input form of one key agrees.
    pub(crate) fn new(spki_der: Vec<u8>) -> Self {
        let fingerprint = Sha256::digest(&spki_der).into();
        Self {
            spki_der,
            fingerprint,
        }
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo.
    pub(crate) fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// The DER SubjectPublicKeyInfo.
    pub(crate) fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`).
    pub(crate) fn to_pem(&self) -> Result<String, WrapError> {
        to_pem("PUBLIC KEY", &self.spki_der)
    }

    /// How wrapped keys name this key.
    pub(crate) fn key_ref(&self) -> KeyRef {
        KeyRef::PublicKey {
            fingerprint: self.fingerprint,
        }
    }

    /// True when `wrapped` was made by `method` for this key.
    pub(crate) fn addresses(&self, method: WrapMethod, wrapped: &WrappedKey) -> bool {
        wrapped.method == method
            && matches!(&wrapped.key_ref, KeyRef::PublicKey { fingerprint } if *fingerprint == self.fingerprint)
    }
}

/// PEM with 64-character lines and LF endings.
pub(crate) fn to_pem(label: &str, der: &[u8]) -> Result<String, WrapError> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .map_err(|_| WrapError::Unsupported("the key could not be PEM-encoded"))
}

/// A private key in PEM, zeroized on drop.
pub(crate) fn to_secret_pem(label: &str, der: &[u8]) -> Result<Zeroizing<String>, WrapError> {
    to_pem(label, der).map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_parameter_blocks_and_finds_the_key() {
        let pem = "-----BEGIN EC PARAMETERS-----\nBggqgRzPVQGCLQ==\n-----END EC PARAMETERS-----\n\
                   -----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----\n";
        let doc = decode(pem.as_bytes()).unwrap();
        assert_eq!(doc.label.as_deref(), Some("PUBLIC KEY"));
        assert_eq!(doc.der.as_slice(), &[0, 1, 2]);
    }

    #[test]
    fn raw_der_passes_through_and_empty_is_refused() {
        let doc = decode(&[0x30, 0x00]).unwrap();
        assert!(doc.label.is_none());
        assert!(decode(b"").is_err());
        assert!(decode(b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n").is_err());
    }

    #[test]
    fn crlf_line_endings_are_accepted() {
        let pem = "-----BEGIN PUBLIC KEY-----\r\nAAEC\r\n-----END PUBLIC KEY-----\r\n";
        assert_eq!(decode(pem.as_bytes()).unwrap().der.as_slice(), &[0, 1, 2]);
    }

    #[test]
    fn encrypted_keys_get_a_hint() {
        let pem =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAEC\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = decode(pem.as_bytes()).err().unwrap();
        assert!(err.to_string().contains("password-protected"));
    }
}
