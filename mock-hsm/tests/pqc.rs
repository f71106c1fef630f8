//! Post-quantum CMKs (issue 13 item 2): ML-KEM-768 `ASYMMETRIC_Encrypt_Decrypt_Kyber_AES` and
//! ML-DSA-65 `ASYMMETRIC_SIGN_VERIFY_DILITHIUM`; their public keys, the four PostQuantumCrypto
//! actions, state and usage rules, sealing to the caller, and persistence.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/openssl.rs"]
mod openssl;
#[path = "support/kms.rs"]
mod support;

use aws_lc_rs::signature::{ML_DSA_65, UnparsedPublicKey};
use der::Decode as _;
use mock_hsm::HsmConfig;
use openssl::{OpenSsl, rsa_padding_args};
use serde_json::json;
use support::{Kms, b64, unb64};

const KYBER: &str = "ASYMMETRIC_Encrypt_Decrypt_Kyber_AES";
const DILITHIUM: &str = "ASYMMETRIC_SIGN_VERIFY_DILITHIUM";

/// GetPublicKey's SPKI: (algorithm OID, raw key), after checking PEM and DER agree.
fn public_key(kms: &Kms, id: &str) -> (String, Vec<u8>) {
    let v = kms.ok("GetPublicKey", json!({"KeyId": id}));
    let der = unb64(v["PublicKey"].as_str().unwrap());
    let pem = v["PublicKeyPem"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(unb64(&body), der);
    let spki = spki::SubjectPublicKeyInfoRef::from_der(&der).unwrap();
    assert!(spki.algorithm.parameters.is_none(), "no parameters");
    (
        spki.algorithm.oid.to_string(),
        spki.subject_public_key.raw_bytes().to_vec(),
    )
}

fn pq_encrypt(kms: &Kms, id: &str, plaintext: &[u8]) -> String {
    let v = kms.ok(
        "PostQuantumCryptoEncrypt",
        json!({"KeyId": id, "PlainText": b64(plaintext)}),
    );
    assert_eq!(v["KeyId"], json!(id));
    v["CiphertextBlob"].as_str().unwrap().to_owned()
}

fn pq_decrypt(kms: &Kms, blob: &str) -> Vec<u8> {
    let v = kms.ok("PostQuantumCryptoDecrypt", json!({"CiphertextBlob": blob}));
    unb64(v["PlainText"].as_str().unwrap())
}

#[test]
fn kyber_encrypt_decrypt_round_trip() {
    let kms = Kms::new();
    let id = kms.create("kyber", KYBER);
    assert_eq!(kms.meta(&id)["KeyUsage"], json!(KYBER));
    let (oid, ek) = public_key(&kms, &id);
    assert_eq!(
        (oid.as_str(), ek.len()),
        ("2.16.840.1.101.3.4.4.2", 1184),
        "id-alg-ml-kem-768, raw encapsulation key"
    );
    for plaintext in [&b"x"[..], b"post-quantum secret", &[7u8; 4096]] {
        let blob = pq_encrypt(&kms, &id, plaintext);
        assert_eq!(blob.matches("-k-").count(), 2, "Tencent's blob shape");
        assert_eq!(pq_decrypt(&kms, &blob), plaintext);
    }
    // Two encryptions of one plaintext differ (fresh encapsulation and nonce).
    assert_ne!(pq_encrypt(&kms, &id, b"m"), pq_encrypt(&kms, &id, b"m"));
    let blob = pq_encrypt(&kms, &id, b"tamper with me");
    let chunks: Vec<&str> = blob.split("-k-").collect();
    let mut body = unb64(chunks[2]);
    for at in [0, 1087, 1088, body.len() - 1] {
        body[at] ^= 1;
        let bad = format!("{}-k-{}-k-{}", chunks[0], chunks[1], b64(&body));
        assert_eq!(
            kms.code("PostQuantumCryptoDecrypt", json!({"CiphertextBlob": bad})),
            "InvalidParameterValue.InvalidCiphertext",
            "byte {at}"
        );
        body[at] ^= 1;
    }
    for bad in ["", "garbage", &blob[..blob.len() - 8]] {
        assert_eq!(
            kms.code("PostQuantumCryptoDecrypt", json!({"CiphertextBlob": bad})),
            "InvalidParameterValue.InvalidCiphertext"
        );
    }
    // The two blob kinds do not cross: Decrypt refuses a PQ blob and the reverse.
    let sym = kms.create_sym("sym");
    let sym_blob = kms.encrypt(&sym, b"classic", None);
    assert_eq!(
        kms.code("Decrypt", json!({"CiphertextBlob": blob})),
        "InvalidParameterValue.InvalidCiphertext"
    );
    assert_eq!(
        kms.code(
            "PostQuantumCryptoDecrypt",
            json!({"CiphertextBlob": sym_blob})
        ),
        "InvalidParameterValue.InvalidCiphertext"
    );
    assert_eq!(
        kms.code(
            "PostQuantumCryptoEncrypt",
            json!({"KeyId": sym, "PlainText": b64(b"m")})
        ),
        "InvalidParameterValue.InvalidKeyUsage"
    );
    for plaintext in [b64(b""), b64(&[0; 4097]), "not base64!".to_owned()] {
        assert_eq!(
            kms.code(
                "PostQuantumCryptoEncrypt",
                json!({"KeyId": id, "PlainText": plaintext})
            ),
            "InvalidParameterValue.InvalidPlaintext"
        );
    }
    // `Plaintext` (lower-case t) is not the field these actions define: a parameter the action
    // does not define is refused before the missing one is noticed (docs/kms-api.md §5.2).
    assert_eq!(
        kms.code(
            "PostQuantumCryptoEncrypt",
            json!({"KeyId": id, "Plaintext": b64(b"m")})
        ),
        "UnknownParameter"
    );
}

#[test]
fn kyber_key_states_follow_the_common_table() {
    let kms = Kms::new();
    let id = kms.create("kyber", KYBER);
    let blob = pq_encrypt(&kms, &id, b"before");
    kms.ok("DisableKey", json!({"KeyId": id}));
    assert_eq!(
        kms.code(
            "PostQuantumCryptoEncrypt",
            json!({"KeyId": id, "PlainText": b64(b"m")})
        ),
        "ResourceUnavailable.CmkDisabled"
    );
    assert_eq!(
        kms.code("PostQuantumCryptoDecrypt", json!({"CiphertextBlob": blob})),
        "ResourceUnavailable.CmkDisabled"
    );
    kms.ok("EnableKey", json!({"KeyId": id}));
    kms.ok("ArchiveKey", json!({"KeyId": id}));
    assert_eq!(
        kms.code(
            "PostQuantumCryptoEncrypt",
            json!({"KeyId": id, "PlainText": b64(b"m")})
        ),
        "ResourceUnavailable.CmkArchived"
    );
    assert_eq!(
        pq_decrypt(&kms, &blob),
        b"before",
        "Archived still decrypts"
    );
    kms.ok("CancelKeyArchive", json!({"KeyId": id}));
    assert_eq!(
        kms.code("EnableKeyRotation", json!({"KeyId": id})),
        kms.code(
            "EnableKeyRotation",
            json!({"KeyId": kms.create("rsa", "ASYMMETRIC_SIGN_VERIFY_RSA_2048")})
        ),
        "rotation refuses PQ keys as it refuses every asymmetric key"
    );
    kms.ok("DisableKey", json!({"KeyId": id}));
    kms.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    );
    assert_eq!(
        kms.code("PostQuantumCryptoDecrypt", json!({"CiphertextBlob": blob})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    // Another account does not see the key.
    let other = kms.account(100_000_000_002);
    assert_eq!(
        other.code("PostQuantumCryptoDecrypt", json!({"CiphertextBlob": blob})),
        "ResourceUnavailable.CmkNotFound"
    );
}

#[test]
fn kyber_decrypt_seals_to_the_callers_key() {
    let kms = Kms::new();
    let id = kms.create("kyber", KYBER);
    let blob = pq_encrypt(&kms, &id, b"sealed for the caller");
    let ssl = OpenSsl::new();
    ssl.run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "key.pem",
    ]);
    ssl.run(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    let pem = String::from_utf8(ssl.read("pub.pem")).unwrap();
    let v = kms.ok(
        "PostQuantumCryptoDecrypt",
        json!({"CiphertextBlob": blob, "EncryptionPublicKey": pem, "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
    );
    let sealed = unb64(v["PlainText"].as_str().unwrap());
    assert_eq!(sealed.len(), 256, "RSA-2048 ciphertext, not the plaintext");
    ssl.write("ct", &sealed);
    let mut args = vec!["pkeyutl", "-decrypt", "-inkey", "key.pem", "-in", "ct"];
    args.extend_from_slice(rsa_padding_args("RSAES_OAEP_SHA_256"));
    let opened = ssl.run(&args);
    assert_eq!(opened, b"sealed for the caller");
    // An RSA key with the default SM2 algorithm is refused, never answered in clear.
    assert_eq!(
        kms.code(
            "PostQuantumCryptoDecrypt",
            json!({"CiphertextBlob": blob, "EncryptionPublicKey": pem})
        ),
        "InvalidParameter"
    );
}

#[test]
fn dilithium_signatures_verify_outside_the_mock() {
    let kms = Kms::new();
    let id = kms.create("dilithium", DILITHIUM);
    let (oid, pk) = public_key(&kms, &id);
    assert_eq!(
        (oid.as_str(), pk.len()),
        ("2.16.840.1.101.3.4.3.18", 1952),
        "id-ml-dsa-65, raw public key"
    );
    let outside = UnparsedPublicKey::new(&ML_DSA_65, &pk);
    for message in [&b""[..], b"sign me", &[9u8; 4096]] {
        let v = kms.ok(
            "PostQuantumCryptoSign",
            json!({"KeyId": id, "Message": b64(message)}),
        );
        let sig = unb64(v["Signature"].as_str().unwrap());
        assert_eq!(sig.len(), 3309, "ML-DSA-65 signature size");
        assert!(outside.verify(message, &sig).is_ok(), "FIPS 204 verify");
        let verify = |msg: &[u8], sig: &[u8]| {
            kms.ok(
                "PostQuantumCryptoVerify",
                json!({"KeyId": id, "Message": b64(msg), "SignatureValue": b64(sig)}),
            )["SignatureValid"]
                .clone()
        };
        assert_eq!(verify(message, &sig), json!(true));
        let mut changed = message.to_vec();
        match changed.first_mut() {
            Some(first) => *first ^= 1,
            None => changed.push(0),
        }
        assert_eq!(verify(&changed, &sig), json!(false));
        assert!(outside.verify(&changed, &sig).is_err());
        assert_eq!(verify(message, &sig[..100]), json!(false), "malformed");
    }
    // A signature by another Dilithium key does not verify.
    let other = kms.create("other", DILITHIUM);
    let foreign = kms.ok(
        "PostQuantumCryptoSign",
        json!({"KeyId": other, "Message": b64(b"m")}),
    )["Signature"]
        .clone();
    assert_eq!(
        kms.ok(
            "PostQuantumCryptoVerify",
            json!({"KeyId": id, "Message": b64(b"m"), "SignatureValue": foreign})
        )["SignatureValid"],
        json!(false)
    );
    assert_eq!(
        kms.code(
            "PostQuantumCryptoSign",
            json!({"KeyId": id, "Message": b64(&[0; 4097])})
        ),
        "InvalidParameter"
    );
    assert_eq!(
        kms.code(
            "PostQuantumCryptoVerify",
            json!({"KeyId": id, "Message": b64(b"m")})
        ),
        "MissingParameter"
    );
}

#[test]
fn dilithium_usage_and_state_rules() {
    let kms = Kms::new();
    let id = kms.create("dilithium", DILITHIUM);
    let rsa = kms.create("rsa", "ASYMMETRIC_SIGN_VERIFY_RSA_2048");
    let kyber = kms.create("kyber", KYBER);
    for key in [&rsa, &kyber] {
        assert_eq!(
            kms.code(
                "PostQuantumCryptoSign",
                json!({"KeyId": key, "Message": b64(b"m")})
            ),
            "InvalidParameterValue.InvalidKeyUsage"
        );
    }
    // The classic actions do not take post-quantum keys.
    assert_eq!(
        kms.code(
            "SignByAsymmetricKey",
            json!({"KeyId": id, "Algorithm": "RSA_PSS_SHA_256", "Message": b64(b"m")})
        ),
        "InvalidParameterValue.InvalidKeyUsage"
    );
    assert_eq!(
        kms.code(
            "PostQuantumCryptoEncrypt",
            json!({"KeyId": id, "PlainText": b64(b"m")})
        ),
        "InvalidParameterValue.InvalidKeyUsage"
    );
    assert_eq!(
        kms.code(
            "PostQuantumCryptoSign",
            json!({"KeyId": "not-a-key-id", "Message": b64(b"m")})
        ),
        "InvalidParameterValue.InvalidKeyId"
    );
    assert_eq!(
        kms.code(
            "PostQuantumCryptoSign",
            json!({"KeyId": "00000000-0000-4000-8000-00000000abcd", "Message": b64(b"m")})
        ),
        "ResourceUnavailable.CmkNotFound"
    );
    kms.ok("DisableKey", json!({"KeyId": id}));
    let sign = kms.code(
        "PostQuantumCryptoSign",
        json!({"KeyId": id, "Message": b64(b"m")}),
    );
    let classic = {
        kms.ok("DisableKey", json!({"KeyId": rsa}));
        kms.code(
            "SignByAsymmetricKey",
            json!({"KeyId": rsa, "Algorithm": "RSA_PSS_SHA_256", "Message": b64(b"m")}),
        )
    };
    assert!(sign.starts_with("ResourceUnavailable."), "{sign}");
    assert_eq!(sign, classic, "one state table for every asymmetric key");
    assert_eq!(
        kms.code(
            "PostQuantumCryptoVerify",
            json!({"KeyId": id, "Message": b64(b"m"), "SignatureValue": b64(b"s")})
        ),
        sign
    );
}

#[test]
fn pq_keys_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (kyber, dilithium, blob, signature, pk);
    {
        let kms = Kms::open(HsmConfig::directory(dir.path()));
        kyber = kms.create("kyber", KYBER);
        dilithium = kms.create("dilithium", DILITHIUM);
        blob = pq_encrypt(&kms, &kyber, b"persisted");
        signature = kms.ok(
            "PostQuantumCryptoSign",
            json!({"KeyId": dilithium, "Message": b64(b"m")}),
        )["Signature"]
            .clone();
        pk = public_key(&kms, &dilithium);
    }
    let kms = Kms::open(HsmConfig::directory(dir.path()));
    assert_eq!(pq_decrypt(&kms, &blob), b"persisted");
    assert_eq!(public_key(&kms, &dilithium), pk);
    assert_eq!(
        kms.ok(
            "PostQuantumCryptoVerify",
            json!({"KeyId": dilithium, "Message": b64(b"m"), "SignatureValue": signature})
        )["SignatureValid"],
        json!(true)
    );
    // The store holds no PQ private key in the clear (docs/key-store.md).
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(pk.1.len()).any(|w| w == pk.1.as_slice()),
            "PQ key material is stored sealed (not even the public half appears)"
        );
    }
}

