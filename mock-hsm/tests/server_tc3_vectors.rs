//! Every captured request in tests/data/tc3 (copied from the project's shared vectors: the
//! Python SDK 3.1.192 and tccli 3.1.189.1 against a recording server, README.md there)
//! verifies with the skew check off, and fails once any signed byte changes.

#[path = "support/server.rs"]
mod support;

use std::sync::Arc;

use mock_hsm::server::{RootCredentials, ServeOptions, TestServer};
use support::{FakeKms, SECRET_ID, SECRET_KEY, exchange, load_capture};
use zeroize::Zeroizing;

/// The one capture that sends a session token with long-term keys.
const TOKEN_WITH_LONG_TERM_KEYS: &str = "variant_TC3_token_enUS_Encrypt.http";

fn capture_names() -> Vec<String> {
    let dir = format!("{}/tests/data/tc3", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("vector dir")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8 name")
        })
        .filter(|n| n.ends_with(".http"))
        .collect();
    names.sort();
    names
}

fn server(check_clock_skew: bool) -> (TestServer, Arc<FakeKms>) {
    let backend = Arc::new(FakeKms::default());
    let root = RootCredentials {
        secret_id: SECRET_ID.into(),
        secret_key: Zeroizing::new(SECRET_KEY.into()),
    };
    let mut options = ServeOptions::with_root(&root);
    options.check_clock_skew = check_clock_skew;
    (
        TestServer::start_with(backend.clone(), root, options).expect("server starts"),
        backend,
    )
}

fn split(raw: &[u8]) -> (String, Vec<u8>) {
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end")
        + 4;
    (
        String::from_utf8(raw[..at].to_vec()).expect("ascii"),
        raw[at..].to_vec(),
    )
}

fn join(head: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = head.as_bytes().to_vec();
    raw.extend_from_slice(body);
    raw
}

#[test]
fn every_capture_verifies_and_reaches_the_backend() {
    let (server, backend) = server(false);
    let names = capture_names();
    assert_eq!(names.len(), 46, "44 TC3 and 2 legacy captures");
    for name in &names {
        let response = exchange(server.addr(), &load_capture(name));
        // This capture sends X-TC-Token with the long-term keys: its signature verifies (a
        // changed byte or a wrong key gives SignatureFailure, below), then the token is
        // refused, since those keys have none (docs/serve.md).
        let expected = (name == TOKEN_WITH_LONG_TERM_KEYS).then_some("AuthFailure.TokenFailure");
        assert_eq!(
            response.error_code().as_deref(),
            expected,
            "{name}: {}",
            String::from_utf8_lossy(&response.body)
        );
    }
    let calls = backend.calls.lock().expect("lock");
    assert_eq!(calls.len(), names.len() - 1);
    // The GET capture's flattened KeyIds arrive as a JSON list.
    let get = calls
        .iter()
        .find(|(_, a, p)| a == "DescribeKeys" && p["KeyIds"].is_array())
        .expect("DescribeKeys");
    assert_eq!(get.2["KeyIds"][1], "11111111-2222-3333-4444-555555555555");
    // No region header: the default region.
    assert!(
        calls
            .iter()
            .all(|(ctx, _, _)| ctx.region == "ap-guangzhou" || ctx.region == "ap-shanghai")
    );
    assert!(
        calls.iter().any(|(ctx, _, _)| ctx.region == "ap-shanghai"),
        "tccli_GenerateDataKey sends ap-shanghai"
    );
}

#[test]
fn the_skew_check_refuses_the_old_captures() {
    let (server, backend) = server(true);
    for name in [
        "Encrypt.http",
        "variant_TC3_GET_DescribeKeys.http",
        "variant_HmacSHA256_POST_Encrypt.http",
    ] {
        let response = exchange(server.addr(), &load_capture(name));
        assert_eq!(
            response.error_code().as_deref(),
            Some("AuthFailure.SignatureExpire"),
            "{name}"
        );
    }
    assert!(backend.calls.lock().expect("lock").is_empty());
}

