//! The CiphertextBlob of Encrypt, GenerateDataKey and PostQuantumCryptoEncrypt
//! (docs/ciphertext-blob.md).
//!
//! From the specification:
//! ```text
//! blob   = b64(header) "-k-" b64(nonce) "-k-" b64(ciphertext || tag)
//! header = magic "TKB" | format 0x01 | algorithm (1 = AES-256-GCM, 2 = SM4-GCM,
//!          3 = ML-KEM-768 + AES-256-GCM) | key id (36 ASCII bytes)
//!          | key version (u32 big-endian)                                    -- 45 bytes
//! AAD    = header || canonical encryption context (kms_core::EncryptionContext)
//! ```
//! For algorithm 3 the last chunk is the ML-KEM ciphertext (1088 bytes) followed by the GCM
//! ciphertext and tag, and the AAD is the header alone (PostQuantumCryptoEncrypt has no
//! context).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::material::{Algorithm, NONCE_LEN, TAG_LEN};

/// The blob magic.
const MAGIC: &[u8; 3] = b"TKB";
/// Format version 1.
const FORMAT_V1: u8 = 1;
/// Separator between the three base64 chunks (Tencent's shape).
const SEPARATOR: &str = "-k-";
/// Length of a KeyId.
pub(crate) const KEY_ID_LEN: usize = 36;
/// Length of the header.
pub(crate) const HEADER_LEN: usize = 3 + 1 + 1 + KEY_ID_LEN + 4;
/// Largest blob text we parse (4096 bytes of plaintext plus overhead, base64).
const MAX_BLOB_CHARS: usize = 8192;

const ALG_AES_256_GCM: u8 = 1;
const ALG_SM4_GCM: u8 = 2;
const ALG_ML_KEM_768_AES_256_GCM: u8 = 3;

/// A parsed blob. The header bytes are kept as received so the AAD is exactly what was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blob {
    pub(crate) header: [u8; HEADER_LEN],
    pub(crate) algorithm: Algorithm,
    pub(crate) key_id: String,
    pub(crate) version: u32,
    pub(crate) nonce: [u8; NONCE_LEN],
    pub(crate) sealed: Vec<u8>,
}

/// Builds a header.
pub(crate) fn header(algorithm: Algorithm, key_id: &str, version: u32) -> Option<[u8; HEADER_LEN]> {
    let alg = match algorithm {
        Algorithm::Aes256 => ALG_AES_256_GCM,
        Algorithm::Sm4 => ALG_SM4_GCM,
        Algorithm::MlKem768 => ALG_ML_KEM_768_AES_256_GCM,
        _ => return None,
    };
    if key_id.len() != KEY_ID_LEN {
        return None;
    }
    let mut out = [0u8; HEADER_LEN];
    out[..3].copy_from_slice(MAGIC);
    out[3] = FORMAT_V1;
    out[4] = alg;
    out[5..5 + KEY_ID_LEN].copy_from_slice(key_id.as_bytes());
    out[5 + KEY_ID_LEN..].copy_from_slice(&version.to_be_bytes());
    Some(out)
}

/// The AEAD associated data: header || canonical context.
pub(crate) fn aad(header: &[u8; HEADER_LEN], canonical_context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_LEN + canonical_context.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(canonical_context);
    aad
}

/// Renders a blob.
pub(crate) fn encode(header: &[u8; HEADER_LEN], nonce: &[u8; NONCE_LEN], sealed: &[u8]) -> String {
    format!(
        "{}{SEPARATOR}{}{SEPARATOR}{}",
        B64.encode(header),
        B64.encode(nonce),
        B64.encode(sealed)
    )
}

/// Parses a blob; `None` for anything that is not a well-formed version-1 blob.
pub(crate) fn parse(text: &str) -> Option<Blob> {
    if text.len() > MAX_BLOB_CHARS {
        return None;
    }
    let mut parts = text.split(SEPARATOR);
    let (h, n, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: [u8; HEADER_LEN] = B64.decode(h).ok()?.try_into().ok()?;
    let nonce: [u8; NONCE_LEN] = B64.decode(n).ok()?.try_into().ok()?;
    let sealed = B64.decode(c).ok()?;
    if sealed.len() < TAG_LEN || &header[..3] != MAGIC || header[3] != FORMAT_V1 {
        return None;
    }
    let algorithm = match header[4] {
        ALG_AES_256_GCM => Algorithm::Aes256,
        ALG_SM4_GCM => Algorithm::Sm4,
        ALG_ML_KEM_768_AES_256_GCM => Algorithm::MlKem768,
        _ => return None,
    };
    let key_id = core::str::from_utf8(&header[5..5 + KEY_ID_LEN])
        .ok()?
        .to_owned();
    if !crate::hsm::is_valid_key_id(&key_id) {
        return None;
    }
    let version = u32::from_be_bytes(header[5 + KEY_ID_LEN..].try_into().ok()?);
    if version == 0 {
        return None;
    }
    Some(Blob {
        header,
        algorithm,
        key_id,
        version,
        nonce,
        sealed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0e7f2f6e-9c1b-4c2d-8a8e-1f2a3b4c5d6e";

    #[test]
    fn round_trip() {
        let h = header(Algorithm::Sm4, ID, 7).unwrap();
        let text = encode(&h, &[1; 12], &[2; 20]);
        assert_eq!(text.matches("-k-").count(), 2);
        let blob = parse(&text).unwrap();
        assert_eq!(
            (blob.key_id.as_str(), blob.version, blob.algorithm),
            (ID, 7, Algorithm::Sm4)
        );
        assert_eq!(blob.sealed, vec![2; 20]);
    }

    #[test]
    fn rejects_malformed() {
        let h = header(Algorithm::Aes256, ID, 1).unwrap();
        let good = encode(&h, &[1; 12], &[2; 20]);
        assert!(parse(&good).is_some());
        for bad in [
            "",
            "abc",
            "a-k-b-k-c",
            &good.replacen("-k-", "-x-", 1),
            &format!("{good}-k-AAAA"),
            &good.replacen(&B64.encode([1u8; 12]), &B64.encode([1u8; 11]), 1),
            &encode(&h, &[1; 12], &[2; 15]),
            &encode(
                &header(Algorithm::Aes256, ID, 0).unwrap(),
                &[1; 12],
                &[2; 20],
            ),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        let mut bad_magic = h;
        bad_magic[0] = b'X';
        assert!(parse(&encode(&bad_magic, &[1; 12], &[2; 20])).is_none());
    }
}
