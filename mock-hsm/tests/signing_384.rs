//! The rest of ListAlgorithms' signing keys (issue 13 item 3): ASYMMETRIC_SIGN_VERIFY_RSA_3072
//! (RSA_PSS_SHA_256, RSA_PKCS1_SHA_256) and ASYMMETRIC_SIGN_VERIFY_ECDSA384 (ECDSA384_SHA384),
//! their signatures checked by OpenSSL 3.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/openssl.rs"]
mod openssl;
#[path = "support/kms.rs"]
mod support;

use openssl::OpenSsl;
use serde_json::json;
use sha2::Digest as _;
use support::{Kms, b64, unb64};

#[test]
fn rsa_3072_and_ecdsa_384_signatures_verify_with_openssl() {
    let kms = Kms::new();
    let ssl = OpenSsl::new();
    let message = b"the message to sign".to_vec();
    ssl.write("msg", &message);
    for (usage, algorithm, bits, digest) in [
        (
            "ASYMMETRIC_SIGN_VERIFY_RSA_3072",
            "RSA_PSS_SHA_256",
            "3072 bit",
            sha2::Sha256::digest(&message).to_vec(),
        ),
        (
            "ASYMMETRIC_SIGN_VERIFY_RSA_3072",
            "RSA_PKCS1_SHA_256",
            "3072 bit",
            sha2::Sha256::digest(&message).to_vec(),
        ),
        (
            "ASYMMETRIC_SIGN_VERIFY_ECDSA384",
            "ECDSA384_SHA384",
            "384 bit",
            sha2::Sha384::digest(&message).to_vec(),
        ),
    ] {
        let id = kms.create(&format!("k-{algorithm}"), usage);
        let v = kms.ok("GetPublicKey", json!({"KeyId": id}));
        ssl.write("pub.pem", v["PublicKeyPem"].as_str().unwrap().as_bytes());
        let text =
            String::from_utf8(ssl.run(&["pkey", "-pubin", "-in", "pub.pem", "-noout", "-text"]))
                .unwrap();
        assert!(text.contains(bits), "{usage}: {text}");
        for (message_type, input) in [("RAW", &message), ("DIGEST", &digest)] {
            let v = kms.ok(
                "SignByAsymmetricKey",
                json!({"KeyId": id, "Algorithm": algorithm, "Message": b64(input), "MessageType": message_type}),
            );
            let sig = unb64(v["Signature"].as_str().unwrap());
            ssl.write("sig", &sig);
            let mut args = vec![
                "dgst",
                if algorithm == "ECDSA384_SHA384" {
                    "-sha384"
                } else {
                    "-sha256"
                },
                "-verify",
                "pub.pem",
                "-signature",
                "sig",
            ];
            if algorithm == "RSA_PSS_SHA_256" {
                args.extend([
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:-1",
                ]);
            }
            args.push("msg");
            let out = String::from_utf8(ssl.run(&args)).unwrap();
            assert!(
                out.contains("Verified"),
                "{algorithm} {message_type}: {out}"
            );
            if algorithm == "RSA_PSS_SHA_256" || algorithm == "RSA_PKCS1_SHA_256" {
                assert_eq!(sig.len(), 384, "a 3072-bit signature");
            } else {
                assert_eq!(sig[0], 0x30, "DER SEQUENCE{{r,s}}");
            }
            let verify = |msg: &[u8]| {
                kms.ok(
                    "VerifyByAsymmetricKey",
                    json!({"KeyId": id, "Algorithm": algorithm, "Message": b64(msg), "MessageType": message_type, "SignatureValue": b64(&sig)}),
                )["SignatureValid"]
                    .clone()
            };
            assert_eq!(verify(input), json!(true));
            let mut changed = input.clone();
            changed[0] ^= 1;
            assert_eq!(verify(&changed), json!(false));
        }
    }
}

#[test]
fn ecdsa_384_digest_is_sha384_and_algorithms_must_fit() {
    let kms = Kms::new();
    let ecdsa = kms.create("p384", "ASYMMETRIC_SIGN_VERIFY_ECDSA384");
    let rsa = kms.create("rsa3072", "ASYMMETRIC_SIGN_VERIFY_RSA_3072");
    for len in [32, 47, 49] {
        assert_eq!(
            kms.code(
                "SignByAsymmetricKey",
                json!({"KeyId": ecdsa, "Algorithm": "ECDSA384_SHA384", "Message": b64(&vec![1; len]), "MessageType": "DIGEST"})
            ),
            "InvalidParameter",
            "{len}-byte digest"
        );
    }
    for (key, algorithm) in [
        (&ecdsa, "ECC_P256_R1"),
        (&ecdsa, "RSA_PSS_SHA_256"),
        (&rsa, "ECDSA384_SHA384"),
        (&rsa, "SM2DSA"),
    ] {
        assert_eq!(
            kms.code(
                "SignByAsymmetricKey",
                json!({"KeyId": key, "Algorithm": algorithm, "Message": b64(b"m")})
            ),
            "InvalidParameterValue",
            "{algorithm}"
        );
    }
    let p256 = kms.create("p256", "ASYMMETRIC_SIGN_VERIFY_ECC");
    assert_eq!(
        kms.code(
            "SignByAsymmetricKey",
            json!({"KeyId": p256, "Algorithm": "ECDSA384_SHA384", "Message": b64(b"m")})
        ),
        "InvalidParameterValue"
    );
    kms.ok("DisableKey", json!({"KeyId": ecdsa}));
    assert_eq!(
        kms.code(
            "SignByAsymmetricKey",
            json!({"KeyId": ecdsa, "Algorithm": "ECDSA384_SHA384", "Message": b64(b"m")})
        ),
        kms.code("GetPublicKey", json!({"KeyId": ecdsa}))
    );
}
