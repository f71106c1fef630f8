//! Interoperability with OpenSSL 3 (`openssl` on PATH; a missing binary fails these tests).
//!
//! Both directions for both local wrapping methods, with keys made by OpenSSL and by us:
//! - RSA-OAEP-SHA256 (MGF1-SHA-256, empty label) via `openssl pkeyutl`;
//! - SM2 encryption via `openssl pkeyutl`, whose output is C1C3C2 ASN.1 DER.
//!
//! The key formats OpenSSL writes (PKCS#8, PKCS#1, SEC1, SPKI; PEM and DER) all load, and
//! every form of one key gets the same fingerprint.

#![allow(clippy::unwrap_used)] // in tests an unwrap is an assertion

use std::path::{Path, PathBuf};
use std::process::Command;

use kms_core::wrap::local::LocalWrapper;
use kms_core::wrap::rsa::RsaWrapper;
use kms_core::wrap::sm2::Sm2Wrapper;
use kms_core::wrap::{KeyRef, KeyWrapper, WrapMethod, WrappedKey};
use kms_core::{DataKey, EncryptionContext, WrapError};
use sha2::{Digest as _, Sha256};

const OAEP_SHA256: [&str; 6] = [
    "-pkeyopt",
    "rsa_padding_mode:oaep",
    "-pkeyopt",
    "rsa_oaep_md:sha256",
    "-pkeyopt",
    "rsa_mgf1_md:sha256",
];

/// Runs `openssl args...` in `dir`, failing the test (not skipping) when openssl is missing
/// or exits non-zero.
fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the `openssl` binary (OpenSSL 3) must be installed for the interop tests");
    assert!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn data_key() -> (DataKey, Vec<u8>) {
    let key = DataKey::generate();
    let bytes = key.expose_secret().to_vec();
    (key, bytes)
}

fn stanza(method: WrapMethod, fingerprint: [u8; 32], ciphertext: Vec<u8>) -> WrappedKey {
    WrappedKey {
        method,
        key_ref: KeyRef::PublicKey { fingerprint },
        ciphertext,
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

// ------------------------------------------------------------------------------------ RSA

fn openssl_rsa_key(dir: &Path, bits: &str) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            &format!("rsa_keygen_bits:{bits}"),
            "-out",
            "priv.pem",
        ],
    );
    openssl(
        dir,
        &["pkey", "-in", "priv.pem", "-pubout", "-out", "pub.pem"],
    );
}

#[test]
fn rsa_openssl_encrypts_with_its_key_we_unwrap() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    openssl_rsa_key(dir, "2048");
    let (_, dk) = data_key();
    write(dir, "dk.bin", &dk);
    let mut args = vec![
        "pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "dk.bin", "-out", "ct.bin",
    ];
    args.extend(OAEP_SHA256);
    openssl(dir, &args);

    let private = RsaWrapper::from_private_key(&read(dir, "priv.pem")).unwrap();
    let public = RsaWrapper::from_public_key(&read(dir, "pub.pem")).unwrap();
    // The fingerprint is SHA-256 of the SPKI DER, as OpenSSL writes it.
    let spki_der = openssl(
        dir,
        &["pkey", "-pubin", "-in", "pub.pem", "-outform", "DER"],
    );
    assert_eq!(public.fingerprint(), sha256(&spki_der));
    assert_eq!(private.fingerprint(), public.fingerprint());

    let wrapped = stanza(
        WrapMethod::RsaOaepSha256,
        private.fingerprint(),
        read(dir, "ct.bin"),
    );
    let ctx = EncryptionContext::new();
    let unwrapped = private
        .unwrap(&wrapped, &ctx)
        .unwrap()
        .expect("addressed to this key");
    assert_eq!(unwrapped.expose_secret(), &dk[..]);
    // The public-only wrapper recognises the stanza but cannot open it.
    assert!(matches!(
        public.unwrap(&wrapped, &ctx),
        Err(WrapError::NoPrivateKey)
    ));
}

