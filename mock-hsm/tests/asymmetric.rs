//! Asymmetric CMKs: GetPublicKey, AsymmetricRsaDecrypt, AsymmetricSm2Decrypt, Sign/Verify, and
//! EncryptionPublicKey sealing, all checked against OpenSSL 3.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/openssl.rs"]
mod openssl;
#[path = "support/kms.rs"]
mod support;

use openssl::{OpenSsl, RSA_PADDINGS};
use serde_json::json;
use support::{Kms, b64, unb64};

fn public_pem(kms: &Kms, id: &str) -> String {
    let v = kms.ok("GetPublicKey", json!({"KeyId": id}));
    assert_eq!(v["KeyId"], json!(id));
    let pem = v["PublicKeyPem"].as_str().unwrap().to_owned();
    let der = unb64(v["PublicKey"].as_str().unwrap());
    assert!(
        pem.starts_with("-----BEGIN PUBLIC KEY-----\n")
            && pem.ends_with("-----END PUBLIC KEY-----\n")
    );
    for line in pem.lines() {
        assert!(line.len() <= 64, "PEM lines are at most 64 characters");
    }
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(unb64(&body), der, "PEM and PublicKey carry the same DER");
    pem
}

#[test]
fn get_public_key_formats() {
    let kms = Kms::new();
    let sm2 = kms.create("sm2", "ASYMMETRIC_DECRYPT_SM2");
    let v = kms.ok("GetPublicKey", json!({"KeyId": sm2}));
    assert!(
        v["PublicKey"]
            .as_str()
            .unwrap()
            .starts_with("MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAE"),
        "SM2 SPKI with the SM2 curve OID"
    );
    let rsa = kms.create("rsa", "ASYMMETRIC_DECRYPT_RSA_2048");
    assert!(
        kms.ok("GetPublicKey", json!({"KeyId": rsa}))["PublicKey"]
            .as_str()
            .unwrap()
            .starts_with("MIIBIjANBgkqhkiG9w0BAQEF")
    );
    let ssl = OpenSsl::new();
    for id in [&sm2, &rsa, &kms.create("ecc", "ASYMMETRIC_SIGN_VERIFY_ECC")] {
        ssl.write("pub.pem", public_pem(&kms, id).as_bytes());
        ssl.run(&["pkey", "-pubin", "-in", "pub.pem", "-noout"]);
    }
    kms.ok("DisableKey", json!({"KeyId": rsa}));
    assert_eq!(
        kms.code("GetPublicKey", json!({"KeyId": rsa})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
}

#[test]
fn openssl_rsa_encrypt_then_asymmetric_rsa_decrypt() {
    let kms = Kms::new();
    let id = kms.create("rsa", "ASYMMETRIC_DECRYPT_RSA_2048");
    let ssl = OpenSsl::new();
    ssl.write("pub.pem", public_pem(&kms, &id).as_bytes());
    ssl.write("pt", b"a 32-byte data key for RSA test!");
    for (algorithm, opts) in RSA_PADDINGS {
        let mut args = vec![
            "pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "pt", "-out", "ct",
        ];
        args.extend_from_slice(opts);
        ssl.run(&args);
        let ct = ssl.read("ct");
        let v = kms.ok(
            "AsymmetricRsaDecrypt",
            json!({"KeyId": id, "Ciphertext": b64(&ct), "Algorithm": algorithm}),
        );
        assert_eq!(
            unb64(v["Plaintext"].as_str().unwrap()),
            b"a 32-byte data key for RSA test!",
            "{algorithm}"
        );
        assert_eq!(v["KeyId"], json!(id));
        // The wrong padding is an opaque decryption failure.
        let other = if algorithm == "RSAES_OAEP_SHA_256" {
            "RSAES_OAEP_SHA_1"
        } else {
            "RSAES_OAEP_SHA_256"
        };
        assert_eq!(
            kms.code(
                "AsymmetricRsaDecrypt",
                json!({"KeyId": id, "Ciphertext": b64(&ct), "Algorithm": other})
            ),
            "FailedOperation.DecryptError"
        );
    }
    assert_eq!(
        kms.code(
            "AsymmetricRsaDecrypt",
            json!({"KeyId": id, "Ciphertext": "AAAA", "Algorithm": "RSA_RAW"})
        ),
        "InvalidParameter"
    );
    let sm2 = kms.create("sm2", "ASYMMETRIC_DECRYPT_SM2");
    assert_eq!(
        kms.code(
            "AsymmetricRsaDecrypt",
            json!({"KeyId": sm2, "Ciphertext": "AAAA", "Algorithm": "RSAES_OAEP_SHA_256"})
        ),
        "InvalidParameterValue.InvalidKeyUsage"
    );
    kms.ok("DisableKey", json!({"KeyId": id}));
    assert_eq!(
        kms.code(
            "AsymmetricRsaDecrypt",
            json!({"KeyId": id, "Ciphertext": "AAAA", "Algorithm": "RSAES_OAEP_SHA_256"})
        ),
        "ResourceUnavailable.CmkStateNotSupport"
    );
}

#[test]
fn openssl_sm2_encrypt_then_asymmetric_sm2_decrypt() {
    let kms = Kms::new();
    let id = kms.create("sm2", "ASYMMETRIC_DECRYPT_SM2");
    let ssl = OpenSsl::new();
    ssl.write("pub.pem", public_pem(&kms, &id).as_bytes());
    ssl.write("pt", b"sm2 plaintext");
    ssl.run(&[
        "pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "pt", "-out", "ct",
    ]);
    let ct = ssl.read("ct");
    assert_eq!(ct[0], 0x30, "OpenSSL writes C1C3C2 ASN.1");
    let v = kms.ok(
        "AsymmetricSm2Decrypt",
        json!({"KeyId": id, "Ciphertext": b64(&ct)}),
    );
    assert_eq!(unb64(v["Plaintext"].as_str().unwrap()), b"sm2 plaintext");
    let mut bad = ct.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        kms.code(
            "AsymmetricSm2Decrypt",
            json!({"KeyId": id, "Ciphertext": b64(&bad)})
        ),
        "FailedOperation.DecryptError"
    );
    assert_eq!(
        kms.code(
            "AsymmetricSm2Decrypt",
            json!({"KeyId": id, "Ciphertext": b64(&[0x30; 257])})
        ),
        "InvalidParameter"
    );
    assert_eq!(
        kms.code(
            "AsymmetricSm2Decrypt",
            json!({"KeyId": id, "Ciphertext": "%%%"})
        ),
        "InvalidParameter"
    );
}

#[test]
fn signatures_verify_with_openssl() {
    let kms = Kms::new();
    let ssl = OpenSsl::new();
    let message = b"the message to sign".to_vec();
    ssl.write("msg", &message);
    let sha256 = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&message).to_vec()
    };
    for (usage, algorithm) in [
        ("ASYMMETRIC_SIGN_VERIFY_SM2", "SM2DSA"),
        ("ASYMMETRIC_SIGN_VERIFY_ECC", "ECC_P256_R1"),
        ("ASYMMETRIC_SIGN_VERIFY_RSA_2048", "RSA_PSS_SHA_256"),
        ("ASYMMETRIC_SIGN_VERIFY_RSA_2048", "RSA_PKCS1_SHA_256"),
    ] {
        let id = kms.create(&format!("s{}", algorithm.len()), usage);
        let pem = public_pem(&kms, &id);
        ssl.write("pub.pem", pem.as_bytes());
        let digest = if algorithm == "SM2DSA" {
            sm2_e(&pem, &message)
        } else {
            sha256.clone()
        };
        for (message_type, input) in [("RAW", &message), ("DIGEST", &digest)] {
            let v = kms.ok(
                "SignByAsymmetricKey",
                json!({"KeyId": id, "Algorithm": algorithm, "Message": b64(input), "MessageType": message_type}),
            );
            let sig = unb64(v["Signature"].as_str().unwrap());
            if algorithm == "SM2DSA" || algorithm == "ECC_P256_R1" {
                assert_eq!(sig[0], 0x30, "DER SEQUENCE{{r,s}}");
            }
            ssl.write("sig", &sig);
            let verify: Vec<&str> = match algorithm {
                "SM2DSA" => vec![
                    "pkeyutl",
                    "-verify",
                    "-pubin",
                    "-inkey",
                    "pub.pem",
                    "-rawin",
                    "-digest",
                    "sm3",
                    "-pkeyopt",
                    "distid:1234567812345678",
                    "-in",
                    "msg",
                    "-sigfile",
                    "sig",
                ],
                "RSA_PSS_SHA_256" => vec![
                    "dgst",
                    "-sha256",
                    "-verify",
                    "pub.pem",
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:-1",
                    "-signature",
                    "sig",
                    "msg",
                ],
                _ => vec![
                    "dgst",
                    "-sha256",
                    "-verify",
                    "pub.pem",
                    "-signature",
                    "sig",
                    "msg",
                ],
            };
            let out = String::from_utf8(ssl.run(&verify)).unwrap();
            assert!(
                out.contains("Verified"),
                "{algorithm} {message_type}: {out}"
            );
            // VerifyByAsymmetricKey agrees, and rejects a changed message.
            let verify = |msg: &[u8]| {
                kms.ok(
                    "VerifyByAsymmetricKey",
                    json!({"KeyId": id, "Algorithm": algorithm, "Message": b64(msg), "MessageType": message_type, "SignatureValue": b64(&sig)}),
                )["SignatureValid"]
                    .clone()
            };
            assert_eq!(verify(input), json!(true), "{algorithm} {message_type}");
            let mut changed = input.clone();
            changed[0] ^= 1;
            assert_eq!(verify(&changed), json!(false), "{algorithm} {message_type}");
        }
        // A malformed signature is SignatureValid=false, not an error.
        assert_eq!(
            kms.ok("VerifyByAsymmetricKey", json!({"KeyId": id, "Algorithm": algorithm, "Message": b64(&message), "SignatureValue": b64(b"garbage")}))["SignatureValid"],
            false
        );
        assert_eq!(
            kms.code("SignByAsymmetricKey", json!({"KeyId": id, "Algorithm": algorithm, "Message": b64(&[1; 31]), "MessageType": "DIGEST"})),
            "InvalidParameter"
        );
        assert_eq!(
            kms.code(
                "SignByAsymmetricKey",
                json!({"KeyId": id, "Algorithm": algorithm, "Message": b64(&[1; 4097])})
            ),
            "InvalidParameter"
        );
    }
    let ecc = kms.create("ecc2", "ASYMMETRIC_SIGN_VERIFY_ECC");
    assert_eq!(
        kms.code(
            "SignByAsymmetricKey",
            json!({"KeyId": ecc, "Algorithm": "SM2DSA", "Message": "aGk="})
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        kms.code(
            "SignByAsymmetricKey",
            json!({"KeyId": ecc, "Algorithm": "ECC_P256_R1"})
        ),
        "MissingParameter"
    );
    let dec = kms.create("dec", "ASYMMETRIC_DECRYPT_SM2");
    assert_eq!(
        kms.code(
            "SignByAsymmetricKey",
            json!({"KeyId": dec, "Algorithm": "SM2DSA", "Message": "aGk="})
        ),
        "InvalidParameterValue.InvalidKeyUsage"
    );
}

