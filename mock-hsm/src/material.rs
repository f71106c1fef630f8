//! CMK key material and the cryptography done with it: AES-256-GCM and SM4-GCM for symmetric
//! CMKs, RSA-2048/3072 (aws-lc-rs, constant-time private operations), SM2 (GB/T 32918), ECDSA
//! P-256 and P-384, and the post-quantum ML-KEM-768 and ML-DSA-65 (`pqc`).
//!
//! Material lives in [`Material`], which zeroizes on drop and never prints. Every failure of a
//! private-key operation is the one opaque [`CryptoFailure`].

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{self as lc_sig, EcdsaKeyPair, KeyPair as _};
use kms_core::Suite;
use kms_core::internal::AeadKey;
use sm2::dsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use sm2::dsa::signature::{Signer, Verifier};
use sm2::pkcs8::{DecodePublicKey, EncodePublicKey};
use zeroize::Zeroizing;

pub(crate) mod pqc;
#[cfg(test)]
mod pqc_kat;

/// The SM2 distinguishing identifier used for ZA when none is given (GM/T 0009).
pub(crate) const SM2_DEFAULT_ID: &str = "1234567812345678";
/// GCM nonce length.
pub(crate) const NONCE_LEN: usize = 12;
/// GCM tag length.
pub(crate) const TAG_LEN: usize = 16;

/// A cryptographic operation failed (bad tag, bad padding, bad point...). Deliberately opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CryptoFailure;

/// The algorithm behind a CMK version, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// AES-256-GCM (symmetric, FIPS regions).
    Aes256,
    /// SM4-GCM (symmetric, RFC 8998; mainland-China regions).
    Sm4,
    /// RSA-2048 (decrypt or sign).
    Rsa2048,
    /// SM2 (decrypt or sign).
    Sm2,
    /// ECDSA over P-256 (sign).
    EccP256,
    /// RSA-3072 (sign).
    Rsa3072,
    /// ECDSA over P-384 with SHA-384 (sign).
    EccP384,
    /// ML-KEM-768 with AES-256-GCM for the payload (FIPS 203; PostQuantumCryptoEncrypt).
    MlKem768,
    /// ML-DSA-65 (FIPS 204; PostQuantumCryptoSign).
    MlDsa65,
}

impl Algorithm {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes256 => "AES_256",
            Self::Sm4 => "SM4",
            Self::Rsa2048 => "RSA_2048",
            Self::Sm2 => "SM2",
            Self::EccP256 => "ECC_P256",
            Self::Rsa3072 => "RSA_3072",
            Self::EccP384 => "ECC_P384",
            Self::MlKem768 => "ML_KEM_768",
            Self::MlDsa65 => "ML_DSA_65",
        }
    }

    /// Parses a stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "AES_256" => Self::Aes256,
            "SM4" => Self::Sm4,
            "RSA_2048" => Self::Rsa2048,
            "SM2" => Self::Sm2,
            "ECC_P256" => Self::EccP256,
            "RSA_3072" => Self::Rsa3072,
            "ECC_P384" => Self::EccP384,
            "ML_KEM_768" => Self::MlKem768,
            "ML_DSA_65" => Self::MlDsa65,
            _ => return None,
        })
    }

    /// True for the national-secret (SM) algorithms: KeyMetadata.Type 4, else 2.
    pub fn is_sm(self) -> bool {
        matches!(self, Self::Sm4 | Self::Sm2)
    }

    /// Length of symmetric material in bytes (None for asymmetric algorithms).
    pub(crate) fn symmetric_len(self) -> Option<usize> {
        match self {
            Self::Aes256 => Some(32),
            Self::Sm4 => Some(16),
            _ => None,
        }
    }
}

/// Secret key material: raw symmetric key bytes, RSA/ECC/ML-DSA PKCS#8 DER, a 32-byte SM2
/// scalar, or an ML-KEM decapsulation key.
pub(crate) struct Material(Zeroizing<Vec<u8>>);

impl core::fmt::Debug for Material {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Material(..)")
    }
}