/// A seed file fixes PQ material: Wycheproof's ML-DSA-65 PKCS#8 (seed form) gives its listed
/// public key, and Wycheproof's ML-KEM-768 decapsulation key its encapsulation key.
#[test]
fn seeded_pq_keys_have_the_known_public_keys() {
    let vectors = |text: &str| -> serde_json::Value { serde_json::from_str(text).unwrap() };
    let dsa = vectors(include_str!("vectors/mldsa_65_sign_seed_test.json"));
    let dsa = &dsa["testGroups"][0];
    let kem = vectors(include_str!(
        "vectors/mlkem_768_semi_expanded_decaps_test.json"
    ));
    let kem = &kem["testGroups"][0]["tests"][0];
    let material = |field: &serde_json::Value| b64(&hex::decode(field.as_str().unwrap()).unwrap());
    let seed = format!(
        r#"version = 1
[[keys]]
key_id = "00000000-0000-4000-8000-0000000000d1"
alias = "dilithium"
key_usage = "{DILITHIUM}"
[[keys.versions]]
version = 1
material = "{}"
[[keys]]
key_id = "00000000-0000-4000-8000-0000000000c1"
alias = "kyber"
key_usage = "{KYBER}"
[[keys.versions]]
version = 1
material = "{}"
"#,
        material(&dsa["privateKeyPkcs8"]),
        material(&kem["dk"]),
    );
    let kms = Kms::new();
    kms.hsm.apply_seed(&seed).unwrap();
    let (_, pk) = public_key(&kms, "00000000-0000-4000-8000-0000000000d1");
    assert_eq!(hex::encode(pk), dsa["publicKey"].as_str().unwrap());
    let (_, ek) = public_key(&kms, "00000000-0000-4000-8000-0000000000c1");
    let dk = hex::decode(kem["dk"].as_str().unwrap()).unwrap();
    assert_eq!(
        ek,
        dk[1152..1152 + 1184],
        "FIPS 203: dk = dk_pke || ek || H(ek) || z"
    );
    let blob = pq_encrypt(&kms, "00000000-0000-4000-8000-0000000000c1", b"golden");
    assert_eq!(pq_decrypt(&kms, &blob), b"golden");
    // Material that is not a valid key of the usage is refused whole.
    let bad = seed.replace(&material(&kem["dk"]), &b64(&dk[..2399]));
    assert!(Kms::new().hsm.apply_seed(&bad).is_err());
}

