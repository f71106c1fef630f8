//! What the mock's white-box keys do instead of Tencent's proprietary tables
//! (docs/whitebox.md): CBC with PKCS#7 padding over AES-256 (aws-lc-rs) or SM4 (tkms-sm4's
//! constant-time kernels), and the documented encoding of the EncryptKey and DecryptKey it
//! hands out.

use aws_lc_rs::cipher::{AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use zeroize::Zeroizing;

use crate::material::{Algorithm, CryptoFailure};

/// Block and IV length of both ciphers.
pub(crate) const IV_LEN: usize = 16;

/// The first bytes of every encoded key ("TKWB").
const MAGIC: &[u8; 4] = b"TKWB";
/// The encoding's version.
const VERSION: u8 = 1;
/// The only mode: CBC with PKCS#7 padding.
const MODE_CBC_PKCS7: u8 = 1;

/// Which half of a white-box key pair an encoding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Encrypt,
    Decrypt,
}

/// Raw key length of a white-box algorithm; `None` for algorithms white-box keys do not use.
pub(crate) fn key_len(algorithm: Algorithm) -> Option<usize> {
    match algorithm {
        Algorithm::Aes256 => Some(32),
        Algorithm::Sm4 => Some(16),
        _ => None,
    }
}

fn algorithm_code(algorithm: Algorithm) -> u8 {
    match algorithm {
        Algorithm::Sm4 => 2,
        _ => 1,
    }
}

/// `MAGIC | VERSION | role ('E' or 'D') | algorithm (1 AES_256, 2 SM4) | mode (1) | raw key`,
/// the bytes whose base64 is EncryptKey or DecryptKey (docs/whitebox.md).
pub(crate) fn encode_key(role: Role, algorithm: Algorithm, key: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(8 + key.len()));
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(match role {
        Role::Encrypt => b'E',
        Role::Decrypt => b'D',
    });
    out.push(algorithm_code(algorithm));
    out.push(MODE_CBC_PKCS7);
    out.extend_from_slice(key);
    out
}

/// A white-box key ready to CBC-encrypt with PKCS#7 padding (always 1 to 16 bytes of it): its
/// key schedule is done once, so the store's cache keeps it (store/hot_secrets.rs). aws-lc and
/// tkms-sm4 zeroize their key schedules on drop.
pub(crate) enum CbcKey {
    Aes256(PaddedBlockEncryptingKey),
    /// tkms-sm4's block function (the backend CMKs use, constant-time kernels only).
    Sm4(tkms_sm4::Sm4Gcm),
}

impl std::fmt::Debug for CbcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CbcKey(..)")
    }
}

impl CbcKey {
    pub(crate) fn new(algorithm: Algorithm, key: &[u8]) -> Result<Self, CryptoFailure> {
        match algorithm {
            Algorithm::Aes256 => {
                let key = UnboundCipherKey::new(&AES_256, key).map_err(|_| CryptoFailure)?;
                PaddedBlockEncryptingKey::cbc_pkcs7(key)
                    .map(Self::Aes256)
                    .map_err(|_| CryptoFailure)
            }
            Algorithm::Sm4 => {
                let key: &[u8; 16] = key.try_into().map_err(|_| CryptoFailure)?;
                tkms_sm4::Sm4Gcm::new(key)
                    .map(Self::Sm4)
                    .map_err(|_| CryptoFailure)
            }
            _ => Err(CryptoFailure),
        }
    }