impl Material {
    pub(crate) fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    pub(crate) fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Fresh material for `algorithm`.
    pub(crate) fn generate(algorithm: Algorithm) -> Result<Self, CryptoFailure> {
        let bytes = match algorithm {
            Algorithm::Aes256 | Algorithm::Sm4 => {
                random_bytes(algorithm.symmetric_len().unwrap_or(32))?
            }
            Algorithm::Rsa2048 | Algorithm::Rsa3072 => {
                let size = if algorithm == Algorithm::Rsa2048 {
                    KeySize::Rsa2048
                } else {
                    KeySize::Rsa3072
                };
                let key = PrivateDecryptingKey::generate(size).map_err(|_| CryptoFailure)?;
                let der: Pkcs8V1Der<'static> = key.as_der().map_err(|_| CryptoFailure)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
            Algorithm::Sm2 => {
                let secret = <sm2::SecretKey as sm2::elliptic_curve::Generate>::generate_from_rng(
                    &mut rand::rng(),
                );
                Zeroizing::new(secret.to_bytes().to_vec())
            }
            Algorithm::EccP256 | Algorithm::EccP384 => {
                let key =
                    EcdsaKeyPair::generate(ecdsa_signing(algorithm)).map_err(|_| CryptoFailure)?;
                let doc = key.to_pkcs8v1().map_err(|_| CryptoFailure)?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
            Algorithm::MlKem768 => pqc::generate_kem()?,
            Algorithm::MlDsa65 => pqc::generate_dsa()?,
        };
        Ok(Self(bytes))
    }

    /// Checks that the bytes are usable material for `algorithm` (seeds, imports).
    pub(crate) fn validate(&self, algorithm: Algorithm) -> Result<(), CryptoFailure> {
        match algorithm {
            Algorithm::Aes256 | Algorithm::Sm4 => {
                if Some(self.0.len()) == algorithm.symmetric_len() {
                    Ok(())
                } else {
                    Err(CryptoFailure)
                }
            }
            _ => ParsedKey::parse(algorithm, self).map(|_| ()),
        }
    }
}

/// Random bytes from the operating system's CSPRNG (getrandom, as kms-core's data keys). Not
/// aws-lc-rs's generator: its first use in a process seeds a jitter-entropy source, about 30 ms
/// of CPU that every `tkms encrypt` with the embedded store paid (docs/performance.md, "tkms
/// CLI at the memory-copy limit").
pub(crate) fn random_bytes(len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoFailure> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    getrandom::fill(&mut out).map_err(|_| CryptoFailure)?;
    Ok(out)
}

/// A fresh random GCM nonce.
pub(crate) fn random_nonce() -> Result<[u8; NONCE_LEN], CryptoFailure> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| CryptoFailure)?;
    Ok(nonce)
}

/// A symmetric CMK version ready to use: kms-core's suite AEAD (AES-256-GCM from aws-lc-rs,
/// SM4-GCM per RFC 8998 from `tkms-sm4`, constant-time on CPUs with AES-NI), its key schedule
/// computed once. Fails for asymmetric algorithms, for material of the wrong length, and for SM4
/// where it is refused (the store checks that first, to name the setting: docs/sm4.md).
pub(crate) fn symmetric_key(algorithm: Algorithm, key: &[u8]) -> Result<AeadKey, CryptoFailure> {
    let suite = match algorithm {
        Algorithm::Aes256 => Suite::Aes256Gcm,
        Algorithm::Sm4 => Suite::Sm4Gcm,
        _ => return Err(CryptoFailure),
    };
    AeadKey::new(suite, key).ok().flatten().ok_or(CryptoFailure)
}

