//! The wire protocol of `tkms serve` against a fake backend: envelopes, content type, error
//! codes, GET flattening, legacy v1, authentication failures, body limits, test controls.

#[path = "support/server.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use mock_hsm::server::{ROOT_ACCOUNT_UIN, RootCredentials, ServeOptions, TestServer};
use serde_json::json;
use support::{FakeKms, SECRET_ID, SECRET_KEY, Tc3, exchange, now};
use zeroize::Zeroizing;

fn start(test_controls: bool) -> (TestServer, Arc<FakeKms>) {
    let backend = Arc::new(FakeKms::default());
    let root = RootCredentials {
        secret_id: SECRET_ID.into(),
        secret_key: Zeroizing::new(SECRET_KEY.into()),
    };
    let mut options = ServeOptions::with_root(&root);
    options.test_controls = test_controls;
    (
        TestServer::start_with(backend.clone(), root, options).expect("server starts"),
        backend,
    )
}

#[test]
fn success_is_wrapped_with_the_request_id_and_the_exact_content_type() {
    let (server, backend) = start(false);
    let mut request = Tc3::post(
        server.addr(),
        "Encrypt",
        r#"{"KeyId": "k1", "Plaintext": "aGk="}"#,
    );
    request.region = Some("ap-beijing".into());
    let response = request.send(server.addr());
    assert_eq!(response.error_code(), None);
    let body = response.json();
    assert_eq!(
        body["Response"]["Echo"],
        json!({"KeyId": "k1", "Plaintext": "aGk="})
    );
    assert_eq!(body["Response"]["Region"], "ap-beijing");
    let calls = backend.calls.lock().expect("lock");
    let (ctx, action, _) = &calls[0];
    assert_eq!(action, "Encrypt");
    assert_eq!(ctx.account_uin, ROOT_ACCOUNT_UIN);
    assert_eq!(ctx.identity, "root");
    assert_eq!(ctx.source_ip, Some("127.0.0.1".parse().expect("ip")));
    assert_eq!(body["Response"]["RequestId"], ctx.request_id.as_str());
    assert_eq!(
        uuid::Uuid::parse_str(&ctx.request_id)
            .expect("uuid")
            .get_version_num(),
        4
    );
}

#[test]
fn no_region_means_the_default_region_and_empty_body_means_no_parameters() {
    let (server, _) = start(false);
    let response = Tc3::post(server.addr(), "GetRegions", "").send(server.addr());
    assert_eq!(response.error_code(), None);
    assert_eq!(response.json()["Response"]["Region"], "ap-guangzhou");
    assert_eq!(response.json()["Response"]["Echo"], json!({}));
}

