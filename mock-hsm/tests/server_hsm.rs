//! End to end over HTTP with the real Hsm: HttpKms (kms-core's typed KmsClient) against
//! `tkms serve`, rotation through the test controls, and a restart over the same data directory.

use std::sync::Arc;

use kms_core::http::{Credentials, HttpKms};
use kms_core::kms::{KmsClient, KmsTransport};
use mock_hsm::server::{RootCredentials, ServeOptions, ServiceConfig, TestServer, open_hsm};
use serde_json::{Value, json};
use zeroize::Zeroizing;

fn client(server: &TestServer) -> HttpKms {
    HttpKms::new(
        server.endpoint(),
        Credentials::new(server.secret_id(), server.secret_key()),
    )
    .expect("endpoint")
    .with_region("ap-guangzhou")
}

fn call(kms: &HttpKms, action: &str, params: Value) -> Value {
    let out = kms
        .call(action, params.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{action}: {e}"));
    serde_json::from_slice(&out).expect("JSON")
}

fn create_key(kms: &HttpKms, alias: &str) -> String {
    call(kms, "CreateKey", json!({"Alias": alias}))["KeyId"]
        .as_str()
        .expect("KeyId")
        .to_owned()
}

#[test]
fn typed_client_round_trips_through_the_server() {
    let server = TestServer::start_in_memory().expect("server");
    let kms = client(&server);
    let key_id = create_key(&kms, "e2e");
    let summary = kms.describe_key(&key_id).expect("describe");
    assert_eq!(
        (summary.key_state.as_str(), summary.key_usage.as_str()),
        ("Enabled", "ENCRYPT_DECRYPT")
    );

    let generated = kms
        .generate_data_key(&key_id, 32, Some(r#"{"app":"e2e"}"#))
        .expect("data key");
    assert_eq!(generated.plaintext.expose_secret().len(), 32);
    let opened = kms
        .decrypt(&generated.ciphertext_blob, Some(r#"{"app":"e2e"}"#))
        .expect("decrypt");
    assert_eq!(
        opened.plaintext.expose_secret(),
        generated.plaintext.expose_secret()
    );
    assert_eq!(opened.key_id, key_id);

    let blob = kms.encrypt(&key_id, b"hello", None).expect("encrypt");
    let err = kms
        .decrypt(&blob, Some(r#"{"app":"other"}"#))
        .expect_err("wrong context");
    assert_eq!(err.code, "InvalidParameterValue.InvalidCiphertext");
    call(&kms, "DisableKey", json!({"KeyId": key_id}));
    assert_eq!(
        kms.encrypt(&key_id, b"x", None).expect_err("disabled").code,
        "ResourceUnavailable.CmkDisabled"
    );
}

#[test]
fn rotation_follows_the_mock_clock() {
    let server = TestServer::start_in_memory().expect("server");
    let kms = client(&server);
    let key_id = create_key(&kms, "rotating");
    call(
        &kms,
        "EnableKeyRotation",
        json!({"KeyId": key_id, "RotateDays": 7}),
    );
    let old_blob = kms.encrypt(&key_id, b"v1", None).expect("encrypt");
    let before =
        call(&kms, "DescribeKey", json!({"KeyId": key_id}))["KeyMetadata"]["LastRotateTime"]
            .clone();

    let advance = reqwest::blocking::Client::new()
        .post(format!("{}/_tkms/clock", server.endpoint()))
        .body(r#"{"Advance": 691200}"#)
        .send()
        .expect("test control");
    assert_eq!(advance.headers()["content-type"], "application/json");
    assert_eq!(advance.json::<Value>().expect("json")["Offset"], 691_200);

    let after =
        call(&kms, "DescribeKey", json!({"KeyId": key_id}))["KeyMetadata"]["LastRotateTime"]
            .clone();
    assert!(
        after.as_u64() > before.as_u64(),
        "rotated: {before} -> {after}"
    );
    assert_eq!(
        kms.decrypt(&old_blob, None)
            .expect("old version")
            .plaintext
            .expose_secret(),
        b"v1"
    );
}

#[test]
fn a_restart_keeps_keys_versions_and_states() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = RootCredentials {
        secret_id: "AKIDrestart".into(),
        secret_key: Zeroizing::new("restart-key".into()),
    };
    let config = ServiceConfig {
        data_dir: Some(dir.path().to_owned()),
        ..ServiceConfig::default()
    };
    let start = || {
        let hsm = open_hsm(&config).expect("open the store");
        TestServer::start_with(Arc::new(hsm), root.clone(), ServeOptions::with_root(&root))
            .expect("server")
    };

    let server = start();
    let kms = client(&server);
    let rotated = create_key(&kms, "rotated");
    call(&kms, "EnableKeyRotation", json!({"KeyId": rotated}));
    let v1 = kms.encrypt(&rotated, b"one", None).expect("encrypt");
    call(&kms, "RotateKey", json!({"KeyId": rotated}));
    let v2 = kms.encrypt(&rotated, b"two", None).expect("encrypt");
    let disabled = create_key(&kms, "disabled");
    call(&kms, "DisableKey", json!({"KeyId": disabled}));
    let describe = |kms: &HttpKms, id: &str| {
        call(kms, "DescribeKey", json!({"KeyId": id}))["KeyMetadata"].clone()
    };
    let before = [describe(&kms, &rotated), describe(&kms, &disabled)];
    drop(kms);
    drop(server);

    let server = start();
    let kms = client(&server);
    let after = [describe(&kms, &rotated), describe(&kms, &disabled)];
    assert_eq!(before, after);
    assert_eq!(
        kms.decrypt(&v1, None)
            .expect("v1")
            .plaintext
            .expose_secret(),
        b"one"
    );
    assert_eq!(
        kms.decrypt(&v2, None)
            .expect("v2")
            .plaintext
            .expose_secret(),
        b"two"
    );
    assert_eq!(
        kms.encrypt(&disabled, b"x", None)
            .expect_err("still disabled")
            .code,
        "ResourceUnavailable.CmkDisabled"
    );
}