/// AEAD-seals `plaintext` under symmetric material; returns ciphertext || tag.
pub(crate) fn aead_seal(
    algorithm: Algorithm,
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoFailure> {
    Ok(symmetric_key(algorithm, key)?.seal(nonce, aad, plaintext))
}

/// Opens ciphertext || tag sealed by [`aead_seal`].
pub(crate) fn aead_open(
    algorithm: Algorithm,
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoFailure> {
    symmetric_key(algorithm, key)?
        .open(nonce, aad, sealed)
        .ok_or(CryptoFailure)
}

/// RSA padding for decryption, unwrapping and sealing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RsaPadding {
    Pkcs1V15,
    OaepSha1,
    OaepSha256,
}

impl RsaPadding {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RSAES_PKCS1_V1_5" => Self::Pkcs1V15,
            "RSAES_OAEP_SHA_1" => Self::OaepSha1,
            "RSAES_OAEP_SHA_256" => Self::OaepSha256,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Pkcs1V15 => "RSAES_PKCS1_V1_5",
            Self::OaepSha1 => "RSAES_OAEP_SHA_1",
            Self::OaepSha256 => "RSAES_OAEP_SHA_256",
        }
    }
}

/// Signature algorithms of SignByAsymmetricKey / VerifyByAsymmetricKey.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignAlgorithm {
    Sm2Dsa,
    EccP256R1,
    RsaPssSha256,
    RsaPkcs1Sha256,
    EcdsaP384Sha384,
}

impl SignAlgorithm {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "SM2DSA" => Self::Sm2Dsa,
            "ECC_P256_R1" => Self::EccP256R1,
            "RSA_PSS_SHA_256" => Self::RsaPssSha256,
            "RSA_PKCS1_SHA_256" => Self::RsaPkcs1Sha256,
            "ECDSA384_SHA384" => Self::EcdsaP384Sha384,
            _ => return None,
        })
    }

    /// The wire name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sm2Dsa => "SM2DSA",
            Self::EccP256R1 => "ECC_P256_R1",
            Self::RsaPssSha256 => "RSA_PSS_SHA_256",
            Self::RsaPkcs1Sha256 => "RSA_PKCS1_SHA_256",
            Self::EcdsaP384Sha384 => "ECDSA384_SHA384",
        }
    }

    /// Every name, for error messages.
    pub(crate) const NAMES: &'static str =
        "SM2DSA, ECC_P256_R1, RSA_PSS_SHA_256, RSA_PKCS1_SHA_256 or ECDSA384_SHA384";

    /// True when a key of `key` can make this signature (RSA: 2048 or 3072 bits).
    pub(crate) fn fits(self, key: Algorithm) -> bool {
        match self {
            Self::Sm2Dsa => key == Algorithm::Sm2,
            Self::EccP256R1 => key == Algorithm::EccP256,
            Self::RsaPssSha256 | Self::RsaPkcs1Sha256 => {
                matches!(key, Algorithm::Rsa2048 | Algorithm::Rsa3072)
            }
            Self::EcdsaP384Sha384 => key == Algorithm::EccP384,
        }
    }

    /// Length of a `MessageType=DIGEST` message: SHA-384 for ECDSA384_SHA384, else 32 bytes.
    pub(crate) fn digest_len(self) -> usize {
        match self {
            Self::EcdsaP384Sha384 => 48,
            _ => 32,
        }
    }
}

