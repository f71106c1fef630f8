//! Post-quantum key material: ML-KEM-768 (FIPS 203) for `ASYMMETRIC_Encrypt_Decrypt_Kyber_AES`
//! and ML-DSA-65 (FIPS 204) for `ASYMMETRIC_SIGN_VERIFY_DILITHIUM`, both from aws-lc-rs.
//!
//! Stored forms (docs/key-store.md): ML-KEM-768 keeps the 2400-byte decapsulation key of
//! FIPS 203 §7.1 (it embeds the encapsulation key and its hash); ML-DSA-65 keeps aws-lc-rs's
//! PKCS#8 v1 document, which holds the 32-byte seed ξ (FIPS 204 §6.1).

use aws_lc_rs::digest::{SHA3_256, digest};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_768};
use aws_lc_rs::signature::{
    KeyPair as _, ML_DSA_65, ML_DSA_65_SIGNING, PqdsaKeyPair, UnparsedPublicKey,
};
use der::Encode as _;
use zeroize::Zeroizing;

use super::CryptoFailure;

/// ML-KEM-768 sizes (FIPS 203 Table 3).
pub(crate) const KEM_DK_LEN: usize = 2400;
pub(crate) const KEM_EK_LEN: usize = 1184;
pub(crate) const KEM_CT_LEN: usize = 1088;
/// Where the encapsulation key sits inside the decapsulation key: dk = dk_pke ‖ ek ‖ H(ek) ‖ z.
const KEM_EK_AT: usize = 384 * 3;
/// id-alg-ml-kem-768 (NIST CSOR, as used by draft-ietf-lamps-kyber-certificates).
const OID_ML_KEM_768: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.4.2");

/// A fresh ML-KEM-768 decapsulation key (2400 bytes).
pub(crate) fn generate_kem() -> Result<Zeroizing<Vec<u8>>, CryptoFailure> {
    let key = DecapsulationKey::generate(&ML_KEM_768).map_err(|_| CryptoFailure)?;
    let bytes = key.key_bytes().map_err(|_| CryptoFailure)?;
    Ok(Zeroizing::new(bytes.as_ref().to_vec()))
}

/// A fresh ML-DSA-65 key pair as PKCS#8 v1 (seed form).
pub(crate) fn generate_dsa() -> Result<Zeroizing<Vec<u8>>, CryptoFailure> {
    let key = PqdsaKeyPair::generate(&ML_DSA_65_SIGNING).map_err(|_| CryptoFailure)?;
    let doc = key.to_pkcs8v1().map_err(|_| CryptoFailure)?;
    Ok(Zeroizing::new(doc.as_ref().to_vec()))
}

/// A parsed ML-KEM-768 key pair.
pub(crate) struct KemKey {
    decapsulate: DecapsulationKey,
    encapsulate: EncapsulationKey,
}

impl KemKey {
    /// Parses a 2400-byte decapsulation key; the FIPS 203 §7.3 hash check (H(ek) stored in dk)
    /// rejects corrupted material before it is used.
    pub(crate) fn parse(dk: &[u8]) -> Result<Self, CryptoFailure> {
        if dk.len() != KEM_DK_LEN {
            return Err(CryptoFailure);
        }
        let ek = &dk[KEM_EK_AT..KEM_EK_AT + KEM_EK_LEN];
        let hash = &dk[KEM_EK_AT + KEM_EK_LEN..KEM_EK_AT + KEM_EK_LEN + 32];
        if digest(&SHA3_256, ek).as_ref() != hash {
            return Err(CryptoFailure);
        }
        Ok(Self {
            decapsulate: DecapsulationKey::new(&ML_KEM_768, dk).map_err(|_| CryptoFailure)?,
            encapsulate: EncapsulationKey::new(&ML_KEM_768, ek).map_err(|_| CryptoFailure)?,
        })
    }

    /// The raw 1184-byte encapsulation key.
    pub(crate) fn encapsulation_key(&self) -> Result<Vec<u8>, CryptoFailure> {
        let bytes = self.encapsulate.key_bytes().map_err(|_| CryptoFailure)?;
        Ok(bytes.as_ref().to_vec())
    }

    /// SubjectPublicKeyInfo: id-alg-ml-kem-768 without parameters, the raw encapsulation key
    /// as the BIT STRING (draft-ietf-lamps-kyber-certificates §4).
    pub(crate) fn public_key_der(&self) -> Result<Vec<u8>, CryptoFailure> {
        let ek = self.encapsulation_key()?;
        spki::SubjectPublicKeyInfoOwned {
            algorithm: spki::AlgorithmIdentifierOwned {
                oid: OID_ML_KEM_768,
                parameters: None,
            },
            subject_public_key: der::asn1::BitString::from_bytes(&ek).map_err(|_| CryptoFailure)?,
        }
        .to_der()
        .map_err(|_| CryptoFailure)
    }