fn assert_refused(server: &TestServer, name: &str, what: &str, raw: &[u8]) {
    let response = exchange(server.addr(), raw);
    assert_eq!(
        response.error_code().as_deref(),
        Some("AuthFailure.SignatureFailure"),
        "{name}: changed {what}"
    );
}

#[test]
fn one_changed_signed_byte_is_refused() {
    let (server, backend) = server(false);
    for name in capture_names() {
        let raw = load_capture(&name);
        let (head, body) = split(&raw);
        if head.contains("Authorization: TC3") {
            let unsigned_payload = head.contains("X-TC-Content-SHA256: UNSIGNED-PAYLOAD");
            let is_get = head.starts_with("GET ");
            if !unsigned_payload && !body.is_empty() {
                // Change one body byte; keep it JSON-safe so only the signature can object.
                let mut changed = body.clone();
                match changed.iter().position(|b| b.is_ascii_alphanumeric()) {
                    Some(i) => changed[i] = if changed[i] == b'a' { b'b' } else { b'a' },
                    None => changed[0] ^= 0x20, // `{}`: `{` becomes `[`
                }
                assert_refused(&server, &name, "a body byte", &join(&head, &changed));
            }
            if is_get {
                let changed = head.replacen("KeyIds.1=1", "KeyIds.1=2", 1);
                assert_ne!(changed, head);
                assert_refused(&server, &name, "a query byte", &join(&changed, &body));
            }
            // One signature hex digit.
            let at = head.find("Signature=").expect("signature") + "Signature=".len();
            let mut changed = head.clone().into_bytes();
            changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
            assert_refused(
                &server,
                &name,
                "a signature digit",
                &join(&String::from_utf8(changed).expect("ascii"), &body),
            );
            // The timestamp, by one second (same UTC date).
            let ts_line = head
                .lines()
                .find(|l| l.starts_with("X-TC-Timestamp: "))
                .expect("timestamp");
            let ts: u64 = ts_line["X-TC-Timestamp: ".len()..].parse().expect("number");
            let changed = head.replace(ts_line, &format!("X-TC-Timestamp: {}", ts + 1));
            assert_refused(&server, &name, "the timestamp", &join(&changed, &body));
            // The signed Host.
            let changed = head.replacen("127.0.0.1:", "127.0.0.2:", 1);
            assert_refused(&server, &name, "the host", &join(&changed, &body));
        } else {
            // Legacy v1: the signature and a signed parameter.
            let text = String::from_utf8(raw.clone()).expect("ascii");
            let changed = text.replacen("Nonce=", "Nonce=1", 1);
            assert_refused(&server, &name, "the nonce", changed.as_bytes());
            let changed = text.replacen("Signature=", "Signature=A", 1);
            assert_refused(&server, &name, "the signature", changed.as_bytes());
        }
    }
    assert!(
        backend.calls.lock().expect("lock").is_empty(),
        "no tampered request reached the backend"
    );
}

#[test]
fn unsigned_payload_leaves_the_body_unsigned() {
    let (server, backend) = server(false);
    let raw = load_capture("variant_TC3_unsigned_payload_Encrypt.http");
    let (head, body) = split(&raw);
    let changed = String::from_utf8(body)
        .expect("utf-8")
        .replace("aGVsbG8=", "aGVsbG9=");
    let response = exchange(server.addr(), &join(&head, changed.as_bytes()));
    assert_eq!(response.error_code(), None);
    assert_eq!(
        backend.calls.lock().expect("lock")[0].2["Plaintext"],
        "aGVsbG9="
    );
}

#[test]
fn a_wrong_secret_key_fails_every_capture() {
    let backend = Arc::new(FakeKms::default());
    let root = RootCredentials {
        secret_id: SECRET_ID.into(),
        secret_key: Zeroizing::new("otherkey".into()),
    };
    let mut options = ServeOptions::with_root(&root);
    options.check_clock_skew = false;
    let server = TestServer::start_with(backend, root, options).expect("server starts");
    for name in capture_names() {
        let response = exchange(server.addr(), &load_capture(&name));
        assert_eq!(
            response.error_code().as_deref(),
            Some("AuthFailure.SignatureFailure"),
            "{name}"
        );
    }
}