#[test]
fn backend_errors_keep_their_code_and_internal_details_stay_in_the_log() {
    let (server, _) = start(false);
    let response = Tc3::post(
        server.addr(),
        "Encrypt",
        r#"{"KeyId":"disabled","Plaintext":"aGk="}"#,
    )
    .send(server.addr());
    assert_eq!(
        response.error_code().as_deref(),
        Some("ResourceUnavailable.CmkDisabled")
    );
    assert_eq!(
        response.json()["Response"]["Error"]["Message"],
        "the key is disabled"
    );

    let response =
        Tc3::post(server.addr(), "Encrypt", r#"{"KeyId":"internal"}"#).send(server.addr());
    assert_eq!(response.error_code().as_deref(), Some("InternalError"));
    let message = response.json()["Response"]["Error"]["Message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(!message.contains("secret detail"), "{message}");
}

#[test]
fn unknown_actions_versions_paths_and_methods_get_tencent_errors() {
    let (server, backend) = start(false);
    let addr = server.addr();
    let code = |r: &Tc3| r.send(addr).error_code();
    assert_eq!(
        code(&Tc3::post(addr, "NoSuchThing", "{}")).as_deref(),
        Some("InvalidAction")
    );
    assert_eq!(
        code(&Tc3::post(addr, "encrypt", "{}")).as_deref(),
        Some("InvalidAction")
    );
    let mut old = Tc3::post(addr, "Encrypt", "{}");
    old.version = "2017-03-12".into();
    assert_eq!(code(&old).as_deref(), Some("NoSuchVersion"));

    let no_action = Tc3::post(addr, "", "{}");
    let raw = String::from_utf8(no_action.raw())
        .expect("ascii")
        .replace("X-TC-Action: \r\n", "");
    assert_eq!(
        exchange(addr, raw.as_bytes()).error_code().as_deref(),
        Some("MissingParameter")
    );

    for raw in [
        "GET /no/such/path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "PUT / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    ] {
        let response = exchange(addr, raw.as_bytes());
        let code = response.error_code().expect("an error");
        assert!(
            ["UnsupportedOperation", "UnsupportedProtocol", "AuthFailure"].contains(&code.as_str()),
            "{code}"
        );
    }
    let health = exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(health.status, 200);
    assert_eq!(health.header("content-type"), Some("application/json"));
    // A wrong method on a known path is still a Tencent error, not a bare 405.
    let wrong = exchange(
        addr,
        b"DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(wrong.error_code().as_deref(), Some("UnsupportedOperation"));
    assert!(backend.calls.lock().expect("lock").is_empty());
}

#[test]
fn get_parameters_are_unflattened_and_coerced() {
    let (server, backend) = start(false);
    let query = "Offset=0&Limit=5&TagFilters.0.TagKey=env&TagFilters.0.TagValue.0=dev&TagFilters.0.TagValue.1=a+b";
    let response = Tc3::get(server.addr(), "ListKeyDetail", query).send(server.addr());
    assert_eq!(response.error_code(), None);
    assert_eq!(
        backend.calls.lock().expect("lock")[0].2,
        json!({"Offset": 0, "Limit": 5, "TagFilters": [{"TagKey": "env", "TagValue": ["dev", "a b"]}]})
    );
    let response =
        Tc3::get(server.addr(), "GenerateRandom", "NumberOfBytes=lots").send(server.addr());
    assert_eq!(response.error_code().as_deref(), Some("InvalidParameter"));
}

fn v1_request(
    method: &str,
    signature_method: &str,
    host: &str,
    params: &[(&str, &str)],
    secret_key: &str,
) -> String {
    let mut all: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    for (k, v) in [
        ("Action", "Encrypt"),
        ("Nonce", "12345"),
        ("Version", "2019-01-18"),
        ("Region", "ap-shanghai"),
        ("SecretId", SECRET_ID),
        ("SignatureMethod", signature_method),
    ] {
        all.push((k.into(), v.into()));
    }
    all.push(("Timestamp".into(), now().to_string()));
    let mut sorted = all.clone();
    sorted.sort();
    let flat: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}={v}", k.replace('_', ".")))
        .collect();
    let to_sign = format!("{method}{host}/?{}", flat.join("&"));
    let mac = if signature_method == "HmacSHA1" {
        let mut m = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret_key.as_bytes()).expect("key");
        m.update(to_sign.as_bytes());
        m.finalize().into_bytes().to_vec()
    } else {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret_key.as_bytes()).expect("key");
        m.update(to_sign.as_bytes());
        m.finalize().into_bytes().to_vec()
    };
    all.push((
        "Signature".into(),
        base64::engine::general_purpose::STANDARD.encode(mac),
    ));
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(all)
        .finish();
    if method == "GET" {
        format!("GET /?{encoded} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
    } else {
        format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{encoded}",
            encoded.len()
        )
    }
}