#[test]
fn ecdsa_signatures_are_strict_der() {
    // OpenSSL's asn1parse re-encodes the signature byte for byte: strict DER, no padding quirks.
    let kms = Kms::new();
    let ssl = OpenSsl::new();
    let id = kms.create("ecc", "ASYMMETRIC_SIGN_VERIFY_ECC");
    let v = kms.ok(
        "SignByAsymmetricKey",
        json!({"KeyId": id, "Algorithm": "ECC_P256_R1", "Message": b64(b"m")}),
    );
    let sig = unb64(v["Signature"].as_str().unwrap());
    ssl.write("sig", &sig);
    ssl.run(&[
        "asn1parse",
        "-inform",
        "DER",
        "-in",
        "sig",
        "-out",
        "reencoded",
        "-noout",
    ]);
    assert_eq!(ssl.read("reencoded"), sig);
}

/// e = SM3(ZA || M) with the default id, ZA = SM3(ENTL || ID || a || b || xG || yG || xA || yA).
fn sm2_e(pem: &str, message: &[u8]) -> Vec<u8> {
    use sm3::Digest as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = unb64(&body);
    let point = &der[der.len() - 64..];
    let hex = |s: &str| hex::decode(s).unwrap();
    let mut za = sm3::Sm3::new();
    za.update([0x00, 0x80]);
    za.update(b"1234567812345678");
    za.update(hex(
        "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC",
    ));
    za.update(hex(
        "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93",
    ));
    za.update(hex(
        "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7",
    ));
    za.update(hex(
        "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
    ));
    za.update(point);
    let za = za.finalize();
    let mut e = sm3::Sm3::new();
    e.update(za);
    e.update(message);
    e.finalize().to_vec()
}