#[test]
fn rsa_we_wrap_for_an_openssl_key_openssl_decrypts() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    openssl_rsa_key(dir, "2048");
    let (key, dk) = data_key();
    let public = RsaWrapper::from_public_key(&read(dir, "pub.pem")).unwrap();
    let wrapped = public.wrap(&key, &EncryptionContext::new()).unwrap();
    assert_eq!(wrapped.method, WrapMethod::RsaOaepSha256);
    assert_eq!(wrapped.ciphertext.len(), 256);
    write(dir, "ct.bin", &wrapped.ciphertext);
    let mut args = vec!["pkeyutl", "-decrypt", "-inkey", "priv.pem", "-in", "ct.bin"];
    args.extend(OAEP_SHA256);
    assert_eq!(openssl(dir, &args), dk);
}

#[test]
fn rsa_key_generated_by_us_works_with_openssl_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let ours = RsaWrapper::generate().unwrap();
    write(
        dir,
        "priv.pem",
        ours.private_key_pem().unwrap().unwrap().as_bytes(),
    );
    write(dir, "pub.pem", ours.public_key_pem().unwrap().as_bytes());
    assert!(
        ours.private_key_pem()
            .unwrap()
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----\n")
    );
    // OpenSSL reads our key and agrees it is RSA-2048.
    let text = String::from_utf8(openssl(
        dir,
        &["pkey", "-in", "priv.pem", "-noout", "-text"],
    ))
    .unwrap();
    assert!(text.contains("Private-Key: (2048 bit"), "{text}");

    // Ours → OpenSSL.
    let (key, dk) = data_key();
    write(
        dir,
        "ct1.bin",
        &ours
            .wrap(&key, &EncryptionContext::new())
            .unwrap()
            .ciphertext,
    );
    let mut args = vec![
        "pkeyutl", "-decrypt", "-inkey", "priv.pem", "-in", "ct1.bin",
    ];
    args.extend(OAEP_SHA256);
    assert_eq!(openssl(dir, &args), dk);

    // OpenSSL → ours.
    write(dir, "dk.bin", &dk);
    let mut args = vec![
        "pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "dk.bin", "-out", "ct2.bin",
    ];
    args.extend(OAEP_SHA256);
    openssl(dir, &args);
    let wrapped = stanza(
        WrapMethod::RsaOaepSha256,
        ours.fingerprint(),
        read(dir, "ct2.bin"),
    );
    assert_eq!(
        ours.unwrap(&wrapped, &EncryptionContext::new())
            .unwrap()
            .unwrap()
            .expose_secret(),
        &dk[..]
    );
}

