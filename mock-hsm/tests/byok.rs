//! BYOK: GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial, with the material
//! wrapped by OpenSSL under the returned RSA-2048 public key.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/openssl.rs"]
mod openssl;
#[path = "support/kms.rs"]
mod support;

use openssl::OpenSsl;
use serde_json::{Value, json};
use support::{DAY, Kms, b64, unb64};

struct Import {
    token: String,
    ssl: OpenSsl,
}

fn parameters(kms: &Kms, id: &str, algorithm: &str) -> (Import, Value) {
    let v = kms.ok(
        "GetParametersForImport",
        json!({"KeyId": id, "WrappingAlgorithm": algorithm, "WrappingKeySpec": "RSA_2048"}),
    );
    let ssl = OpenSsl::new();
    ssl.write("pub.der", &unb64(v["PublicKey"].as_str().unwrap()));
    ssl.run(&[
        "pkey", "-pubin", "-inform", "DER", "-in", "pub.der", "-out", "pub.pem",
    ]);
    (
        Import {
            token: v["ImportToken"].as_str().unwrap().to_owned(),
            ssl,
        },
        v,
    )
}

fn wrap(import: &Import, algorithm: &str, material: &[u8]) -> String {
    import.ssl.write("material", material);
    let mut args = vec![
        "pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "material", "-out", "wrapped",
    ];
    args.extend_from_slice(openssl::rsa_padding_args(algorithm));
    import.ssl.run(&args);
    b64(&import.ssl.read("wrapped"))
}

fn import(
    kms: &Kms,
    id: &str,
    import: &Import,
    wrapped: &str,
    valid_to: u64,
) -> Result<Value, mock_hsm::ApiError> {
    kms.call("ImportKeyMaterial", json!({"KeyId": id, "ImportToken": import.token, "EncryptedKeyMaterial": wrapped, "ValidTo": valid_to}))
}

