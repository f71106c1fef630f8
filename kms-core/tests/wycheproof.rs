//! Project Wycheproof known-answer tests (github.com/C2SP/wycheproof, Apache-2.0; the files
//! and their LICENSE are in `tests/data/wycheproof/`) for every primitive kms-core and the
//! mock HSM rely on: AES-GCM and SM4-GCM (the two envelope suites, their 96-bit vectors through
//! kms-core's own AEAD as well as aws-lc-rs / RustCrypto), RSA-OAEP and
//! RSAES-PKCS1-v1_5 decryption (local RSA unwrap, AsymmetricRsaDecrypt), HKDF-SHA-256 and
//! HMAC-SM3.
//!
//! Every vector of every file is run. Each test counts the vectors it executed per expected
//! result and asserts that the count equals the number in the file, so a vector can neither
//! be silently skipped nor be lost to a parsing change.

#![allow(clippy::unwrap_used)] // in tests an unwrap is an assertion

use std::collections::BTreeMap;

use aes_gcm::aead::array::typenum::{
    U1, U2, U4, U6, U8, U10, U12, U15, U16, U20, U32, U64, U128, U257,
};
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{AesGcm, Tag};
use aws_lc_rs::aead::{self as lc_aead, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    Pkcs1PrivateDecryptingKey, PrivateDecryptingKey,
};
use kms_core::Suite;
use kms_core::internal::AeadKey;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/tests/data/wycheproof/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn hex_field(test: &Value, field: &str) -> Vec<u8> {
    hex::decode(
        test[field]
            .as_str()
            .unwrap_or_else(|| panic!("missing {field}")),
    )
    .unwrap()
}

/// Tally of vectors per expected result ("valid", "invalid", "acceptable"): executed, or
/// skipped for a stated reason, against what the file holds.
#[derive(Default)]
struct Tally {
    executed: BTreeMap<String, usize>,
    skipped: BTreeMap<String, usize>,
    in_file: BTreeMap<String, usize>,
    skip_reasons: Vec<(u64, &'static str)>,
}

impl Tally {
    fn note_in_file(&mut self, result: &str) {
        *self.in_file.entry(result.to_owned()).or_default() += 1;
    }

    fn executed(&mut self, result: &str) {
        *self.executed.entry(result.to_owned()).or_default() += 1;
    }

    fn skipped(&mut self, result: &str, id: u64, reason: &'static str) {
        *self.skipped.entry(result.to_owned()).or_default() += 1;
        self.skip_reasons.push((id, reason));
    }

    /// Every vector in the file was executed or skipped for a stated reason; exactly
    /// `expected_executed` were executed; the file holds as many as it declares.
    fn assert_complete(&self, file: &Value, expected_total: usize, expected_executed: usize) {
        let declared = file["numberOfTests"].as_u64().unwrap() as usize;
        assert_eq!(
            declared, expected_total,
            "the vector file changed: update the expected count"
        );
        let mut accounted = self.executed.clone();
        for (result, n) in &self.skipped {
            *accounted.entry(result.clone()).or_default() += n;
        }
        assert_eq!(
            accounted, self.in_file,
            "vectors per result: executed + skipped differ from the file"
        );
        let executed: usize = self.executed.values().sum();
        assert!(executed > 0);
        assert_eq!(executed, expected_executed, "executed vectors");
        assert_eq!(executed + self.skip_reasons.len(), expected_total);
        for (id, reason) in &self.skip_reasons {
            println!("skipped tcId {id}: {reason}");
        }
    }
}

fn tests_of(file: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    file["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|group| {
            group["tests"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |test| (group, test))
        })
}

// ---------------------------------------------------------------- AEAD (AES-GCM, SM4-GCM)

struct AeadCase {
    key: Vec<u8>,
    iv: Vec<u8>,
    aad: Vec<u8>,
    msg: Vec<u8>,
    ct: Vec<u8>,
    tag: Vec<u8>,
    valid: bool,
    id: u64,
}

impl AeadCase {
    fn from(test: &Value) -> Self {
        let result = test["result"].as_str().unwrap();
        assert!(
            result == "valid" || result == "invalid",
            "unexpected result {result}"
        );
        Self {
            key: hex_field(test, "key"),
            iv: hex_field(test, "iv"),
            aad: hex_field(test, "aad"),
            msg: hex_field(test, "msg"),
            ct: hex_field(test, "ct"),
            tag: hex_field(test, "tag"),
            valid: result == "valid",
            id: test["tcId"].as_u64().unwrap(),
        }
    }
}