#[test]
fn rsa_every_openssl_encoding_loads_with_one_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    openssl_rsa_key(dir, "2048");
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "priv.pem",
            "-traditional",
            "-out",
            "pkcs1.pem",
        ],
    );
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "priv.pem",
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "pkcs1.der",
        ],
    );
    openssl(
        dir,
        &[
            "pkey",
            "-in",
            "priv.pem",
            "-outform",
            "DER",
            "-out",
            "pkcs8.der",
        ],
    );
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "priv.pem",
            "-RSAPublicKey_out",
            "-out",
            "pkcs1pub.pem",
        ],
    );
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "priv.pem",
            "-RSAPublicKey_out",
            "-outform",
            "DER",
            "-out",
            "pkcs1pub.der",
        ],
    );
    openssl(
        dir,
        &[
            "pkey", "-in", "priv.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
        ],
    );
    assert!(
        String::from_utf8(read(dir, "pkcs1.pem"))
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    assert!(
        String::from_utf8(read(dir, "pkcs1pub.pem"))
            .unwrap()
            .starts_with("-----BEGIN RSA PUBLIC KEY-----")
    );

    let reference = RsaWrapper::from_private_key(&read(dir, "priv.pem"))
        .unwrap()
        .fingerprint();
    for name in ["pkcs1.pem", "pkcs1.der", "pkcs8.der"] {
        let w = RsaWrapper::from_private_key(&read(dir, name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(w.can_unwrap(), "{name}");
        assert_eq!(w.fingerprint(), reference, "{name}");
        assert_eq!(
            RsaWrapper::from_key(&read(dir, name))
                .unwrap()
                .fingerprint(),
            reference,
            "{name}"
        );
    }
    for name in ["pub.pem", "pub.der", "pkcs1pub.pem", "pkcs1pub.der"] {
        let w =
            RsaWrapper::from_public_key(&read(dir, name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!w.can_unwrap(), "{name}");
        assert_eq!(w.fingerprint(), reference, "{name}");
        assert!(
            !RsaWrapper::from_key(&read(dir, name)).unwrap().can_unwrap(),
            "{name}"
        );
    }
    // A public key is not a private key.
    assert!(RsaWrapper::from_private_key(&read(dir, "pub.pem")).is_err());
}

#[test]
fn rsa_keys_under_2048_bits_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    openssl_rsa_key(dir, "1024");
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "priv.pem",
            "-traditional",
            "-out",
            "pkcs1.pem",
        ],
    );
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "priv.pem",
            "-RSAPublicKey_out",
            "-out",
            "pkcs1pub.pem",
        ],
    );
    for (name, private) in [
        ("priv.pem", true),
        ("pkcs1.pem", true),
        ("pub.pem", false),
        ("pkcs1pub.pem", false),
    ] {
        let result = if private {
            RsaWrapper::from_private_key(&read(dir, name))
        } else {
            RsaWrapper::from_public_key(&read(dir, name))
        };
        match result {
            Err(err @ WrapError::Unsupported(_)) => {
                assert!(err.to_string().contains("2048"), "{name}: {err}")
            }
            other => panic!("{name}: expected a clear refusal, got {other:?}"),
        }
    }
}

// ------------------------------------------------------------------------------------ SM2

fn openssl_sm2_key(dir: &Path) {
    openssl(dir, &["genpkey", "-algorithm", "SM2", "-out", "sm2.pem"]);
    openssl(
        dir,
        &["pkey", "-in", "sm2.pem", "-pubout", "-out", "sm2pub.pem"],
    );
}

#[test]
fn sm2_openssl_encrypts_with_its_key_we_unwrap() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    openssl_sm2_key(dir);
    let (_, dk) = data_key();
    write(dir, "dk.bin", &dk);
    openssl(
        dir,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "sm2pub.pem",
            "-in",
            "dk.bin",
            "-out",
            "ct.bin",
        ],
    );
    let ct = read(dir, "ct.bin");
    assert_eq!(ct[0], 0x30, "OpenSSL writes SM2 ciphertexts as DER");

    let private = Sm2Wrapper::from_private_key(&read(dir, "sm2.pem")).unwrap();
    let public = Sm2Wrapper::from_public_key(&read(dir, "sm2pub.pem")).unwrap();
    let spki_der = openssl(
        dir,
        &["pkey", "-pubin", "-in", "sm2pub.pem", "-outform", "DER"],
    );
    assert_eq!(public.fingerprint(), sha256(&spki_der));
    assert_eq!(private.fingerprint(), public.fingerprint());

    let wrapped = stanza(WrapMethod::Sm2, private.fingerprint(), ct);
    let ctx = EncryptionContext::new();
    assert_eq!(
        private
            .unwrap(&wrapped, &ctx)
            .unwrap()
            .unwrap()
            .expose_secret(),
        &dk[..]
    );
    assert!(matches!(
        public.unwrap(&wrapped, &ctx),
        Err(WrapError::NoPrivateKey)
    ));
}

#[test]
fn sm2_we_wrap_for_an_openssl_key_openssl_decrypts() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    openssl_sm2_key(dir);
    let (key, dk) = data_key();
    let public = Sm2Wrapper::from_public_key(&read(dir, "sm2pub.pem")).unwrap();
    let wrapped = public.wrap(&key, &EncryptionContext::new()).unwrap();
    assert_eq!(wrapped.method, WrapMethod::Sm2);
    assert_eq!(wrapped.ciphertext[0], 0x30, "C1C3C2 DER");
    // Tencent's AsymmetricSm2Decrypt takes at most 256 bytes of ciphertext.
    assert!(wrapped.ciphertext.len() <= 256);
    write(dir, "ct.bin", &wrapped.ciphertext);
    assert_eq!(
        openssl(
            dir,
            &["pkeyutl", "-decrypt", "-inkey", "sm2.pem", "-in", "ct.bin"]
        ),
        dk
    );
}