#[test]
fn decrypt_and_generate_data_key_seal_to_the_callers_key() {
    let kms = Kms::new();
    let id = kms.create_sym("k");
    let blob = kms.encrypt(&id, b"sealed for you", None);
    let ssl = OpenSsl::new();
    ssl.run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "rsa.pem",
    ]);
    let rsa_pub = String::from_utf8(ssl.run(&["pkey", "-in", "rsa.pem", "-pubout"])).unwrap();
    ssl.run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:SM2",
        "-out",
        "sm2.pem",
    ]);
    let sm2_pub = String::from_utf8(ssl.run(&["pkey", "-in", "sm2.pem", "-pubout"])).unwrap();

    for (algorithm, opts) in RSA_PADDINGS {
        let v = kms.ok("Decrypt", json!({"CiphertextBlob": blob, "EncryptionPublicKey": rsa_pub, "EncryptionAlgorithm": algorithm}));
        let sealed = unb64(v["Plaintext"].as_str().unwrap());
        assert_ne!(sealed, b"sealed for you", "never in clear");
        assert_eq!(sealed.len(), 256);
        ssl.write("sealed", &sealed);
        let mut args = vec!["pkeyutl", "-decrypt", "-inkey", "rsa.pem", "-in", "sealed"];
        args.extend_from_slice(opts);
        assert_eq!(ssl.run(&args), b"sealed for you", "{algorithm}");
    }
    // SM2 with ASN.1 output opens with OpenSSL.
    let v = kms.ok("Decrypt", json!({"CiphertextBlob": blob, "EncryptionPublicKey": sm2_pub, "EncryptionAlgorithm": "SM2_C1C3C2_ASN1"}));
    ssl.write("sealed", &unb64(v["Plaintext"].as_str().unwrap()));
    assert_eq!(
        ssl.run(&["pkeyutl", "-decrypt", "-inkey", "sm2.pem", "-in", "sealed"]),
        b"sealed for you"
    );
    // Default SM2: raw C1C3C2 (04 || x || y || C3 || C2); re-encoded as ASN.1 it opens with OpenSSL.
    let v = kms.ok(
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionPublicKey": sm2_pub}),
    );
    let raw = unb64(v["Plaintext"].as_str().unwrap());
    assert_eq!(raw[0], 0x04);
    assert_eq!(raw.len(), 65 + 32 + b"sealed for you".len());
    ssl.write("sealed", &raw_c1c3c2_to_der(&raw));
    assert_eq!(
        ssl.run(&["pkeyutl", "-decrypt", "-inkey", "sm2.pem", "-in", "sealed"]),
        b"sealed for you"
    );
    // GenerateDataKey too.
    let v = kms.ok("GenerateDataKey", json!({"KeyId": id, "KeySpec": "AES_256", "EncryptionPublicKey": rsa_pub, "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}));
    ssl.write("sealed", &unb64(v["Plaintext"].as_str().unwrap()));
    let data_key = ssl.run(&[
        "pkeyutl",
        "-decrypt",
        "-inkey",
        "rsa.pem",
        "-in",
        "sealed",
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
    ]);
    assert_eq!(
        kms.decrypt(v["CiphertextBlob"].as_str().unwrap(), None)
            .unwrap(),
        data_key
    );
    // Mismatches and junk are errors, never the plaintext.
    assert_eq!(
        kms.code(
            "Decrypt",
            json!({"CiphertextBlob": blob, "EncryptionPublicKey": rsa_pub})
        ),
        "InvalidParameter"
    );
    assert_eq!(kms.code("Decrypt", json!({"CiphertextBlob": blob, "EncryptionPublicKey": sm2_pub, "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"})), "InvalidParameter");
    assert_eq!(
        kms.code(
            "Decrypt",
            json!({"CiphertextBlob": blob, "EncryptionPublicKey": "junk"})
        ),
        "InvalidParameter"
    );
    assert_eq!(kms.code("Decrypt", json!({"CiphertextBlob": blob, "EncryptionPublicKey": rsa_pub, "EncryptionAlgorithm": "ROT13"})), "InvalidParameter");
}

/// DER SEQUENCE { INTEGER x, INTEGER y, OCTET STRING C3, OCTET STRING C2 } from raw C1C3C2.
fn raw_c1c3c2_to_der(raw: &[u8]) -> Vec<u8> {
    fn int(bytes: &[u8]) -> Vec<u8> {
        let mut v: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    }
    fn octets(bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![0x04, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }
    let mut body = int(&raw[1..33]);
    body.extend(int(&raw[33..65]));
    body.extend(octets(&raw[65..97]));
    body.extend(octets(&raw[97..]));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}