fn external(kms: &Kms, alias: &str) -> String {
    kms.ok("CreateKey", json!({"Alias": alias, "Type": 2}))["KeyId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Opens a blob with the known SM4 material directly: proves the imported bytes are the key.
fn open_with_known_sm4(blob: &str, key: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let parts: Vec<Vec<u8>> = blob.split("-k-").map(unb64).collect();
    let cipher =
        aes_gcm::AesGcm::<sm4::Sm4, aes_gcm::aead::consts::U12>::new_from_slice(key).unwrap();
    let nonce: [u8; 12] = parts[1].clone().try_into().unwrap();
    let mut aad = parts[0].clone();
    aad.extend_from_slice(&[0, 0]); // the empty context's canonical bytes
    cipher
        .decrypt(
            &nonce.into(),
            Payload {
                msg: &parts[2],
                aad: &aad,
            },
        )
        .unwrap()
}

#[test]
fn byok_round_trip_with_every_wrapping_algorithm() {
    for algorithm in ["RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] {
        let kms = Kms::new();
        let id = external(&kms, "ext");
        let now = kms.hsm.now();
        let (imp, v) = parameters(&kms, &id, algorithm);
        assert_eq!(v["KeyId"], json!(id));
        let valid_to = v["ParametersValidTo"].as_u64().unwrap();
        assert!(valid_to >= now + DAY && valid_to <= now + DAY + 5);
        let material = [0x5au8; 16]; // SM4 material in ap-guangzhou
        import(&kms, &id, &imp, &wrap(&imp, algorithm, &material), 0).unwrap();
        let m = kms.meta(&id);
        assert_eq!(
            (
                m["KeyState"].as_str(),
                m["ValidTo"].as_u64(),
                m["Origin"].as_str()
            ),
            (Some("Enabled"), Some(0), Some("EXTERNAL"))
        );
        let blob = kms.encrypt(&id, b"byok", None);
        assert_eq!(kms.decrypt(&blob, None).unwrap(), b"byok");
        assert_eq!(
            open_with_known_sm4(&blob, &material),
            b"byok",
            "{algorithm}"
        );
    }
}

#[test]
fn byok_errors_and_lifecycle() {
    let kms = Kms::new();
    let normal = kms.create_sym("normal");
    assert_eq!(
        kms.code("GetParametersForImport", json!({"KeyId": normal, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"})),
        "UnsupportedOperation.NotExternalCmk"
    );
    let id = external(&kms, "ext");
    assert_eq!(
        kms.code("GetParametersForImport", json!({"KeyId": id, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_4096"})),
        "InvalidParameter"
    );
    assert_eq!(
        kms.code(
            "GetParametersForImport",
            json!({"KeyId": id, "WrappingAlgorithm": "RSA_RAW", "WrappingKeySpec": "RSA_2048"})
        ),
        "InvalidParameter"
    );
    let alg = "RSAES_OAEP_SHA_256";
    let (imp, _) = parameters(&kms, &id, alg);
    let material = [7u8; 16];
    // Bad wrapping, wrong length, bad ValidTo.
    assert_eq!(
        import(&kms, &id, &imp, &b64(&[1u8; 256]), 0)
            .unwrap_err()
            .code,
        "InvalidParameter.DecryptMaterialError"
    );
    assert_eq!(
        import(&kms, &id, &imp, &wrap(&imp, alg, &[7u8; 32]), 0)
            .unwrap_err()
            .code,
        "InvalidParameterValue.InvalidImportKeyMaterial"
    );
    assert_eq!(
        import(&kms, &id, &imp, &wrap(&imp, alg, &material), 1)
            .unwrap_err()
            .code,
        "InvalidParameter"
    );
    assert_eq!(
        import(&kms, &id, &imp, &wrap(&imp, alg, &material), 2_147_443_201)
            .unwrap_err()
            .code,
        "InvalidParameter"
    );
    // A token of another key.
    let other = external(&kms, "other");
    assert_eq!(
        import(&kms, &other, &imp, &wrap(&imp, alg, &material), 0)
            .unwrap_err()
            .code,
        "InvalidParameter"
    );
    // Import with an expiry.
    let valid_to = kms.hsm.now() + 3600;
    import(&kms, &id, &imp, &wrap(&imp, alg, &material), valid_to).unwrap();
    assert_eq!(kms.meta(&id)["ValidTo"], valid_to);
    let blob = kms.encrypt(&id, b"before", None);
    // Re-import: the same material is fine, different material is MaterialNotMatch.
    import(&kms, &id, &imp, &wrap(&imp, alg, &material), 0).unwrap();
    assert_eq!(
        import(&kms, &id, &imp, &wrap(&imp, alg, &[8u8; 16]), 0)
            .unwrap_err()
            .code,
        "InvalidParameterValue.MaterialNotMatch"
    );
    // External keys do not rotate.
    assert_eq!(
        kms.code("EnableKeyRotation", json!({"KeyId": id})),
        "UnsupportedOperation.ExternalCmkCanNotRotate"
    );
    assert_eq!(
        kms.code("RotateKey", json!({"KeyId": id})),
        "UnsupportedOperation.RotateNotSupported"
    );
    // Delete the material: back to PendingImport, nothing decrypts.
    assert_eq!(
        kms.code("DeleteImportedKeyMaterial", json!({"KeyId": normal})),
        "UnsupportedOperation.NotExternalCmk"
    );
    kms.ok("DeleteImportedKeyMaterial", json!({"KeyId": id}));
    assert_eq!(kms.state(&id), "PendingImport");
    assert_eq!(
        kms.decrypt(&blob, None).unwrap_err().code,
        "ResourceUnavailable.CmkStateNotSupport"
    );
    assert_eq!(
        import(&kms, &id, &imp, &wrap(&imp, alg, &[9u8; 16]), 0)
            .unwrap_err()
            .code,
        "InvalidParameterValue.MaterialNotMatch"
    );
    import(&kms, &id, &imp, &wrap(&imp, alg, &material), 0).unwrap();
    assert_eq!(
        kms.decrypt(&blob, None).unwrap(),
        b"before",
        "the same material decrypts old blobs again"
    );
    // The token expires after 24 hours.
    kms.clock().advance(DAY + 1);
    assert_eq!(
        import(&kms, &id, &imp, &wrap(&imp, alg, &material), 0)
            .unwrap_err()
            .code,
        "ResourceUnavailable.TokenExpired"
    );
}

#[test]
fn imported_material_expires_at_valid_to() {
    let kms = Kms::new();
    let id = external(&kms, "ext");
    let alg = "RSAES_OAEP_SHA_1";
    let (imp, _) = parameters(&kms, &id, alg);
    import(
        &kms,
        &id,
        &imp,
        &wrap(&imp, alg, &[3u8; 16]),
        kms.hsm.now() + 100,
    )
    .unwrap();
    kms.encrypt(&id, b"x", None);
    kms.clock().advance(200);
    assert_eq!(kms.state(&id), "PendingImport");
    assert_eq!(
        kms.code("Encrypt", json!({"KeyId": id, "Plaintext": "aGk="})),
        "ResourceUnavailable.CmkStateNotSupport"
    );
}

#[test]
fn fips_region_material_is_256_bits() {
    let kms = Kms::new().region("ap-singapore");
    let id = external(&kms, "ext");
    let alg = "RSAES_PKCS1_V1_5";
    let (imp, _) = parameters(&kms, &id, alg);
    assert_eq!(
        import(&kms, &id, &imp, &wrap(&imp, alg, &[1u8; 16]), 0)
            .unwrap_err()
            .code,
        "InvalidParameterValue.InvalidImportKeyMaterial"
    );
    import(&kms, &id, &imp, &wrap(&imp, alg, &[1u8; 32]), 0).unwrap();
    assert_eq!(kms.meta(&id)["Type"], 2);
    let blob = kms.encrypt(&id, b"aes", None);
    assert_eq!(kms.decrypt(&blob, None).unwrap(), b"aes");
}

#[test]
fn a_bound_external_key_keeps_its_material() {
    let kms = Kms::new();
    let id = external(&kms, "bound");
    let (imp, _) = parameters(&kms, &id, "RSAES_OAEP_SHA_256");
    import(
        &kms,
        &id,
        &imp,
        &wrap(&imp, "RSAES_OAEP_SHA_256", &[7; 16]),
        0,
    )
    .unwrap();
    let bind = json!({"KeyId": id, "ProductId": "cdb", "ResourceId": "cdb-1"});
    kms.ok("BindCloudResource", bind.clone());
    assert_eq!(
        kms.code("DeleteImportedKeyMaterial", json!({"KeyId": id})),
        "FailedOperation.CmkUsedByCloudProduct"
    );
    assert_eq!(kms.state(&id), "Enabled");
    kms.ok("UnbindCloudResource", bind);
    kms.ok("DeleteImportedKeyMaterial", json!({"KeyId": id}));
    assert_eq!(kms.state(&id), "PendingImport");
}

#[test]
fn an_expired_import_token_is_token_expired_not_unknown() {
    let kms = Kms::new();
    let id = external(&kms, "late");
    let (imp, v) = parameters(&kms, &id, "RSAES_OAEP_SHA_256");
    let valid_to = v["ParametersValidTo"].as_u64().unwrap();
    kms.clock().advance(valid_to + 1 - kms.hsm.now());
    // Maintenance runs (as the server's timer would) without forgetting the token.
    kms.hsm.run_due_rotations().unwrap();
    let wrapped = wrap(&imp, "RSAES_OAEP_SHA_256", &[7; 16]);
    assert_eq!(
        import(&kms, &id, &imp, &wrapped, 0).unwrap_err().code,
        "ResourceUnavailable.TokenExpired"
    );
    // Long after, the token is still known to have expired.
    kms.clock().advance(300 * DAY);
    kms.hsm.run_due_rotations().unwrap();
    assert_eq!(
        import(&kms, &id, &imp, &wrapped, 0).unwrap_err().code,
        "ResourceUnavailable.TokenExpired"
    );
    // A token never issued stays InvalidParameter.
    let bogus = Import {
        token: "AAAA".into(),
        ssl: OpenSsl::new(),
    };
    assert_eq!(
        import(&kms, &id, &bogus, &wrapped, 0).unwrap_err().code,
        "InvalidParameter"
    );
}
