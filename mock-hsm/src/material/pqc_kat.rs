//! Known-answer tests of the post-quantum primitives against Wycheproof's vectors
//! (mock-hsm/tests/vectors/README.md says where they come from and how they were trimmed).
#![allow(clippy::unwrap_used)]

use serde_json::Value;

use super::pqc::{DsaKey, KemKey, verify_dsa};

fn vectors(text: &str) -> Vec<(Value, Value)> {
    let file: Value = serde_json::from_str(text).unwrap();
    let mut out = Vec::new();
    for group in file["testGroups"].as_array().unwrap() {
        for test in group["tests"].as_array().unwrap() {
            out.push((group.clone(), test.clone()));
        }
    }
    assert_eq!(out.len() as u64, file["numberOfTests"].as_u64().unwrap());
    assert!(!out.is_empty());
    out
}

fn hex_field(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap_or_default()).unwrap()
}

fn valid(test: &Value) -> bool {
    match test["result"].as_str().unwrap() {
        "valid" => true,
        "invalid" => false,
        other => panic!("unexpected result {other}"),
    }
}

#[test]
fn ml_kem_768_decapsulation_vectors() {
    let tests = vectors(include_str!(
        "../../tests/vectors/mlkem_768_semi_expanded_decaps_test.json"
    ));
    for (_, t) in &tests {
        let id = &t["tcId"];
        let outcome =
            KemKey::parse(&hex_field(t, "dk")).and_then(|key| key.decapsulate(&hex_field(t, "c")));
        match outcome {
            Ok(secret) => {
                assert!(valid(t), "tcId {id} should have been refused");
                assert_eq!(secret.to_vec(), hex_field(t, "K"), "tcId {id}");
            }
            Err(_) => assert!(!valid(t), "tcId {id} was refused"),
        }
    }
    assert!(tests.iter().any(|(_, t)| valid(t)) && tests.iter().any(|(_, t)| !valid(t)));
}

#[test]
fn ml_dsa_65_verification_vectors() {
    let tests = vectors(include_str!(
        "../../tests/vectors/mldsa_65_verify_test.json"
    ));
    for (group, t) in &tests {
        let ok = verify_dsa(
            &hex_field(group, "publicKey"),
            &hex_field(t, "msg"),
            &hex_field(t, "sig"),
        );
        assert_eq!(ok, valid(t), "tcId {} ({})", t["tcId"], t["comment"]);
    }
    assert!(tests.iter().filter(|(_, t)| !valid(t)).count() >= 5);
}

#[test]
fn ml_dsa_65_key_generation_from_seed_vectors() {
    let tests = vectors(include_str!(
        "../../tests/vectors/mldsa_65_sign_seed_test.json"
    ));
    for (group, t) in &tests {
        let id = &t["tcId"];
        match DsaKey::from_seed(&hex_field(group, "privateSeed")) {
            Ok(key) => {
                assert!(valid(t), "tcId {id} should have been refused");
                assert_eq!(
                    key.public_key_raw(),
                    hex_field(group, "publicKey"),
                    "tcId {id}"
                );
                let (msg, sig) = (hex_field(t, "msg"), hex_field(t, "sig"));
                assert!(key.verify(&msg, &sig), "tcId {id}: listed signature");
                // Our own (hedged) signature verifies too, and is not the listed one's forgery.
                let ours = key.sign(&msg).unwrap();
                assert!(verify_dsa(&hex_field(group, "publicKey"), &msg, &ours));
            }
            Err(_) => assert!(!valid(t), "tcId {id} was refused"),
        }
    }
}
