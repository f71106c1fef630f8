//! Known answers for the Chinese national-standard (SM) primitives kms-core uses.
//!
//! - SM2 encryption (GB/T 32918.4-2016) on the recommended curve (GB/T 32918.5-2017): the
//!   worked example published with the standard for the recommended parameters
//!   (GM/T 0003.5-2012 / GB/T 32918.5 example: private key `3945208F…C5B8`, message
//!   "encryption standard", k = `59276E27…BC21`). The same values are the SM2 self-test vector
//!   of several certified libraries (e.g. openHiTLS's CMVP self-test, GmSSL).
//! - SM4-GCM: RFC 8998 Appendix A.1.
//! - SM4 block cipher: GB/T 32907-2016 Appendix A, example 1.

#![allow(clippy::unwrap_used)] // in tests an unwrap is an assertion

use aes_gcm::aead::KeyInit;
use kms_core::Suite;
use kms_core::internal::AeadKey;
use kms_core::wrap::sm2::Sm2Wrapper;
use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use kms_core::{EncryptionContext, WrapError};
use sm2::elliptic_curve::rand_core::{TryCryptoRng, TryRng};
use sm2::pke::{DecryptingKey, EncryptingKey};

/// Hex constant to bytes (whitespace allowed for readability).
fn h(text: &str) -> Vec<u8> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).expect("test constants are hex")
}

// GB/T 32918 example on the recommended curve.
const D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
const PX: &str = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020";
const PY: &str = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
const MESSAGE: &[u8] = b"encryption standard";
const K: &str = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21";
const C1: &str = "04 04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73
                     E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0";
const C3: &str = "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766";
const C2: &str = "21886CA989CA9C7D58087307CA93092D651EFA";
/// The same ciphertext as C1C3C2 ASN.1 DER (GM/T 0009-2012 §7.2).
const C_DER: &str = "307C 0220 04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73
                          0221 00E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0
                          0420 59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766
                          0413 21886CA989CA9C7D58087307CA93092D651EFA";

/// An "RNG" that yields the standard's fixed k: the only way to reproduce the example.
/// Test-only; never a source of real randomness.
struct FixedK(Vec<u8>);

impl TryRng for FixedK {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unreachable!("scalar sampling fills bytes")
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unreachable!("scalar sampling fills bytes")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        assert_eq!(
            dst.len(),
            self.0.len(),
            "k is drawn as one 32-byte big-endian scalar"
        );
        dst.copy_from_slice(&self.0);
        Ok(())
    }
}
impl TryCryptoRng for FixedK {}

fn decrypting_key() -> DecryptingKey {
    DecryptingKey::from_slice(&h(D)).unwrap()
}

#[test]
fn sm2_public_key_derivation_matches_the_standard() {
    let expected = [vec![0x04], h(PX), h(PY)].concat();
    let wrapper = Sm2Wrapper::from_private_scalar(&h(D)).unwrap();
    assert_eq!(wrapper.public_key_sec1(), expected);
    assert_eq!(
        decrypting_key().encrypting_key().to_sec1_bytes().as_ref(),
        &expected[..]
    );
}

#[test]
fn sm2_encryption_with_the_standards_k_gives_its_ciphertext() {
    let raw_expected = [h(C1), h(C3), h(C2)].concat();
    // The crate's default mode is C1C3C2, the order of GB/T 32918.4-2016.
    let key: EncryptingKey = decrypting_key().encrypting_key().clone();
    let raw = key.encrypt(&mut FixedK(h(K)), MESSAGE).unwrap();
    assert_eq!(hex::encode_upper(&raw), hex::encode_upper(&raw_expected));
    let der = key.encrypt_der(&mut FixedK(h(K)), MESSAGE).unwrap();
    assert_eq!(hex::encode_upper(&der), hex::encode_upper(h(C_DER)));
}