    /// Encapsulates: (ciphertext, 32-byte shared secret).
    pub(crate) fn encapsulate(&self) -> Result<(Vec<u8>, Zeroizing<[u8; 32]>), CryptoFailure> {
        let (ct, secret) = self.encapsulate.encapsulate().map_err(|_| CryptoFailure)?;
        Ok((ct.as_ref().to_vec(), shared_secret(secret.as_ref())?))
    }

    /// Decapsulates. ML-KEM rejects implicitly: a wrong ciphertext gives a pseudo-random
    /// secret, which the AEAD tag then refuses.
    pub(crate) fn decapsulate(&self, ct: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoFailure> {
        if ct.len() != KEM_CT_LEN {
            return Err(CryptoFailure);
        }
        let secret = self
            .decapsulate
            .decapsulate(Ciphertext::from(ct))
            .map_err(|_| CryptoFailure)?;
        shared_secret(secret.as_ref())
    }
}

fn shared_secret(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoFailure> {
    let mut out = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(CryptoFailure);
    }
    out.copy_from_slice(bytes);
    Ok(out)
}

/// A parsed ML-DSA-65 key pair.
pub(crate) struct DsaKey(PqdsaKeyPair);

impl DsaKey {
    pub(crate) fn parse(pkcs8: &[u8]) -> Result<Self, CryptoFailure> {
        PqdsaKeyPair::from_pkcs8(&ML_DSA_65_SIGNING, pkcs8)
            .map(Self)
            .map_err(|_| CryptoFailure)
    }

    /// The key pair a FIPS 204 seed ξ determines (known-answer tests).
    #[cfg(test)]
    pub(crate) fn from_seed(seed: &[u8]) -> Result<Self, CryptoFailure> {
        PqdsaKeyPair::from_seed(&ML_DSA_65_SIGNING, seed)
            .map(Self)
            .map_err(|_| CryptoFailure)
    }

    /// The raw 1952-byte public key.
    pub(crate) fn public_key_raw(&self) -> &[u8] {
        self.0.public_key().as_ref()
    }

    /// SubjectPublicKeyInfo with id-ml-dsa-65 (draft-ietf-lamps-dilithium-certificates).
    pub(crate) fn public_key_der(&self) -> Result<Vec<u8>, CryptoFailure> {
        let der: PublicKeyX509Der<'static> =
            self.0.public_key().as_der().map_err(|_| CryptoFailure)?;
        Ok(der.as_ref().to_vec())
    }

    /// ML-DSA-65.Sign with an empty context (FIPS 204 Algorithm 2, hedged): 3309 bytes.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoFailure> {
        let mut out = vec![0u8; ML_DSA_65_SIGNING.signature_len()];
        let len = self.0.sign(message, &mut out).map_err(|_| CryptoFailure)?;
        out.truncate(len);
        Ok(out)
    }

    /// ML-DSA-65.Verify with an empty context; anything malformed is `false`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        verify_dsa(self.public_key_raw(), message, signature)
    }
}

/// ML-DSA-65.Verify under a raw public key, empty context.
pub(crate) fn verify_dsa(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ML_DSA_65, public_key)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kem_round_trip_and_stored_form() {
        let dk = generate_kem().unwrap();
        assert_eq!(dk.len(), KEM_DK_LEN);
        let key = KemKey::parse(&dk).unwrap();
        let (ct, secret) = key.encapsulate().unwrap();
        assert_eq!(ct.len(), KEM_CT_LEN);
        assert_eq!(*key.decapsulate(&ct).unwrap(), *secret);
        let mut other = ct.clone();
        other[5] ^= 1;
        assert_ne!(*key.decapsulate(&other).unwrap(), *secret);
        assert!(key.decapsulate(&ct[1..]).is_err());
        let spki = key.public_key_der().unwrap();
        assert_eq!(spki.len(), 22 + KEM_EK_LEN);
        assert!(spki.ends_with(&key.encapsulation_key().unwrap()));
        // A flipped bit in the embedded encapsulation key fails the hash check.
        let mut bad = dk.clone();
        bad[KEM_EK_AT + 10] ^= 1;
        assert!(KemKey::parse(&bad).is_err());
        assert!(KemKey::parse(&dk[1..]).is_err());
    }

    #[test]
    fn dsa_round_trip() {
        let key = DsaKey::parse(&generate_dsa().unwrap()).unwrap();
        let sig = key.sign(b"message").unwrap();
        assert_eq!(sig.len(), 3309);
        assert!(key.verify(b"message", &sig));
        assert!(!key.verify(b"messagf", &sig));
        assert!(!key.verify(b"message", &sig[1..]));
        assert_eq!(key.public_key_raw().len(), 1952);
        assert!(
            key.public_key_der()
                .unwrap()
                .ends_with(key.public_key_raw())
        );
    }
}