    pub(crate) fn encrypt(
        &self,
        iv: &[u8; IV_LEN],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoFailure> {
        match self {
            Self::Aes256(key) => {
                // Encrypted in place: a failure would leave plaintext behind, so it is wiped. The
                // room for the padding is reserved so that no reallocation leaves a copy behind.
                let mut out = Zeroizing::new(Vec::with_capacity(plaintext.len() + IV_LEN));
                out.extend_from_slice(plaintext);
                key.less_safe_encrypt(&mut *out, EncryptionContext::Iv128(FixedLength::from(*iv)))
                    .map_err(|_| CryptoFailure)?;
                Ok(std::mem::take(&mut *out))
            }
            Self::Sm4(cipher) => Ok(sm4_cbc(cipher, iv, plaintext)),
        }
    }
}

/// SM4-CBC over tkms-sm4's block function.
fn sm4_cbc(cipher: &tkms_sm4::Sm4Gcm, iv: &[u8; IV_LEN], plaintext: &[u8]) -> Vec<u8> {
    let chunks = plaintext.chunks_exact(IV_LEN);
    let tail = chunks.remainder();
    let pad = IV_LEN - tail.len();
    // The last block: the tail, then `pad` bytes of value `pad` (PKCS#7).
    let mut last = Zeroizing::new([pad as u8; IV_LEN]);
    last[..tail.len()].copy_from_slice(tail);
    let mut out = Vec::with_capacity(plaintext.len() + pad);
    let mut chain = *iv;
    for chunk in chunks.chain(std::iter::once(&last[..])) {
        let mut block = [0u8; IV_LEN];
        for ((b, p), c) in block.iter_mut().zip(chunk).zip(chain) {
            *b = p ^ c;
        }
        cipher.encrypt_blocks(std::slice::from_mut(&mut block));
        out.extend_from_slice(&block);
        chain = block;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    fn cbc_encrypt(
        algorithm: Algorithm,
        key: &[u8],
        iv: &[u8; IV_LEN],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoFailure> {
        CbcKey::new(algorithm, key)?.encrypt(iv, plaintext)
    }

    /// NIST SP 800-38A F.2.5 (CBC-AES256.Encrypt): the four blocks match, then one whole block
    /// of PKCS#7 padding follows.
    #[test]
    fn aes_256_cbc_matches_sp800_38a() {
        let key = unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
        let iv: [u8; 16] = unhex("000102030405060708090a0b0c0d0e0f")
            .try_into()
            .unwrap();
        let plaintext = unhex(concat!(
            "6bc1bee22e409f96e93d7e117393172a",
            "ae2d8a571e03ac9c9eb76fac45af8e51",
            "30c81c46a35ce411e5fbc1191a0a52ef",
            "f69f2445df4f9b17ad2b417be66c3710"
        ));
        let out = cbc_encrypt(Algorithm::Aes256, &key, &iv, &plaintext).unwrap();
        assert_eq!(out.len(), 80);
        assert_eq!(
            hex::encode(&out[..64]),
            concat!(
                "f58c4c04d6e5f1ba779eabfb5f7bfbd6",
                "9cfc4e967edb808d679f777bc6702c7d",
                "39f23369a9d9bacfa530e26304231461",
                "b2eb05e2c39be9fcda6c19078c6a9d1b"
            )
        );
    }

    /// GB/T 32907 example 1 through CBC with a zero IV, and every length from 0 to 40 against
    /// the RustCrypto `sm4` block cipher chained by hand.
    #[test]
    fn sm4_cbc_matches_the_standard_and_a_reference() {
        use cipher::{BlockCipherEncrypt, KeyInit};
        let key = unhex("0123456789abcdeffedcba9876543210");
        let out = cbc_encrypt(Algorithm::Sm4, &key, &[0; 16], &key).unwrap();
        assert_eq!(hex::encode(&out[..16]), "681edf34d206965e86b3e94f536e4246");
        assert_eq!(out.len(), 32);

        let reference = sm4::Sm4::new_from_slice(&key).unwrap();
        let iv = [0x5a; 16];
        for len in 0..=40usize {
            let plaintext: Vec<u8> = (0..len as u8).collect();
            let mut padded = plaintext.clone();
            let pad = 16 - len % 16;
            padded.extend(std::iter::repeat_n(pad as u8, pad));
            let mut chain = iv;
            let mut expected = Vec::new();
            for block in padded.chunks(16) {
                let mut b = [0u8; 16];
                for i in 0..16 {
                    b[i] = block[i] ^ chain[i];
                }
                let mut arr = b.into();
                reference.encrypt_block(&mut arr);
                chain = arr.into();
                expected.extend_from_slice(&chain);
            }
            let out = cbc_encrypt(Algorithm::Sm4, &key, &iv, &plaintext).unwrap();
            assert_eq!(out, expected, "length {len}");
        }
    }

    #[test]
    fn encoded_keys_carry_role_algorithm_and_mode() {
        let e = encode_key(Role::Encrypt, Algorithm::Sm4, &[7; 16]);
        assert_eq!(&e[..8], b"TKWB\x01E\x02\x01");
        assert_eq!(&e[8..], &[7; 16]);
        let d = encode_key(Role::Decrypt, Algorithm::Aes256, &[9; 32]);
        assert_eq!(&d[..8], b"TKWB\x01D\x01\x01");
        assert_eq!(d.len(), 40);
        assert!(cbc_encrypt(Algorithm::Rsa2048, &[0; 32], &[0; 16], b"x").is_err());
        assert!(cbc_encrypt(Algorithm::Sm4, &[0; 32], &[0; 16], b"x").is_err());
    }
}