/// Runs one vector through aws-lc-rs (96-bit IVs only): a valid vector must encrypt to
/// exactly ct||tag and decrypt back; an invalid one must fail to decrypt.
fn check_aws_lc(alg: &'static lc_aead::Algorithm, case: &AeadCase) {
    let key = LessSafeKey::new(UnboundKey::new(alg, &case.key).unwrap());
    let nonce = || Nonce::try_assume_unique_for_key(&case.iv).unwrap();
    if case.valid {
        let mut buf = case.msg.clone();
        let tag = key
            .seal_in_place_separate_tag(nonce(), Aad::from(&case.aad[..]), &mut buf)
            .unwrap();
        assert_eq!(buf, case.ct, "tcId {} ciphertext", case.id);
        assert_eq!(tag.as_ref(), &case.tag[..], "tcId {} tag", case.id);
    }
    let mut buf = [case.ct.clone(), case.tag.clone()].concat();
    let opened = key.open_in_place(nonce(), Aad::from(&case.aad[..]), &mut buf);
    match (case.valid, opened) {
        (true, Ok(plaintext)) => assert_eq!(plaintext, &case.msg[..], "tcId {}", case.id),
        (true, Err(_)) => panic!("tcId {}: valid vector rejected", case.id),
        (false, Ok(_)) => panic!("tcId {}: invalid vector accepted", case.id),
        (false, Err(_)) => {}
    }
}

/// The same checks through RustCrypto's generic GCM over any block cipher and nonce size.
fn check_generic<C>(case: &AeadCase)
where
    C: AeadInOut + KeyInit,
{
    assert_eq!(
        case.tag.len(),
        16,
        "tcId {}: only 128-bit tags are in these files",
        case.id
    );
    let cipher = C::new_from_slice(&case.key).unwrap();
    let nonce = aes_gcm::aead::Nonce::<C>::try_from(&case.iv[..]).unwrap();
    if case.valid {
        let mut buf = case.msg.clone();
        let tag = cipher
            .encrypt_inout_detached(&nonce, &case.aad, buf.as_mut_slice().into())
            .unwrap();
        assert_eq!(buf, case.ct, "tcId {} ciphertext", case.id);
        assert_eq!(&tag[..], &case.tag[..], "tcId {} tag", case.id);
    }
    let mut buf = case.ct.clone();
    let tag = Tag::<C::TagSize>::try_from(&case.tag[..]).unwrap();
    let opened = cipher.decrypt_inout_detached(&nonce, &case.aad, buf.as_mut_slice().into(), &tag);
    match (case.valid, opened) {
        (true, Ok(())) => assert_eq!(buf, case.msg, "tcId {}", case.id),
        (true, Err(_)) => panic!("tcId {}: valid vector rejected", case.id),
        (false, Ok(())) => panic!("tcId {}: invalid vector accepted", case.id),
        (false, Err(_)) => {}
    }
}

/// Dispatches a nonce length to the `AesGcm<Cipher, N>` of that size.
macro_rules! generic_gcm {
    ($cipher:ty, $case:expr) => {
        match $case.iv.len() {
            1 => check_generic::<AesGcm<$cipher, U1>>($case),
            2 => check_generic::<AesGcm<$cipher, U2>>($case),
            4 => check_generic::<AesGcm<$cipher, U4>>($case),
            6 => check_generic::<AesGcm<$cipher, U6>>($case),
            8 => check_generic::<AesGcm<$cipher, U8>>($case),
            10 => check_generic::<AesGcm<$cipher, U10>>($case),
            12 => check_generic::<AesGcm<$cipher, U12>>($case),
            15 => check_generic::<AesGcm<$cipher, U15>>($case),
            16 => check_generic::<AesGcm<$cipher, U16>>($case),
            20 => check_generic::<AesGcm<$cipher, U20>>($case),
            32 => check_generic::<AesGcm<$cipher, U32>>($case),
            64 => check_generic::<AesGcm<$cipher, U64>>($case),
            128 => check_generic::<AesGcm<$cipher, U128>>($case),
            257 => check_generic::<AesGcm<$cipher, U257>>($case),
            other => panic!(
                "tcId {}: no nonce type for a {other}-byte IV: add it",
                $case.id
            ),
        }
    };
}