#[test]
fn sm2_key_generated_by_us_works_with_openssl_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let ours = Sm2Wrapper::generate().unwrap();
    write(
        dir,
        "sm2.pem",
        ours.private_key_pem().unwrap().unwrap().as_bytes(),
    );
    write(dir, "sm2pub.pem", ours.public_key_pem().unwrap().as_bytes());
    let text =
        String::from_utf8(openssl(dir, &["pkey", "-in", "sm2.pem", "-noout", "-text"])).unwrap();
    assert!(text.contains("SM2"), "{text}");

    let (key, dk) = data_key();
    write(
        dir,
        "ct1.bin",
        &ours
            .wrap(&key, &EncryptionContext::new())
            .unwrap()
            .ciphertext,
    );
    assert_eq!(
        openssl(
            dir,
            &["pkeyutl", "-decrypt", "-inkey", "sm2.pem", "-in", "ct1.bin"]
        ),
        dk
    );

    write(dir, "dk.bin", &dk);
    openssl(
        dir,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "sm2pub.pem",
            "-in",
            "dk.bin",
            "-out",
            "ct2.bin",
        ],
    );
    let wrapped = stanza(WrapMethod::Sm2, ours.fingerprint(), read(dir, "ct2.bin"));
    assert_eq!(
        ours.unwrap(&wrapped, &EncryptionContext::new())
            .unwrap()
            .unwrap()
            .expose_secret(),
        &dk[..]
    );
}

#[test]
fn sm2_every_openssl_encoding_loads_with_one_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    openssl_sm2_key(dir);
    openssl(
        dir,
        &[
            "pkey", "-in", "sm2.pem", "-outform", "DER", "-out", "sm2.der",
        ],
    );
    openssl(dir, &["ec", "-in", "sm2.pem", "-out", "sec1.pem"]);
    openssl(
        dir,
        &[
            "ec", "-in", "sm2.pem", "-outform", "DER", "-out", "sec1.der",
        ],
    );
    openssl(
        dir,
        &[
            "pkey",
            "-in",
            "sm2.pem",
            "-pubout",
            "-outform",
            "DER",
            "-out",
            "sm2pub.der",
        ],
    );
    // `openssl ecparam -genkey` style: parameters block before the key.
    openssl(dir, &["ecparam", "-name", "SM2", "-out", "params.pem"]);
    let with_params = [read(dir, "params.pem"), read(dir, "sec1.pem")].concat();

    let reference = Sm2Wrapper::from_private_key(&read(dir, "sm2.pem"))
        .unwrap()
        .fingerprint();
    for (name, bytes) in [
        ("sm2.der", read(dir, "sm2.der")),
        ("sec1.pem", read(dir, "sec1.pem")),
        ("sec1.der", read(dir, "sec1.der")),
        ("params+sec1.pem", with_params),
    ] {
        let w = Sm2Wrapper::from_private_key(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(w.can_unwrap(), "{name}");
        assert_eq!(w.fingerprint(), reference, "{name}");
        assert_eq!(
            Sm2Wrapper::from_key(&bytes).unwrap().fingerprint(),
            reference,
            "{name}"
        );
    }
    for name in ["sm2pub.pem", "sm2pub.der"] {
        let w =
            Sm2Wrapper::from_public_key(&read(dir, name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!w.can_unwrap(), "{name}");
        assert_eq!(w.fingerprint(), reference, "{name}");
    }
}

#[test]
fn keys_of_the_other_algorithm_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    openssl_rsa_key(dir, "2048");
    openssl_sm2_key(dir);
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "p256.pem",
        ],
    );
    assert!(Sm2Wrapper::from_private_key(&read(dir, "priv.pem")).is_err());
    assert!(Sm2Wrapper::from_public_key(&read(dir, "pub.pem")).is_err());
    assert!(Sm2Wrapper::from_private_key(&read(dir, "p256.pem")).is_err());
    assert!(RsaWrapper::from_private_key(&read(dir, "sm2.pem")).is_err());
    assert!(RsaWrapper::from_public_key(&read(dir, "sm2pub.pem")).is_err());
}