/// What is signed: the message itself, or its digest of [`SignAlgorithm::digest_len`] bytes
/// (SHA-256 or SHA-384, or for SM2DSA the value e = SM3(ZA || M) with the default id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignInput<'a> {
    Raw(&'a [u8]),
    Digest(&'a [u8]),
}

/// A parsed asymmetric private key, ready for use (cached by the store).
pub(crate) enum ParsedKey {
    Rsa {
        decrypt: PrivateDecryptingKey,
        sign: aws_lc_rs::rsa::KeyPair,
    },
    Sm2 {
        decrypt: Box<sm2::pke::DecryptingKey>,
        sign: Box<sm2::dsa::SigningKey>,
    },
    Ecc(EcdsaKeyPair),
    MlKem(Box<pqc::KemKey>),
    MlDsa(Box<pqc::DsaKey>),
}

impl ParsedKey {
    pub(crate) fn parse(algorithm: Algorithm, material: &Material) -> Result<Self, CryptoFailure> {
        let bytes = material.expose_secret();
        match algorithm {
            Algorithm::Rsa2048 | Algorithm::Rsa3072 => {
                let bits = if algorithm == Algorithm::Rsa2048 {
                    2048
                } else {
                    3072
                };
                let decrypt = PrivateDecryptingKey::from_pkcs8(bytes).map_err(|_| CryptoFailure)?;
                if decrypt.key_size_bits() != bits {
                    return Err(CryptoFailure);
                }
                let sign = aws_lc_rs::rsa::KeyPair::from_pkcs8(bytes).map_err(|_| CryptoFailure)?;
                Ok(Self::Rsa { decrypt, sign })
            }
            Algorithm::Sm2 => {
                let secret = sm2::SecretKey::from_slice(bytes).map_err(|_| CryptoFailure)?;
                let decrypt = sm2::pke::DecryptingKey::new_with_mode(
                    secret.to_nonzero_scalar(),
                    sm2::pke::Mode::C1C3C2,
                );
                let sign = sm2::dsa::SigningKey::new(SM2_DEFAULT_ID, &secret)
                    .map_err(|_| CryptoFailure)?;
                Ok(Self::Sm2 {
                    decrypt: Box::new(decrypt),
                    sign: Box::new(sign),
                })
            }
            Algorithm::EccP256 | Algorithm::EccP384 => {
                EcdsaKeyPair::from_pkcs8(ecdsa_signing(algorithm), bytes)
                    .map(Self::Ecc)
                    .map_err(|_| CryptoFailure)
            }
            Algorithm::MlKem768 => Ok(Self::MlKem(Box::new(pqc::KemKey::parse(bytes)?))),
            Algorithm::MlDsa65 => Ok(Self::MlDsa(Box::new(pqc::DsaKey::parse(bytes)?))),
            Algorithm::Aes256 | Algorithm::Sm4 => Err(CryptoFailure),
        }
    }

    /// DER SubjectPublicKeyInfo of the public half.
    pub(crate) fn public_key_der(&self) -> Result<Vec<u8>, CryptoFailure> {
        match self {
            Self::Rsa { decrypt, .. } => {
                let der: PublicKeyX509Der<'static> =
                    decrypt.public_key().as_der().map_err(|_| CryptoFailure)?;
                Ok(der.as_ref().to_vec())
            }
            Self::Sm2 { decrypt, .. } => {
                let public = sm2::PublicKey::from_affine(*decrypt.encrypting_key().as_affine())
                    .map_err(|_| CryptoFailure)?;
                public
                    .to_public_key_der()
                    .map(|d| d.as_bytes().to_vec())
                    .map_err(|_| CryptoFailure)
            }
            Self::Ecc(key) => {
                let der: PublicKeyX509Der<'static> =
                    key.public_key().as_der().map_err(|_| CryptoFailure)?;
                Ok(der.as_ref().to_vec())
            }
            Self::MlKem(key) => key.public_key_der(),
            Self::MlDsa(key) => key.public_key_der(),
        }
    }

    /// RSA decryption with the named padding.
    pub(crate) fn rsa_decrypt(
        &self,
        padding: RsaPadding,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoFailure> {
        let Self::Rsa { decrypt, .. } = self else {
            return Err(CryptoFailure);
        };
        let mut out = Zeroizing::new(vec![0u8; decrypt.key_size_bytes()]);
        let len = match padding {
            RsaPadding::Pkcs1V15 => Pkcs1PrivateDecryptingKey::new(decrypt.clone())
                .map_err(|_| CryptoFailure)?
                .decrypt(ciphertext, &mut out)
                .map_err(|_| CryptoFailure)?
                .len(),
            RsaPadding::OaepSha1 | RsaPadding::OaepSha256 => {
                let alg = if padding == RsaPadding::OaepSha1 {
                    &OAEP_SHA1_MGF1SHA1
                } else {
                    &OAEP_SHA256_MGF1SHA256
                };
                OaepPrivateDecryptingKey::new(decrypt.clone())
                    .map_err(|_| CryptoFailure)?
                    .decrypt(alg, ciphertext, &mut out, None)
                    .map_err(|_| CryptoFailure)?
                    .len()
            }
        };
        out.truncate(len);
        Ok(out)
    }

    /// SM2 decryption of C1C3C2 ASN.1 DER ciphertext.
    pub(crate) fn sm2_decrypt_der(
        &self,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoFailure> {
        let Self::Sm2 { decrypt, .. } = self else {
            return Err(CryptoFailure);
        };
        decrypt
            .decrypt_der(ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| CryptoFailure)
    }

    /// Signs; returns a DER signature (ECDSA/SM2 `SEQUENCE{r,s}`) or the RSA signature bytes.
    pub(crate) fn sign(
        &self,
        algorithm: SignAlgorithm,
        input: SignInput<'_>,
    ) -> Result<Vec<u8>, CryptoFailure> {
        match (self, algorithm) {
            (Self::Sm2 { sign, .. }, SignAlgorithm::Sm2Dsa) => {
                let sig: sm2::dsa::Signature = match input {
                    SignInput::Raw(msg) => sign.try_sign(msg).map_err(|_| CryptoFailure)?,
                    SignInput::Digest(e) => sign.sign_prehash(e).map_err(|_| CryptoFailure)?,
                };
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (Self::Ecc(key), SignAlgorithm::EccP256R1 | SignAlgorithm::EcdsaP384Sha384) => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let sig = match input {
                    SignInput::Raw(msg) => key.sign(&rng, msg).map_err(|_| CryptoFailure)?,
                    SignInput::Digest(d) => key
                        .sign_digest(&imported_digest(algorithm, d)?)
                        .map_err(|_| CryptoFailure)?,
                };
                Ok(sig.as_ref().to_vec())
            }
            (
                Self::Rsa { sign, .. },
                SignAlgorithm::RsaPssSha256 | SignAlgorithm::RsaPkcs1Sha256,
            ) => {
                let encoding: &'static dyn lc_sig::RsaEncoding =
                    if algorithm == SignAlgorithm::RsaPssSha256 {
                        &lc_sig::RSA_PSS_SHA256
                    } else {
                        &lc_sig::RSA_PKCS1_SHA256
                    };
                let mut out = vec![0u8; sign.public_modulus_len()];
                match input {
                    SignInput::Raw(msg) => {
                        let rng = aws_lc_rs::rand::SystemRandom::new();
                        sign.sign(encoding, &rng, msg, &mut out)
                            .map_err(|_| CryptoFailure)?
                    }
                    SignInput::Digest(d) => sign
                        .sign_digest(encoding, &imported_digest(algorithm, d)?, &mut out)
                        .map_err(|_| CryptoFailure)?,
                }
                Ok(out)
            }
            _ => Err(CryptoFailure),
        }
    }

    /// Verifies; any malformed or wrong signature is `false`.
    pub(crate) fn verify(
        &self,
        algorithm: SignAlgorithm,
        input: SignInput<'_>,
        signature: &[u8],
    ) -> bool {
        match (self, algorithm) {
            (Self::Sm2 { sign, .. }, SignAlgorithm::Sm2Dsa) => {
                let Ok(sig) = sm2::dsa::Signature::from_der(signature) else {
                    return false;
                };
                let key = sign.verifying_key();
                match input {
                    SignInput::Raw(msg) => key.verify(msg, &sig).is_ok(),
                    SignInput::Digest(e) => key.verify_prehash(e, &sig).is_ok(),
                }
            }
            (Self::Ecc(key), SignAlgorithm::EccP256R1 | SignAlgorithm::EcdsaP384Sha384) => {
                let params = if algorithm == SignAlgorithm::EccP256R1 {
                    &lc_sig::ECDSA_P256_SHA256_ASN1
                } else {
                    &lc_sig::ECDSA_P384_SHA384_ASN1
                };
                let public = lc_sig::UnparsedPublicKey::new(params, key.public_key().as_ref());
                match input {
                    SignInput::Raw(msg) => public.verify(msg, signature).is_ok(),
                    SignInput::Digest(d) => match imported_digest(algorithm, d) {
                        Ok(digest) => public.verify_digest(&digest, signature).is_ok(),
                        Err(_) => false,
                    },
                }
            }
            (
                Self::Rsa { sign, .. },
                SignAlgorithm::RsaPssSha256 | SignAlgorithm::RsaPkcs1Sha256,
            ) => {
                let params: &'static lc_sig::RsaParameters =
                    if algorithm == SignAlgorithm::RsaPssSha256 {
                        &lc_sig::RSA_PSS_2048_8192_SHA256
                    } else {
                        &lc_sig::RSA_PKCS1_2048_8192_SHA256
                    };
                let public = lc_sig::UnparsedPublicKey::new(params, sign.public_key().as_ref());
                match input {
                    SignInput::Raw(msg) => public.verify(msg, signature).is_ok(),
                    SignInput::Digest(d) => match imported_digest(algorithm, d) {
                        Ok(digest) => public.verify_digest(&digest, signature).is_ok(),
                        Err(_) => false,
                    },
                }
            }
            _ => false,
        }
    }
}

/// A caller's digest as aws-lc-rs's type: SHA-384 for ECDSA384_SHA384, else SHA-256.
fn imported_digest(
    algorithm: SignAlgorithm,
    d: &[u8],
) -> Result<aws_lc_rs::digest::Digest, CryptoFailure> {
    let hash = if algorithm == SignAlgorithm::EcdsaP384Sha384 {
        &aws_lc_rs::digest::SHA384
    } else {
        &aws_lc_rs::digest::SHA256
    };
    aws_lc_rs::digest::Digest::import_less_safe(d, hash).map_err(|_| CryptoFailure)
}

/// The ECDSA signing algorithm of an ECC key (P-256 unless P-384).
fn ecdsa_signing(algorithm: Algorithm) -> &'static lc_sig::EcdsaSigningAlgorithm {
    if algorithm == Algorithm::EccP384 {
        &lc_sig::ECDSA_P384_SHA384_ASN1_SIGNING
    } else {
        &lc_sig::ECDSA_P256_SHA256_ASN1_SIGNING
    }
}

/// How `EncryptionPublicKey` results are sealed for the caller (docs/kms-api.md §4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SealAlgorithm {
    /// SM2, raw C1C3C2 (`04 || x || y || C3 || C2`). The default.
    Sm2Raw,
    /// SM2, C1C3C2 ASN.1 DER.
    Sm2Asn1,
    /// RSA with the given padding.
    Rsa(RsaPadding),
}

impl SealAlgorithm {
    pub(crate) fn from_name(name: Option<&str>) -> Option<Self> {
        Some(match name.unwrap_or("") {
            "" | "SM2" => Self::Sm2Raw,
            "SM2_C1C3C2_ASN1" => Self::Sm2Asn1,
            other => Self::Rsa(RsaPadding::from_name(other)?),
        })
    }
}

/// Why sealing to a caller's key failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SealError {
    /// The PEM is not a public key we can parse.
    BadKey,
    /// The key type does not fit the algorithm (RSA key with SM2, or the reverse).
    Mismatch,
    /// The plaintext does not fit, or encryption failed.
    Failed,
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_SM2_CURVE: &str = "1.2.156.10197.1.301";

/// Encrypts `plaintext` to the caller's PEM public key (RSA-2048 or SM2).
pub(crate) fn seal_to_public_key(
    pem: &str,
    algorithm: SealAlgorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    use der::Decode as _;
    let (label, doc) = der::Document::from_pem(pem.trim()).map_err(|_| SealError::BadKey)?;
    if label != "PUBLIC KEY" {
        return Err(SealError::BadKey);
    }
    let spki =
        spki::SubjectPublicKeyInfoRef::from_der(doc.as_bytes()).map_err(|_| SealError::BadKey)?;
    let oid = spki.algorithm.oid.to_string();
    let is_sm2 = oid == OID_EC_PUBLIC_KEY
        && spki
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok())
            .is_some_and(|curve| curve.to_string() == OID_SM2_CURVE);
    match algorithm {
        SealAlgorithm::Sm2Raw | SealAlgorithm::Sm2Asn1 => {
            if oid == OID_RSA {
                return Err(SealError::Mismatch);
            }
            if !is_sm2 {
                return Err(SealError::BadKey);
            }
            let public = sm2::PublicKey::from_public_key_der(doc.as_bytes())
                .map_err(|_| SealError::BadKey)?;
            let key = sm2::pke::EncryptingKey::new_with_mode(public, sm2::pke::Mode::C1C3C2);
            let mut rng = rand::rng();
            let out = if algorithm == SealAlgorithm::Sm2Raw {
                key.encrypt(&mut rng, plaintext)
            } else {
                key.encrypt_der(&mut rng, plaintext)
            };
            out.map_err(|_| SealError::Failed)
        }
        SealAlgorithm::Rsa(padding) => {
            if is_sm2 {
                return Err(SealError::Mismatch);
            }
            if oid != OID_RSA {
                return Err(SealError::BadKey);
            }
            let public =
                PublicEncryptingKey::from_der(doc.as_bytes()).map_err(|_| SealError::BadKey)?;
            rsa_encrypt(public, padding, plaintext).map_err(|_| SealError::Failed)
        }
    }
}