/// Why the zero-length-IV vectors are not executed. NIST SP 800-38D §5.2.1.1 requires
/// len(IV) ≥ 1 and Wycheproof marks them invalid. Neither path kms-core runs can even form
/// such a nonce (asserted below): aws-lc-rs for AES, and kms-core's own AEAD, which takes only
/// `[u8; 12]` nonces, for both suites. RustCrypto's generic `AesGcm<_, U0>` does NOT refuse it
/// (it computes a tag and accepted tcId 311 when checked by hand with aes-gcm 0.11.1), so there
/// is no implementation to run them through that should pass.
const EMPTY_IV_SKIP: &str = "zero-length IV: outside SP 800-38D; aws-lc-rs and kms-core's AEAD (96-bit nonces only) \
                             cannot form it, RustCrypto AesGcm<_, U0> wrongly accepts it";

/// Skips a zero-length-IV vector after checking that `our_path_refuses` it.
fn skip_empty_iv(tally: &mut Tally, case: &AeadCase, result: &str, our_path_refuses: bool) {
    assert!(!case.valid, "tcId {}: an empty IV cannot be valid", case.id);
    assert!(our_path_refuses, "tcId {}", case.id);
    tally.skipped(result, case.id, EMPTY_IV_SKIP);
}

/// True when kms-core's AEAD cannot take `iv` as a nonce (its nonces are `[u8; 12]`).
fn kms_core_refuses_iv(iv: &[u8]) -> bool {
    <[u8; AeadKey::NONCE_LEN]>::try_from(iv).is_err()
}

/// Runs one 96-bit vector through kms-core's own suite AEAD (`AeadKey`, which seals with the
/// cipher envelope frames and TDE pages use): a valid vector seals to exactly ct||tag and opens
/// back; an invalid one is refused.
fn check_kms_core(suite: Suite, case: &AeadCase) {
    let key = AeadKey::new(suite, &case.key).unwrap().unwrap();
    let nonce: [u8; AeadKey::NONCE_LEN] = case.iv[..].try_into().unwrap();
    if case.valid {
        let sealed = key.seal(&nonce, &case.aad, &case.msg);
        assert_eq!(
            sealed,
            [&case.ct[..], &case.tag[..]].concat(),
            "tcId {}",
            case.id
        );
    }
    let opened = key.open(&nonce, &case.aad, &[&case.ct[..], &case.tag[..]].concat());
    match (case.valid, opened) {
        (true, Some(plaintext)) => assert_eq!(&plaintext[..], &case.msg[..], "tcId {}", case.id),
        (true, None) => panic!("tcId {}: valid vector rejected", case.id),
        (false, Some(_)) => panic!("tcId {}: invalid vector accepted", case.id),
        (false, None) => {}
    }
}

/// Source: Wycheproof `aes_gcm_test.json` (316 vectors). 96-bit IVs with 128/192/256-bit keys
/// go through aws-lc-rs (the AES-256 ones are our envelope suite) and also through RustCrypto;
/// the other non-empty IV sizes through RustCrypto `aes-gcm`, which takes any nonce size.
#[test]
fn aes_gcm() {
    let file = load("aes_gcm_test.json");
    let mut tally = Tally::default();
    let mut through_aws_lc = 0;
    for (_, test) in tests_of(&file) {
        let case = AeadCase::from(test);
        let result = test["result"].as_str().unwrap();
        tally.note_in_file(result);
        if case.iv.is_empty() {
            let refused = Nonce::try_assume_unique_for_key(&case.iv).is_err()
                && kms_core_refuses_iv(&case.iv);
            skip_empty_iv(&mut tally, &case, result, refused);
            continue;
        }
        match (case.key.len(), case.iv.len()) {
            (16, 12) => check_aws_lc(&lc_aead::AES_128_GCM, &case),
            (24, 12) => check_aws_lc(&lc_aead::AES_192_GCM, &case),
            (32, 12) => {
                check_aws_lc(&lc_aead::AES_256_GCM, &case);
                check_kms_core(Suite::Aes256Gcm, &case);
            }
            (16, _) => generic_gcm!(aes::Aes128, &case),
            (24, _) => generic_gcm!(aes::Aes192, &case),
            (32, _) => generic_gcm!(aes::Aes256, &case),
            (other, _) => panic!("tcId {}: unexpected {other}-byte AES key", case.id),
        }
        if case.iv.len() == 12 {
            through_aws_lc += 1;
            // The 96-bit vectors also go through RustCrypto: both implementations agree.
            match case.key.len() {
                16 => check_generic::<AesGcm<aes::Aes128, U12>>(&case),
                24 => check_generic::<AesGcm<aes::Aes192, U12>>(&case),
                _ => check_generic::<AesGcm<aes::Aes256, U12>>(&case),
            }
        }
        tally.executed(result);
    }
    assert_eq!(
        through_aws_lc,
        67 + 66 + 64,
        "96-bit IV vectors for AES-128/256/192"
    );
    // 316 in the file, 6 with a zero-length IV (EMPTY_IV_SKIP).
    tally.assert_complete(&file, 316, 310);
}