#[test]
fn list_algorithms_names_exactly_what_the_mock_offers() {
    let kms = Kms::new();
    let v = kms.ok("ListAlgorithms", json!({}));
    let pairs = |field: &str| -> Vec<(String, String)> {
        v[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["KeyUsage"].as_str().unwrap().to_owned(),
                    a["Algorithm"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let asymmetric = pairs("AsymmetricAlgorithms");
    let signing = pairs("AsymmetricSignVerifyAlgorithms");
    assert!(asymmetric.contains(&(KYBER.into(), "Kyber_AES".into())));
    for (usage, algorithm) in [
        ("ASYMMETRIC_SIGN_VERIFY_SM2", "SM2"),
        ("ASYMMETRIC_SIGN_VERIFY_RSA_2048", "RSA_2048"),
        ("ASYMMETRIC_SIGN_VERIFY_ECC", "ECC"),
        ("ASYMMETRIC_SIGN_VERIFY_ECDSA384", "ECDSA384_SHA384"),
        ("ASYMMETRIC_SIGN_VERIFY_RSA_3072", "RSA_3072"),
        (DILITHIUM, "Dilithium"),
    ] {
        assert!(
            signing.contains(&(usage.into(), algorithm.into())),
            "{usage}"
        );
    }
    // Every listed usage can be created and answers GetPublicKey.
    for (i, (usage, _)) in asymmetric.iter().chain(&signing).enumerate() {
        let id = kms.create(&format!("k{i}"), usage);
        kms.ok("GetPublicKey", json!({"KeyId": id}));
    }
    assert_eq!(asymmetric.len() + signing.len(), 9);
}