/// `LocalWrapper` (what `tkms --recipient/--identity` use) recognises the algorithm of every
/// key file OpenSSL writes, and keeps the specific refusals.
#[test]
fn local_wrapper_recognises_every_openssl_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    openssl_rsa_key(dir, "2048");
    openssl_sm2_key(dir);
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "priv.pem",
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "pkcs1.der",
        ],
    );
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "priv.pem",
            "-RSAPublicKey_out",
            "-out",
            "pkcs1pub.pem",
        ],
    );
    openssl(
        dir,
        &[
            "ec", "-in", "sm2.pem", "-outform", "DER", "-out", "sec1.der",
        ],
    );
    openssl(
        dir,
        &[
            "pkey",
            "-in",
            "sm2.pem",
            "-pubout",
            "-outform",
            "DER",
            "-out",
            "sm2pub.der",
        ],
    );
    let rsa = RsaWrapper::from_private_key(&read(dir, "priv.pem"))
        .unwrap()
        .key_ref();
    let sm2 = Sm2Wrapper::from_private_key(&read(dir, "sm2.pem"))
        .unwrap()
        .key_ref();
    for (name, private, is_sm2) in [
        ("priv.pem", true, false),
        ("pkcs1.der", true, false),
        ("pub.pem", false, false),
        ("pkcs1pub.pem", false, false),
        ("sm2.pem", true, true),
        ("sec1.der", true, true),
        ("sm2pub.pem", false, true),
        ("sm2pub.der", false, true),
    ] {
        let bytes = read(dir, name);
        let w = LocalWrapper::from_key(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(w.is_sm2(), is_sm2, "{name}");
        assert_eq!(w.can_unwrap(), private, "{name}");
        assert_eq!(
            w.key_ref(),
            if is_sm2 { sm2.clone() } else { rsa.clone() },
            "{name}"
        );
        let strict = if private {
            LocalWrapper::from_private_key(&bytes)
        } else {
            LocalWrapper::from_public_key(&bytes)
        };
        assert!(strict.is_ok(), "{name}");
    }
    // Round trip through the enum.
    let identity = LocalWrapper::from_private_key(&read(dir, "sm2.pem")).unwrap();
    let recipient = LocalWrapper::from_public_key(&read(dir, "sm2pub.pem")).unwrap();
    let key = DataKey::generate();
    let wrapped = recipient.wrap(&key, &EncryptionContext::new()).unwrap();
    assert_eq!(wrapped.method, WrapMethod::Sm2);
    let back = identity
        .unwrap(&wrapped, &EncryptionContext::new())
        .unwrap()
        .unwrap();
    assert_eq!(back.expose_secret(), key.expose_secret());

    // Other algorithms and small RSA keys: specific refusals.
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "p256.pem",
        ],
    );
    assert!(LocalWrapper::from_key(&read(dir, "p256.pem")).is_err());
    openssl(dir, &["genpkey", "-algorithm", "ED25519", "-out", "ed.pem"]);
    assert!(matches!(
        LocalWrapper::from_key(&read(dir, "ed.pem")),
        Err(WrapError::Unsupported(_))
    ));
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "small.pem",
        ],
    );
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "small.pem",
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "small.der",
        ],
    );
    for name in ["small.pem", "small.der"] {
        match LocalWrapper::from_key(&read(dir, name)) {
            Err(err @ WrapError::Unsupported(_)) => {
                assert!(err.to_string().contains("2048"), "{name}: {err}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}