/// Source: Wycheproof `sm4_gcm_test.json` (104 vectors). The 96-bit ones (the only nonce size
/// RFC 8998 and kms-core use) go through kms-core's own suite AEAD, i.e. tkms-sm4 on the backend
/// this CPU runs; every non-empty IV also goes through RustCrypto's `AesGcm<sm4::Sm4, N>` (the
/// generic GCM over the SM4 block cipher, GB/T 32907), which takes any nonce size.
#[test]
fn sm4_gcm() {
    let file = load("sm4_gcm_test.json");
    let mut tally = Tally::default();
    let mut through_kms_core = 0;
    for (_, test) in tests_of(&file) {
        let case = AeadCase::from(test);
        let result = test["result"].as_str().unwrap();
        tally.note_in_file(result);
        assert_eq!(case.key.len(), 16, "SM4 keys are 128 bits");
        if case.iv.is_empty() {
            skip_empty_iv(&mut tally, &case, result, kms_core_refuses_iv(&case.iv));
            continue;
        }
        if case.iv.len() == AeadKey::NONCE_LEN {
            check_kms_core(Suite::Sm4Gcm, &case);
            through_kms_core += 1;
        }
        generic_gcm!(sm4::Sm4, &case);
        tally.executed(result);
    }
    assert_eq!(
        through_kms_core, 65,
        "96-bit IV vectors through kms-core's AEAD"
    );
    // 104 in the file, 2 with a zero-length IV (EMPTY_IV_SKIP).
    tally.assert_complete(&file, 104, 102);
}

// ---------------------------------------------------------------- RSA

fn private_key(group: &Value) -> PrivateDecryptingKey {
    // Each group gives the key as PKCS#8 DER (`privateKeyPkcs8`), PEM and JWK; take the DER.
    PrivateDecryptingKey::from_pkcs8(&hex_field(group, "privateKeyPkcs8")).unwrap()
}

/// RSAES-OAEP decryption through aws-lc-rs, honouring each vector's label.
fn rsa_oaep(name: &str, algorithm: &'static OaepAlgorithm, expected_total: usize) {
    let file = load(name);
    let mut tally = Tally::default();
    for (group, test) in tests_of(&file) {
        let result = test["result"].as_str().unwrap();
        tally.note_in_file(result);
        let key = OaepPrivateDecryptingKey::new(private_key(group)).unwrap();
        let (ct, msg, label) = (
            hex_field(test, "ct"),
            hex_field(test, "msg"),
            hex_field(test, "label"),
        );
        let mut out = vec![0u8; key.min_output_size()];
        let label = if label.is_empty() {
            None
        } else {
            Some(&label[..])
        };
        let id = test["tcId"].as_u64().unwrap();
        match (result, key.decrypt(algorithm, &ct, &mut out, label)) {
            ("valid", Ok(plaintext)) => assert_eq!(plaintext, &msg[..], "tcId {id}"),
            ("valid", Err(_)) => panic!("tcId {id}: valid OAEP ciphertext rejected"),
            ("invalid", Ok(_)) => panic!("tcId {id}: invalid OAEP ciphertext accepted"),
            ("invalid", Err(_)) => {}
            (other, _) => panic!("tcId {id}: unexpected result {other}"),
        }
        tally.executed(result);
    }
    tally.assert_complete(&file, expected_total, expected_total);
}

/// Source: Wycheproof `rsa_oaep_2048_sha256_mgf1sha256_test.json` (37 vectors): the RsaWrapper
/// primitive and AsymmetricRsaDecrypt `RSAES_OAEP_SHA_256`.
#[test]
fn rsa_oaep_2048_sha256() {
    rsa_oaep(
        "rsa_oaep_2048_sha256_mgf1sha256_test.json",
        &OAEP_SHA256_MGF1SHA256,
        37,
    );
}

/// Source: Wycheproof `rsa_oaep_2048_sha1_mgf1sha1_test.json` (36 vectors): AsymmetricRsaDecrypt
/// `RSAES_OAEP_SHA_1`.
#[test]
fn rsa_oaep_2048_sha1() {
    rsa_oaep(
        "rsa_oaep_2048_sha1_mgf1sha1_test.json",
        &OAEP_SHA1_MGF1SHA1,
        36,
    );
}