/// RSA encryption under a public key (used for sealing and by tests of the import path).
pub(crate) fn rsa_encrypt(
    public: PublicEncryptingKey,
    padding: RsaPadding,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoFailure> {
    let mut out = vec![0u8; public.key_size_bytes()];
    let len = match padding {
        RsaPadding::Pkcs1V15 => Pkcs1PublicEncryptingKey::new(public)
            .map_err(|_| CryptoFailure)?
            .encrypt(plaintext, &mut out)
            .map_err(|_| CryptoFailure)?
            .len(),
        RsaPadding::OaepSha1 | RsaPadding::OaepSha256 => {
            let alg = if padding == RsaPadding::OaepSha1 {
                &OAEP_SHA1_MGF1SHA1
            } else {
                &OAEP_SHA256_MGF1SHA256
            };
            OaepPublicEncryptingKey::new(public)
                .map_err(|_| CryptoFailure)?
                .encrypt(alg, plaintext, &mut out, None)
                .map_err(|_| CryptoFailure)?
                .len()
        }
    };
    out.truncate(len);
    Ok(out)
}

/// Standard PEM (64-character lines, trailing newline) of a DER SubjectPublicKeyInfo.
pub(crate) fn public_key_pem(spki_der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(spki_der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(core::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sm4_gcm_matches_rfc8998_vector() {
        // RFC 8998 Appendix A.1 (SM4-GCM).
        let key = hex::decode("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let nonce: [u8; 12] = hex::decode("00001234567800000000ABCD")
            .unwrap()
            .try_into()
            .unwrap();
        let aad = hex::decode("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2").unwrap();
        let pt = hex::decode(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
        )
        .unwrap();
        let expected = hex::decode(
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D83DE3541E4C2B58177E065A9BF7B62EC",
        )
        .unwrap();
        let sealed = aead_seal(Algorithm::Sm4, &key, &nonce, &aad, &pt).unwrap();
        assert_eq!(sealed, expected);
        assert_eq!(
            &aead_open(Algorithm::Sm4, &key, &nonce, &aad, &sealed).unwrap()[..],
            &pt[..]
        );
        let mut bad = sealed.clone();
        bad[0] ^= 1;
        assert!(aead_open(Algorithm::Sm4, &key, &nonce, &aad, &bad).is_err());
    }

    #[test]
    fn generated_asymmetric_keys_parse_and_sign() {
        for alg in [
            Algorithm::Rsa2048,
            Algorithm::Sm2,
            Algorithm::EccP256,
            Algorithm::Rsa3072,
            Algorithm::EccP384,
            Algorithm::MlKem768,
            Algorithm::MlDsa65,
        ] {
            let material = Material::generate(alg).unwrap();
            let key = ParsedKey::parse(alg, &material).unwrap();
            assert!(!key.public_key_der().unwrap().is_empty());
        }
    }

    #[test]
    fn pem_has_64_char_lines() {
        let pem = public_key_pem(&[7u8; 100]);
        for line in pem.lines() {
            assert!(line.len() <= 64);
        }
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
    }
}
