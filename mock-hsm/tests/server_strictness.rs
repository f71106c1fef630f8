//! TC3 requests must sign at least content-type and host (docs/kms-api.md §1.4).

#[path = "support/server.rs"]
mod support;

use std::sync::Arc;

use mock_hsm::server::{RootCredentials, ServeOptions, TestServer};
use support::{FakeKms, SECRET_ID, SECRET_KEY, Tc3, exchange};
use zeroize::Zeroizing;

fn start() -> (TestServer, Arc<FakeKms>) {
    let backend = Arc::new(FakeKms::default());
    let root = RootCredentials {
        secret_id: SECRET_ID.into(),
        secret_key: Zeroizing::new(SECRET_KEY.into()),
    };
    let options = ServeOptions::with_root(&root);
    (
        TestServer::start_with(backend.clone(), root, options).expect("server starts"),
        backend,
    )
}

/// A request signed by hand over exactly `signed` (header names, in order).
fn signed_over(addr: std::net::SocketAddr, signed: &[&str]) -> Option<String> {
    let request = Tc3::post(addr, "Encrypt", "{}");
    let host = addr.to_string();
    let all = [
        ("content-type", "application/json"),
        ("host", host.as_str()),
        ("x-tc-action", "Encrypt"),
    ];
    let headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|name| *all.iter().find(|(n, _)| n == name).expect("known header"))
        .collect();
    let authorization = request.authorization_over(&headers);
    exchange(addr, &request.raw_with_authorization(Some(&authorization))).error_code()
}

#[test]
fn signed_headers_must_cover_content_type_and_host() {
    let (server, backend) = start();
    let addr = server.addr();
    for signed in [
        &["content-type"][..],
        &["host"],
        &["host", "x-tc-action"],
        &["content-type", "x-tc-action"],
    ] {
        assert_eq!(
            signed_over(addr, signed).as_deref(),
            Some("AuthFailure.SignatureFailure"),
            "{signed:?}"
        );
    }
    assert_eq!(backend.calls.lock().expect("lock").len(), 0);
    // The minimum, in either order, and with more headers, verifies.
    assert_eq!(signed_over(addr, &["content-type", "host"]), None);
    assert_eq!(signed_over(addr, &["host", "content-type"]), None);
    assert_eq!(
        signed_over(addr, &["content-type", "host", "x-tc-action"]),
        None
    );
    assert_eq!(backend.calls.lock().expect("lock").len(), 3);
}