/// Source: Wycheproof `rsa_pkcs1_2048_test.json` (67 vectors): AsymmetricRsaDecrypt
/// `RSAES_PKCS1_V1_5` through aws-lc-rs `Pkcs1PrivateDecryptingKey`. aws-lc-rs rejects bad
/// padding with one opaque error (no implicit rejection), as asserted for every invalid vector.
#[test]
fn rsa_pkcs1_2048() {
    let file = load("rsa_pkcs1_2048_test.json");
    let mut tally = Tally::default();
    for (group, test) in tests_of(&file) {
        let result = test["result"].as_str().unwrap();
        tally.note_in_file(result);
        let key = Pkcs1PrivateDecryptingKey::new(private_key(group)).unwrap();
        let (ct, msg) = (hex_field(test, "ct"), hex_field(test, "msg"));
        let mut out = vec![0u8; key.min_output_size()];
        let id = test["tcId"].as_u64().unwrap();
        match (result, key.decrypt(&ct, &mut out)) {
            ("valid", Ok(plaintext)) => assert_eq!(plaintext, &msg[..], "tcId {id}"),
            ("valid", Err(_)) => panic!("tcId {id}: valid PKCS#1 v1.5 ciphertext rejected"),
            ("invalid", Ok(_)) => panic!("tcId {id}: invalid PKCS#1 v1.5 ciphertext accepted"),
            ("invalid", Err(_)) => {}
            (other, _) => panic!("tcId {id}: unexpected result {other}"),
        }
        tally.executed(result);
    }
    tally.assert_complete(&file, 67, 67);
}

// ---------------------------------------------------------------- HKDF, HMAC-SM3

/// Source: Wycheproof `hkdf_sha256_test.json` (86 vectors), through `hkdf` + `sha2`. Invalid
/// vectors ask for more than 255·32 bytes and must be refused.
#[test]
fn hkdf_sha256() {
    let file = load("hkdf_sha256_test.json");
    let mut tally = Tally::default();
    for (_, test) in tests_of(&file) {
        let result = test["result"].as_str().unwrap();
        tally.note_in_file(result);
        let (ikm, salt, info, okm) = (
            hex_field(test, "ikm"),
            hex_field(test, "salt"),
            hex_field(test, "info"),
            hex_field(test, "okm"),
        );
        let size = test["size"].as_u64().unwrap() as usize;
        // RFC 5869 §2.2: an absent salt is HashLen zero bytes; Wycheproof writes it as "".
        let hkdf =
            hkdf::Hkdf::<sha2::Sha256>::new(if salt.is_empty() { None } else { Some(&salt) }, &ikm);
        let mut out = vec![0u8; size];
        let id = test["tcId"].as_u64().unwrap();
        match (result, hkdf.expand(&info, &mut out)) {
            ("valid", Ok(())) => assert_eq!(out, okm, "tcId {id}"),
            ("valid", Err(_)) => panic!("tcId {id}: valid HKDF request refused"),
            ("invalid", Ok(())) => panic!("tcId {id}: oversized HKDF output accepted"),
            ("invalid", Err(_)) => {}
            (other, _) => panic!("tcId {id}: unexpected result {other}"),
        }
        tally.executed(result);
    }
    tally.assert_complete(&file, 86, 86);
}

/// Source: Wycheproof `hmac_sm3_test.json` (174 vectors), through `hmac` + `sm3`, with tags
/// truncated to the group's `tagSize` and compared in constant time (`verify_truncated_left`).
#[test]
fn hmac_sm3() {
    use hmac::{KeyInit as _, Mac as _};
    let file = load("hmac_sm3_test.json");
    let mut tally = Tally::default();
    for (group, test) in tests_of(&file) {
        let result = test["result"].as_str().unwrap();
        tally.note_in_file(result);
        let tag_len = group["tagSize"].as_u64().unwrap() as usize / 8;
        let (key, msg, tag) = (
            hex_field(test, "key"),
            hex_field(test, "msg"),
            hex_field(test, "tag"),
        );
        let mac = || {
            let mut mac = hmac::Hmac::<sm3::Sm3>::new_from_slice(&key).unwrap();
            mac.update(&msg);
            mac
        };
        let id = test["tcId"].as_u64().unwrap();
        let verified = mac().verify_truncated_left(&tag).is_ok();
        match result {
            "valid" => {
                assert!(verified, "tcId {id}: valid tag rejected");
                assert_eq!(
                    &mac().finalize().into_bytes()[..tag_len],
                    &tag[..],
                    "tcId {id}"
                );
            }
            "invalid" => assert!(!verified, "tcId {id}: invalid tag accepted"),
            other => panic!("tcId {id}: unexpected result {other}"),
        }
        tally.executed(result);
    }
    tally.assert_complete(&file, 174, 174);
}
