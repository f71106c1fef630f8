//! HttpKms on the wire, against a tiny canned HTTP server: what it sends (headers, signature
//! checked with the shared TC3 recipe), how it retries, how it reads answers.

#![cfg(feature = "http")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kms_core::http::{Credentials, HttpKms, tc3};
use kms_core::kms::{KmsClient, KmsTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ID: &str = "AKIDEXAMPLE0000000000000000000000000";
const KEY: &str = "examplesecretkey0000000000000000";

#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// Serves one canned answer per connection (`Connection: close`), recording each request.
struct Canned {
    endpoint: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    _thread: std::thread::JoinHandle<()>,
}

fn canned(answers: Vec<(u16, &'static str)>) -> Canned {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send addr");
            for (status, body) in answers {
                let (mut stream, _) = listener.accept().await.expect("accept");
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body_start) = loop {
                    let n = stream.read(&mut chunk).await.expect("read");
                    assert!(n > 0, "connection closed before the head ended");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break (String::from_utf8(buf[..i].to_vec()).expect("ascii head"), i + 4);
                    }
                };
                let len: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .map_or(0, |v| v.parse().expect("length"));
                while buf.len() < body_start + len {
                    let n = stream.read(&mut chunk).await.expect("read body");
                    buf.extend_from_slice(&chunk[..n]);
                }
                record.lock().expect("lock").push(Seen { head, body: buf[body_start..body_start + len].to_vec() });
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(reply.as_bytes()).await.expect("write");
                stream.shutdown().await.ok();
            }
        });
    });
    let addr = rx.recv().expect("server address");
    Canned {
        endpoint: format!("http://{addr}"),
        seen,
        _thread: thread,
    }
}

const OK_ENCRYPT: &str =
    r#"{"Response": {"CiphertextBlob": "blob", "KeyId": "k", "RequestId": "r1"}}"#;

#[test]
fn requests_are_signed_like_the_sdks() {
    let server = canned(vec![(200, OK_ENCRYPT)]);
    let kms = HttpKms::new(
        &server.endpoint,
        Credentials::new(ID, KEY).with_token("session-token"),
    )
    .expect("endpoint")
    .with_region("ap-guangzhou");
    let blob = kms
        .encrypt("k", b"hello", Some(r#"{"purpose":"test"}"#))
        .expect("encrypt");
    assert_eq!(blob, "blob");

    let seen = server.seen.lock().expect("lock")[0].clone();
    assert!(seen.head.starts_with("POST / HTTP/1.1"));
    assert_eq!(
        seen.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(seen.header("x-tc-action").as_deref(), Some("Encrypt"));
    assert_eq!(seen.header("x-tc-version").as_deref(), Some("2019-01-18"));
    assert_eq!(seen.header("x-tc-region").as_deref(), Some("ap-guangzhou"));
    assert_eq!(seen.header("x-tc-token").as_deref(), Some("session-token"));
    let body: serde_json::Value = serde_json::from_slice(&seen.body).expect("JSON body");
    assert_eq!(body["Plaintext"], "aGVsbG8=");

    // Re-verify the signature independently of the client's code path.
    let auth = tc3::Authorization::parse(&seen.header("authorization").expect("authorization"))
        .expect("parses");
    assert_eq!(auth.secret_id, ID);
    assert_eq!(auth.signed_headers, "content-type;host");
    let timestamp = seen.header("x-tc-timestamp").expect("timestamp");
    assert_eq!(tc3::utc_date(timestamp.parse().expect("number")), auth.date);
    let host = seen.header("host").expect("host");
    assert_eq!(format!("http://{host}"), server.endpoint);
    let payload = tc3::sha256_hex(&seen.body);
    let request = tc3::SignedRequest {
        method: "POST",
        canonical_query: "",
        headers: &[("content-type", "application/json"), ("host", &host)],
        signed_headers: "content-type;host",
        payload_sha256: &payload,
        timestamp: &timestamp,
        date: &auth.date,
        service: "kms",
    };
    assert!(request.verify(KEY, &auth.signature));
    assert!(!request.verify("another-key", &auth.signature));
}

#[test]
fn throttling_and_internal_errors_are_retried_with_backoff() {
    let server = canned(vec![
        (
            200,
            r#"{"Response": {"Error": {"Code": "RequestLimitExceeded", "Message": "slow"}, "RequestId": "a"}}"#,
        ),
        (
            200,
            r#"{"Response": {"Error": {"Code": "InternalError", "Message": "oops"}, "RequestId": "b"}}"#,
        ),
        (200, OK_ENCRYPT),
    ]);
    let kms = HttpKms::new(&server.endpoint, Credentials::new(ID, KEY))
        .expect("endpoint")
        .with_retries(3, Duration::from_millis(20));
    let started = std::time::Instant::now();
    assert_eq!(
        kms.encrypt("k", b"x", None).expect("third time lucky"),
        "blob"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "backoff 20 ms then 40 ms"
    );
    let seen = server.seen.lock().expect("lock");
    assert_eq!(seen.len(), 3);
    // Every attempt is signed afresh.
    assert!(seen.iter().all(|s| s.header("authorization").is_some()));
}

#[test]
fn final_errors_are_not_retried_and_keep_the_request_id() {
    let server = canned(vec![(
        200,
        r#"{"Response": {"Error": {"Code": "ResourceUnavailable.CmkDisabled", "Message": "disabled"}, "RequestId": "rid"}}"#,
    )]);
    let kms = HttpKms::new(&server.endpoint, Credentials::new(ID, KEY)).expect("endpoint");
    let err = kms.call("Encrypt", b"{}").expect_err("disabled");
    assert_eq!(err.code, "ResourceUnavailable.CmkDisabled");
    assert_eq!(err.message, "disabled");
    assert_eq!(err.request_id.as_deref(), Some("rid"));
    assert_eq!(server.seen.lock().expect("lock").len(), 1);
}

#[test]
fn non_200_and_non_json_answers_are_errors() {
    let server = canned(vec![(502, "<html>bad gateway</html>"), (200, "not json")]);
    let kms = HttpKms::new(&server.endpoint, Credentials::new(ID, KEY))
        .expect("endpoint")
        .with_retries(0, Duration::ZERO);
    assert_eq!(
        kms.call("Encrypt", b"{}").expect_err("502").code,
        "ServerNetworkError"
    );
    assert_eq!(
        kms.call("Encrypt", b"{}").expect_err("junk").code,
        "ServerNetworkError"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn async_calls_work_inside_a_runtime() {
    let server = canned(vec![(200, OK_ENCRYPT), (200, OK_ENCRYPT)]);
    let kms = HttpKms::new(&server.endpoint, Credentials::new(ID, KEY)).expect("endpoint");
    let out = kms
        .call_async("Encrypt", br#"{"KeyId":"k"}"#)
        .await
        .expect("async");
    let out: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(out["CiphertextBlob"], "blob");
    // The sync API is usable here too (it blocks this thread, not its own I/O thread).
    assert!(kms.call("Encrypt", b"{}").is_ok());
}