#[test]
fn sm2_decrypts_the_standards_ciphertext_in_both_encodings() {
    let key = decrypting_key();
    let raw = [h(C1), h(C3), h(C2)].concat();
    assert_eq!(key.decrypt(&raw).unwrap(), MESSAGE);
    assert_eq!(key.decrypt_der(&h(C_DER)).unwrap(), MESSAGE);
    // One flipped bit of C3 (the SM3 check value) or C2 must fail.
    let mut bad = raw.clone();
    bad[65] ^= 1;
    assert!(key.decrypt(&bad).is_err());
    let mut bad = raw;
    *bad.last_mut().unwrap() ^= 0x80;
    assert!(key.decrypt(&bad).is_err());
}

/// The wrapper unwraps a 32-byte data key encrypted with the standard's key and k, in DER
/// (what we write) and raw C1C3C2 (what some SDKs send).
#[test]
fn sm2_wrapper_unwraps_a_fixed_k_ciphertext_in_both_encodings() {
    let wrapper = Sm2Wrapper::from_private_scalar(&h(D)).unwrap();
    let data_key: Vec<u8> = (0u8..32).collect();
    let encrypting = decrypting_key().encrypting_key().clone();
    let ctx = EncryptionContext::new();
    for ciphertext in [
        encrypting
            .encrypt_der(&mut FixedK(h(K)), &data_key)
            .unwrap(),
        encrypting.encrypt(&mut FixedK(h(K)), &data_key).unwrap(),
    ] {
        // Both encodings start with the standard's C1 (k is fixed).
        let wrapped = WrappedKey {
            method: WrapMethod::Sm2,
            key_ref: KeyRef::PublicKey {
                fingerprint: wrapper.fingerprint(),
            },
            ciphertext,
        };
        let unwrapped = wrapper.unwrap(&wrapped, &ctx).unwrap().unwrap();
        assert_eq!(unwrapped.expose_secret(), &data_key[..]);
    }
    // The 19-byte standard message is not a data key: refused, opaquely.
    let wrapped = WrappedKey {
        method: WrapMethod::Sm2,
        key_ref: KeyRef::PublicKey {
            fingerprint: wrapper.fingerprint(),
        },
        ciphertext: h(C_DER),
    };
    assert!(matches!(
        wrapper.unwrap(&wrapped, &ctx),
        Err(WrapError::Crypto)
    ));
}

/// RFC 8998 Appendix A.1 (SM4-GCM) through kms-core's own suite AEAD (`AeadKey` seals with the
/// same cipher that envelope frames and TDE pages use: tkms-sm4 on the backend this CPU runs).
#[test]
fn rfc8998_sm4_gcm_appendix_a1() {
    let key = h("0123456789ABCDEFFEDCBA9876543210");
    let nonce: [u8; AeadKey::NONCE_LEN] = h("00001234567800000000ABCD").try_into().unwrap();
    let aad = h("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
    let plaintext = h(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD
                       EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
    );
    let ciphertext = h(
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735
                        D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D",
    );
    let tag = h("83DE3541E4C2B58177E065A9BF7B62EC");
    let cipher = AeadKey::new(Suite::Sm4Gcm, &key).unwrap().unwrap();
    let sealed = cipher.seal(&nonce, &aad, &plaintext);
    assert_eq!(sealed, [ciphertext, tag].concat());
    assert_eq!(
        &cipher.open(&nonce, &aad, &sealed).unwrap()[..],
        &plaintext[..]
    );
    let mut tampered = sealed;
    tampered[0] ^= 1;
    assert!(cipher.open(&nonce, &aad, &tampered).is_none());
}

/// GB/T 32907-2016 Appendix A, example 1: one SM4 block.
#[test]
fn gbt32907_sm4_block_example_1() {
    use cipher::{BlockCipherDecrypt, BlockCipherEncrypt};
    let key = h("0123456789ABCDEFFEDCBA9876543210");
    let sm4 = sm4::Sm4::new_from_slice(&key).unwrap();
    let mut block = cipher::Block::<sm4::Sm4>::try_from(&key[..]).unwrap();
    sm4.encrypt_block(&mut block);
    assert_eq!(hex::encode_upper(block), "681EDF34D206965E86B3E94F536E4246");
    sm4.decrypt_block(&mut block);
    assert_eq!(&block[..], &key[..]);
}