#[test]
fn legacy_v1_signatures_get_and_post() {
    let (server, backend) = start(false);
    let host = server.addr().to_string();
    let params = [
        ("KeyId", "k1"),
        ("Plaintext", "aGk="),
        ("EncryptionContext", r#"{"a":"b c"}"#),
    ];
    for (method, sig) in [
        ("GET", "HmacSHA1"),
        ("POST", "HmacSHA256"),
        ("GET", "HmacSHA256"),
        ("POST", "HmacSHA1"),
    ] {
        let response = exchange(
            server.addr(),
            v1_request(method, sig, &host, &params, SECRET_KEY).as_bytes(),
        );
        assert_eq!(response.error_code(), None, "{method} {sig}");
        let wrong = v1_request(method, sig, &host, &params, "wrong");
        assert_eq!(
            exchange(server.addr(), wrong.as_bytes())
                .error_code()
                .as_deref(),
            Some("AuthFailure.SignatureFailure")
        );
    }
    let calls = backend.calls.lock().expect("lock");
    assert_eq!(calls.len(), 4);
    for (ctx, action, params) in calls.iter() {
        assert_eq!(action, "Encrypt");
        assert_eq!(ctx.region, "ap-shanghai");
        // The common parameters are not action parameters.
        assert_eq!(
            *params,
            json!({"KeyId": "k1", "Plaintext": "aGk=", "EncryptionContext": r#"{"a":"b c"}"#})
        );
    }
}

#[test]
fn clock_skew_is_checked_against_the_wall_clock() {
    let (server, backend) = start(true);
    let addr = server.addr();
    let mut late = Tc3::post(addr, "Encrypt", "{}");
    late.timestamp = now() - 400;
    assert_eq!(
        late.send(addr).error_code().as_deref(),
        Some("AuthFailure.SignatureExpire")
    );
    let mut early = Tc3::post(addr, "Encrypt", "{}");
    early.timestamp = now() + 400;
    assert_eq!(
        early.send(addr).error_code().as_deref(),
        Some("AuthFailure.SignatureExpire")
    );
    let mut fine = Tc3::post(addr, "Encrypt", "{}");
    fine.timestamp = now() - 100;
    assert_eq!(fine.send(addr).error_code(), None);
    // Moving the mock clock a year ahead does not change the skew check.
    backend.clock.advance(365 * 86_400);
    assert_eq!(
        Tc3::post(addr, "Encrypt", "{}").send(addr).error_code(),
        None
    );
}

#[test]
fn authentication_failures_have_their_codes() {
    let (server, backend) = start(false);
    let addr = server.addr();
    let mut wrong_key = Tc3::post(addr, "Encrypt", "{}");
    wrong_key.secret_key = "not-the-key".into();
    assert_eq!(
        wrong_key.send(addr).error_code().as_deref(),
        Some("AuthFailure.SignatureFailure")
    );

    let mut unknown_id = Tc3::post(addr, "Encrypt", "{}");
    unknown_id.secret_id = "AKIDsomeoneelse".into();
    assert_eq!(
        unknown_id.send(addr).error_code().as_deref(),
        Some("AuthFailure.SecretIdNotFound")
    );

    let request = Tc3::post(addr, "Encrypt", "{}");
    assert_eq!(
        exchange(addr, &request.raw_with_authorization(None))
            .error_code()
            .as_deref(),
        Some("AuthFailure")
    );
    for bad in [
        "Bearer abc",
        "TC3-HMAC-SHA256 Credential=x",
        "TC3-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=zz",
    ] {
        assert_eq!(
            exchange(addr, &request.raw_with_authorization(Some(bad)))
                .error_code()
                .as_deref(),
            Some("AuthFailure.InvalidAuthorization"),
            "{bad}"
        );
    }
    // Credential date that is not the timestamp's UTC date.
    let good = request.authorization();
    let shifted = good.replace(
        &kms_core::http::tc3::utc_date(request.timestamp),
        "2001-01-01",
    );
    assert_eq!(
        exchange(addr, &request.raw_with_authorization(Some(&shifted)))
            .error_code()
            .as_deref(),
        Some("AuthFailure.SignatureFailure")
    );
    let mut no_ts = String::from_utf8(request.raw()).expect("ascii");
    no_ts = no_ts.replace(&format!("X-TC-Timestamp: {}\r\n", request.timestamp), "");
    assert_eq!(
        exchange(addr, no_ts.as_bytes()).error_code().as_deref(),
        Some("MissingParameter")
    );
    assert!(backend.calls.lock().expect("lock").is_empty());
}

#[test]
fn every_host_form_and_header_case_verifies() {
    let (server, backend) = start(false);
    let addr = server.addr();
    // Node: signs the host without the port, sends it with.
    let mut node = Tc3::post(addr, "Encrypt", "{}");
    node.signed_host = Some("127.0.0.1".into());
    assert_eq!(node.send(addr).error_code(), None);
    // tccli: sends and signs the scheme.
    let mut tccli = Tc3::post(addr, "Encrypt", "{}");
    tccli.host = format!("http://{addr}");
    assert_eq!(tccli.send(addr).error_code(), None);
    // Java: a charset in the signed content type.
    let mut java = Tc3::post(addr, "Encrypt", "{}");
    java.content_type = "application/json; charset=utf-8".into();
    assert_eq!(java.send(addr).error_code(), None);
    // A wrong host is still wrong.
    let mut other = Tc3::post(addr, "Encrypt", "{}");
    other.signed_host = Some("example.com".into());
    assert_eq!(
        other.send(addr).error_code().as_deref(),
        Some("AuthFailure.SignatureFailure")
    );

    // Docs-style: x-tc-action signed, value lower-cased.
    let request = Tc3::post(addr, "Encrypt", "{}");
    let host = addr.to_string();
    let authorization = request.authorization_over(&[
        ("content-type", "application/json"),
        ("host", host.as_str()),
        ("x-tc-action", "encrypt"),
    ]);
    assert_eq!(
        exchange(addr, &request.raw_with_authorization(Some(&authorization))).error_code(),
        None
    );
    assert_eq!(backend.calls.lock().expect("lock").len(), 4);
}

#[test]
fn bodies_over_the_limit_are_refused_with_a_tencent_error() {
    let (server, _) = start(false);
    // The declared length alone is refused: send the head, not the 10 MiB.
    let big = format!(r#"{{"Plaintext": "{}"}}"#, "A".repeat(10 * 1024 * 1024));
    let raw = Tc3::post(server.addr(), "Encrypt", &big).raw();
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let response = exchange(server.addr(), &raw[..head_end]);
    assert_eq!(
        response.error_code().as_deref(),
        Some("RequestSizeLimitExceeded")
    );
    // A 1 MiB body is read and passed on.
    let fits = format!(r#"{{"Plaintext": "{}"}}"#, "A".repeat(1024 * 1024));
    assert_eq!(
        Tc3::post(server.addr(), "Encrypt", &fits)
            .send(server.addr())
            .error_code(),
        None
    );
    let long_query = format!("KeyId={}", "a".repeat(33 * 1024));
    let response = Tc3::get(server.addr(), "DescribeKey", &long_query).send(server.addr());
    assert_eq!(
        response.error_code().as_deref(),
        Some("RequestSizeLimitExceeded")
    );
}

fn control(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> support::HttpResponse {
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, raw.as_bytes())
}

#[test]
fn test_controls_move_the_mock_clock_and_reset() {
    let (server, backend) = start(true);
    let addr = server.addr();
    let before = control(addr, "GET", "/_tkms/clock", "").json();
    assert_eq!(before["Offset"], 0);
    let ticks = backend.ticks.load(Ordering::SeqCst);
    let after = control(addr, "POST", "/_tkms/clock", r#"{"Advance": 86400}"#);
    assert_eq!(after.header("content-type"), Some("application/json"));
    let after = after.json();
    assert_eq!(after["Offset"], 86_400);
    assert!(after["Now"].as_u64().expect("now") >= before["Now"].as_u64().expect("now") + 86_400);
    assert!(
        backend.ticks.load(Ordering::SeqCst) > ticks,
        "advancing runs the schedules"
    );
    assert_eq!(
        control(addr, "POST", "/_tkms/clock", r#"{"Advance": -5}"#)
            .error_code()
            .as_deref(),
        Some("InvalidParameter")
    );
    // An advance that would overflow the clock is refused and moves nothing: never back.
    for huge in [
        "9223372036854775807",
        "18446744073709551615",
        "253402300799",
    ] {
        let refused = control(
            addr,
            "POST",
            "/_tkms/clock",
            &format!(r#"{{"Advance": {huge}}}"#),
        );
        assert_eq!(
            refused.error_code().as_deref(),
            Some("InvalidParameterValue"),
            "{huge}"
        );
    }
    let still = control(addr, "GET", "/_tkms/clock", "").json();
    assert_eq!(still["Offset"], 86_400);
    assert!(still["Now"].as_u64().expect("now") >= after["Now"].as_u64().expect("now"));
    assert_eq!(
        control(addr, "POST", "/_tkms/reset", "").json(),
        json!({"Reset": true})
    );
    assert_eq!(backend.resets.load(Ordering::SeqCst), 1);

    let (plain, plain_backend) = start(false);
    let refused = control(
        plain.addr(),
        "POST",
        "/_tkms/clock",
        r#"{"Advance": 86400}"#,
    );
    assert!(
        refused.error_code().is_some(),
        "without --test-controls there is no clock control"
    );
    assert_eq!(plain_backend.clock.offset(), 0);
}

#[test]
fn shutdown_lets_in_flight_requests_finish() {
    let (server, backend) = start(false);
    let addr = server.addr();
    let in_flight =
        std::thread::spawn(move || Tc3::post(addr, "Encrypt", r#"{"KeyId":"slow"}"#).send(addr));
    // Wait until the slow call is inside the backend, then shut down.
    while backend.calls.lock().expect("lock").is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(server); // signals shutdown and waits for the server thread
    let response = in_flight.join().expect("client thread");
    assert_eq!(
        response.error_code(),
        None,
        "the in-flight call got its answer"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer accepting"
    );
}
