//! The requests of the official Node.js SDK (tencentcloud-sdk-nodejs 4.1.313), captured byte for
//! byte by tests/node/record-captures.js into tests/data/tc3-node: each verifies with the skew
//! check off and reaches the backend with the parameters the SDK was given, and a changed signed
//! byte is refused. They pin what this SDK does unlike the Python one (docs/serve.md, "SDKs
//! tested"): it signs `DATE/127/tc3_request` (the credential-scope service is the endpoint's
//! first label), signs `host:127.0.0.1` while sending `Host: 127.0.0.1:PORT`, sends no
//! X-TC-Region for an empty region, and flattens GET lists.

#[path = "support/server.rs"]
mod support;

use std::sync::Arc;

use mock_hsm::server::{RootCredentials, ServeOptions, TestServer};
use serde_json::{Value, json};
use support::{FakeKms, HttpResponse, SECRET_ID, SECRET_KEY, exchange};
use zeroize::Zeroizing;

fn server() -> (TestServer, Arc<FakeKms>) {
    let backend = Arc::new(FakeKms::default());
    let root = RootCredentials {
        secret_id: SECRET_ID.into(),
        secret_key: Zeroizing::new(SECRET_KEY.into()),
    };
    let mut options = ServeOptions::with_root(&root);
    // The captures carry the timestamp of the day they were recorded.
    options.check_clock_skew = false;
    (
        TestServer::start_with(backend.clone(), root, options).expect("server starts"),
        backend,
    )
}

/// A capture as text, with `Connection: close` so the reply ends the stream.
fn capture(name: &str) -> String {
    let path = format!("{}/tests/data/tc3-node/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = String::from_utf8(std::fs::read(&path).expect("capture file")).expect("utf-8");
    text.replace("Connection: keep-alive\r\n", "Connection: close\r\n")
}

fn send(server: &TestServer, raw: &str) -> HttpResponse {
    exchange(server.addr(), raw.as_bytes())
}

/// The one call the backend saw last: (region, action, parameters).
fn last_call(backend: &FakeKms) -> (String, String, Value) {
    let calls = backend.calls.lock().expect("lock");
    let (ctx, action, params) = calls.last().expect("a call reached the backend");
    (ctx.region.clone(), action.clone(), params.clone())
}

#[test]
fn every_node_capture_verifies_and_reaches_the_backend_as_sent() {
    let (server, backend) = server();
    let key = "23e80852-1e38-11e9-b129-5cb9019b4b01";
    let cases: [(&str, &str, &str, Value); 5] = [
        (
            "node_Encrypt.http",
            "ap-guangzhou",
            "Encrypt",
            json!({"KeyId": key, "Plaintext": "aGVsbG8=", "EncryptionContext": "{\"purpose\":\"test\"}"}),
        ),
        (
            "node_nonascii_CreateKey.http",
            "ap-guangzhou",
            "CreateKey",
            json!({"Alias": "node-key", "Description": "中文 ✓", "Tags": [{"TagKey": "env", "TagValue": "dev"}]}),
        ),
        // No X-TC-Region: the server's default region.
        (
            "node_no_region_ListKeys.http",
            "ap-guangzhou",
            "ListKeys",
            json!({"Offset": 0, "Limit": 5}),
        ),
        (
            "node_GET_DescribeKeys.http",
            "ap-guangzhou",
            "DescribeKeys",
            json!({"KeyIds": [key, "0e7f2f6e-9c1b-4c2d-8a8e-1f2a3b4c5d6e"]}),
        ),
        // Legacy v1: form-encoded, the common parameters removed, numbers coerced by schema.
        (
            "node_HmacSHA256_POST_GenerateDataKey.http",
            "ap-guangzhou",
            "GenerateDataKey",
            json!({"KeyId": key, "NumberOfBytes": 32, "EncryptionContext": "{\"a\":\"b c\"}"}),
        ),
    ];
    for (name, region, action, params) in cases {
        let raw = capture(name);
        if raw.contains("Authorization: TC3") {
            assert!(
                raw.contains("/127/tc3_request"),
                "{name}: the Node SDK's scope service"
            );
        }
        let response = send(&server, &raw);
        assert_eq!(
            response.error_code(),
            None,
            "{name}: {}",
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(
            last_call(&backend),
            (region.to_owned(), action.to_owned(), params),
            "{name}"
        );
    }
}

#[test]
fn a_changed_signed_byte_of_a_node_capture_is_refused() {
    let (server, backend) = server();
    let encrypt = capture("node_Encrypt.http");
    let refused = |raw: &str, what: &str| {
        assert_eq!(
            send(&server, raw).error_code().as_deref(),
            Some("AuthFailure.SignatureFailure"),
            "changed {what}"
        );
    };
    // The service is read from the scope, not assumed: signed as `127`, it is no `kms` request.
    refused(
        &encrypt.replace("/127/tc3_request", "/kms/tc3_request"),
        "scope service",
    );
    refused(&encrypt.replace("aGVsbG8=", "aGVsbG9="), "body");
    // The signed host is the bare hostname; another hostname does not verify.
    let host = encrypt
        .lines()
        .find_map(|l| l.strip_prefix("Host: "))
        .expect("Host header")
        .to_owned();
    let port = host.rsplit_once(':').expect("host:port").1;
    refused(
        &encrypt.replace(&format!("Host: {host}"), &format!("Host: localhost:{port}")),
        "host",
    );
    let get = capture("node_GET_DescribeKeys.http");
    refused(&get.replace("KeyIds.1=0e7f", "KeyIds.1=1e7f"), "query");
    let v1 = capture("node_HmacSHA256_POST_GenerateDataKey.http");
    refused(
        &v1.replace("NumberOfBytes=32", "NumberOfBytes=16"),
        "form body",
    );
    assert!(backend.calls.lock().expect("lock").is_empty());
}
