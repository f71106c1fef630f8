//! kms_core::http::HttpKms against `tkms serve` (fake backend): its TC3 signatures verify,
//! errors map to KmsError, retries back off, and it works from sync code and inside tokio.

#[path = "support/server.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use kms_core::http::{Credentials, HttpKms};
use kms_core::kms::KmsTransport;
use mock_hsm::server::TestServer;
use serde_json::{Value, json};
use support::FakeKms;

fn start() -> (TestServer, Arc<FakeKms>) {
    let backend = Arc::new(FakeKms::default());
    (
        TestServer::start(backend.clone()).expect("server starts"),
        backend,
    )
}

fn client(server: &TestServer) -> HttpKms {
    HttpKms::new(
        server.endpoint(),
        Credentials::new(server.secret_id(), server.secret_key()),
    )
    .expect("valid endpoint")
    .with_retries(2, Duration::from_millis(5))
}

fn echo(out: &[u8]) -> Value {
    serde_json::from_slice::<Value>(out).expect("JSON")["Echo"].clone()
}

#[test]
fn sync_calls_are_signed_and_answered() {
    let (server, backend) = start();
    let kms = client(&server).with_region("ap-beijing");
    let out = kms
        .call("Encrypt", br#"{"KeyId":"k","Plaintext":"aGk="}"#)
        .expect("call succeeds");
    assert_eq!(echo(&out), json!({"KeyId": "k", "Plaintext": "aGk="}));
    let out = kms.call("GetRegions", b"").expect("no parameters");
    assert_eq!(echo(&out), json!({}));
    let calls = backend.calls.lock().expect("lock");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].0.region, "ap-beijing");
}

#[test]
fn errors_carry_code_and_request_id_and_are_not_retried_unless_retryable() {
    let (server, backend) = start();
    let kms = client(&server);
    let err = kms
        .call("Encrypt", br#"{"KeyId":"disabled"}"#)
        .expect_err("disabled");
    assert_eq!(err.code, "ResourceUnavailable.CmkDisabled");
    assert!(
        err.request_id
            .as_deref()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
    );
    assert_eq!(
        backend.calls.lock().expect("lock").len(),
        1,
        "key-state refusals are final"
    );

    backend.calls.lock().expect("lock").clear();
    let err = kms
        .call("Encrypt", br#"{"KeyId":"throttled"}"#)
        .expect_err("throttled");
    assert_eq!(err.code, "RequestLimitExceeded");
    assert_eq!(
        backend.calls.lock().expect("lock").len(),
        3,
        "one call and two retries"
    );

    backend.calls.lock().expect("lock").clear();
    let err = kms
        .call("Encrypt", br#"{"KeyId":"internal"}"#)
        .expect_err("internal");
    assert_eq!(err.code, "InternalError");
    assert_eq!(backend.calls.lock().expect("lock").len(), 3);
}

#[test]
fn wrong_credentials_are_refused() {
    let (server, backend) = start();
    let kms = HttpKms::new(
        server.endpoint(),
        Credentials::new(server.secret_id(), "wrong-key"),
    )
    .expect("endpoint");
    assert_eq!(
        kms.call("Encrypt", b"{}").expect_err("refused").code,
        "AuthFailure.SignatureFailure"
    );
    let kms =
        HttpKms::new(server.endpoint(), Credentials::new("AKIDnobody", "k")).expect("endpoint");
    assert_eq!(
        kms.call("Encrypt", b"{}").expect_err("refused").code,
        "AuthFailure.SecretIdNotFound"
    );
    assert!(backend.calls.lock().expect("lock").is_empty());
}

#[test]
fn network_errors_are_retried_then_reported() {
    let (server, _) = start();
    let endpoint = server.endpoint().to_owned();
    drop(server); // nothing listens there any more
    let kms = HttpKms::new(&endpoint, Credentials::new("id", "key"))
        .expect("endpoint")
        .with_retries(1, Duration::from_millis(5));
    let err = kms.call("Encrypt", b"{}").expect_err("no server");
    assert_eq!(err.code, kms_core::kms::CLIENT_NETWORK_ERROR);
    assert!(err.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_run_on_the_callers_runtime() {
    let (server, backend) = start();
    let kms = client(&server);
    let calls = (0..8).map(|i| {
        let body = format!(r#"{{"KeyId":"k{i}"}}"#);
        let kms = &kms;
        async move { kms.call_async("Encrypt", body.as_bytes()).await }
    });
    for result in futures_join_all(calls).await {
        result.expect("async call succeeds");
    }
    assert_eq!(backend.calls.lock().expect("lock").len(), 8);
}

#[tokio::test(flavor = "current_thread")]
async fn sync_calls_inside_a_current_thread_runtime_do_not_panic() {
    let (server, _) = start();
    let kms = client(&server);
    // The sync API hands the request to its own I/O thread, so even a single-threaded
    // runtime (where reqwest::blocking would panic) gets an answer.
    let out = kms
        .call("Encrypt", br#"{"KeyId":"k"}"#)
        .expect("sync call inside a runtime");
    assert_eq!(echo(&out)["KeyId"], "k");
    let out = kms
        .call_async("Encrypt", br#"{"KeyId":"k2"}"#)
        .await
        .expect("async too");
    assert_eq!(echo(&out)["KeyId"], "k2");
    drop(kms); // dropping the client inside the runtime is fine as well
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_calls_from_spawn_blocking() {
    let (server, _) = start();
    let kms = Arc::new(client(&server));
    let handle = tokio::task::spawn_blocking(move || kms.call("Encrypt", br#"{"KeyId":"k"}"#));
    let out = handle.await.expect("task").expect("call");
    assert_eq!(echo(&out)["KeyId"], "k");
}

/// Awaits all futures concurrently (no futures crate: tokio's JoinSet needs 'static).
async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *output = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}
