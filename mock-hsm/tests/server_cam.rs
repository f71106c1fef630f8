//! CAM and the audit trail through `tkms serve`: denied calls change nothing and answer
//! UnauthorizedOperation, cross-account keys, role sessions that expire on the mock clock,
//! config reload, and audit rows with no secret in the database file.

#[path = "support/server.rs"]
mod support;

use std::path::Path;
use std::sync::Arc;

use kms_core::http::{Credentials, HttpKms};
use kms_core::kms::{KmsError, KmsTransport};
use mock_hsm::server::{
    Cam, RootCredentials, ServeOptions, ServiceConfig, TestServer, UNAUTHORIZED, open_hsm,
    service_options,
};
use mock_hsm::{AuditQuery, AuditRecord, ResultFilter};
use serde_json::{Value, json};
use support::{Tc3, exchange};
use zeroize::Zeroizing;

const A: u64 = 100_000_000_001;
const PLAINTEXT_B64: &str = "c2VjcmV0IHBsYWludGV4dCBuZXZlciBpbiB0aGUgYXVkaXQ="; // "secret plaintext never in the audit"
const PLAINTEXT: &str = "secret plaintext never in the audit";

fn config(extra: &str) -> String {
    format!(
        r#"
[audit]
retention_days = 180

[policies]
encrypt-only = '{{"version":"2.0","statement":[{{"effect":"allow","action":"kms:Encrypt","resource":"qcs::kms:ap-guangzhou:uin/{A}:key/*"}}]}}'
describe = '{{"version":"2.0","statement":[{{"effect":"allow","action":["kms:Describe*","kms:Encrypt","kms:Decrypt"],"resource":"*"}},{{"effect":"deny","action":"kms:DisableKey","resource":"*"}}]}}'
use-a = '{{"version":"2.0","statement":[{{"effect":"allow","action":["kms:Encrypt","kms:Decrypt"],"resource":"qcs::kms:ap-guangzhou:uin/{A}:key/*"}}]}}'
share-with-b = '{{"version":"2.0","statement":[{{"effect":"allow","principal":{{"qcs":["qcs::cam::uin/100000000002:root"]}},"action":"kms:Encrypt","resource":"*"}}]}}'

[[accounts]]
uin = {A}
secret_id = "AKIDrootA000000000000000000000000000"
secret_key = "rootAsecretkey000000000000000000"
account_policies = ["share-with-b"]

[[accounts]]
uin = 100000000002
secret_id = "AKIDrootB000000000000000000000000000"
secret_key = "rootBsecretkey000000000000000000"

[[users]]
name = "enc"
account = {A}
kind = "sub_user"
secret_id = "AKIDenc00000000000000000000000000000"
secret_key = "encsecretkey00000000000000000000"
policies = ["encrypt-only"]

[[users]]
name = "ops"
account = {A}
kind = "collaborator"
secret_id = "AKIDops00000000000000000000000000000"
secret_key = "opssecretkey00000000000000000000"
policies = ["describe"]

[[users]]
name = "bob"
account = 100000000002
kind = "sub_user"
secret_id = "AKIDbob00000000000000000000000000000"
secret_key = "bobsecretkey00000000000000000000"
policies = ["use-a"]

[[users]]
name = "news"
account = {A}
kind = "message_recipient"
secret_id = "AKIDnews0000000000000000000000000000"

[[roles]]
name = "encryptor"
account = {A}
trust = ["ops"]
policies = ["encrypt-only"]
{extra}
"#
    )
}

struct Fixture {
    server: TestServer,
    dir: tempfile::TempDir,
    cam: Arc<Cam>,
    audit: Arc<mock_hsm::AuditLog>,
}

fn start() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("cam.toml");
    std::fs::write(&config_path, config("")).expect("config");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let hsm = Arc::new(
        open_hsm(&ServiceConfig {
            data_dir: Some(data),
            test_controls: true,
            ..ServiceConfig::default()
        })
        .expect("hsm"),
    );
    let root = RootCredentials::generate().expect("random");
    let options: ServeOptions =
        service_options(&hsm, &root, Some(&config_path)).expect("config loads");
    let mut options = options;
    options.test_controls = true;
    let cam = options.cam.clone().expect("cam");
    let audit = options.audit.clone().expect("audit");
    let server = TestServer::start_with(hsm, root, options).expect("server");
    Fixture {
        server,
        dir,
        cam,
        audit,
    }
}

fn as_(f: &Fixture, secret_id: &str, secret_key: &str) -> HttpKms {
    HttpKms::new(f.server.endpoint(), Credentials::new(secret_id, secret_key))
        .expect("endpoint")
        .with_region("ap-guangzhou")
}

fn root_a(f: &Fixture) -> HttpKms {
    as_(
        f,
        "AKIDrootA000000000000000000000000000",
        "rootAsecretkey000000000000000000",
    )
}

fn enc(f: &Fixture) -> HttpKms {
    as_(
        f,
        "AKIDenc00000000000000000000000000000",
        "encsecretkey00000000000000000000",
    )
}

fn ops(f: &Fixture) -> HttpKms {
    as_(
        f,
        "AKIDops00000000000000000000000000000",
        "opssecretkey00000000000000000000",
    )
}

fn call(kms: &HttpKms, action: &str, params: Value) -> Result<Value, KmsError> {
    let out = kms.call(action, &serde_json::to_vec(&params).expect("JSON"))?;
    Ok(serde_json::from_slice(&out).expect("JSON answer"))
}

fn create_key(kms: &HttpKms) -> String {
    let out = call(
        kms,
        "CreateKey",
        json!({"Alias": format!("k{}", uuid::Uuid::new_v4().simple())}),
    )
    .expect("CreateKey");
    out["KeyId"].as_str().expect("KeyId").to_owned()
}

fn key_state(kms: &HttpKms, key_id: &str) -> String {
    call(kms, "DescribeKey", json!({"KeyId": key_id})).expect("DescribeKey")["KeyMetadata"]
        ["KeyState"]
        .as_str()
        .expect("state")
        .to_owned()
}

/// Moves the server's mock clock (and runs its schedules and audit retention).
fn advance(f: &Fixture, seconds: u64) {
    let body = format!("{{\"Advance\": {seconds}}}");
    let response = exchange(
        f.server.addr(),
        format!(
            "POST /_tkms/clock HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(response.json().get("Now").is_some(), "{}", response.json());
}

fn records(f: &Fixture, query: AuditQuery) -> Vec<AuditRecord> {
    f.audit.query(&query).expect("audit query")
}

#[test]
fn sub_user_denied_changes_nothing_and_is_audited() {
    let f = start();
    let root = root_a(&f);
    let key = create_key(&root);

    let blob = call(
        &enc(&f),
        "Encrypt",
        json!({"KeyId": key, "Plaintext": PLAINTEXT_B64}),
    )
    .expect("Encrypt is allowed")["CiphertextBlob"]
        .as_str()
        .expect("blob")
        .to_owned();
    let denied = call(&enc(&f), "Decrypt", json!({"CiphertextBlob": blob})).expect_err("denied");
    assert_eq!(denied.code, UNAUTHORIZED);
    assert!(
        denied.message.contains("kms:Decrypt")
            && denied
                .message
                .contains(&format!("qcs::kms:ap-guangzhou:uin/{A}:key/{key}")),
        "{}",
        denied.message
    );

    // An explicit deny on DisableKey: refused, and the key stays Enabled.
    let denied = call(&ops(&f), "DisableKey", json!({"KeyId": key})).expect_err("denied");
    assert_eq!(denied.code, UNAUTHORIZED);
    assert_eq!(key_state(&root, &key), "Enabled");
    assert_eq!(key_state(&ops(&f), &key), "Enabled", "Describe* is allowed");
    // The root may.
    call(&root, "DisableKey", json!({"KeyId": key})).expect("root disables");
    assert_eq!(key_state(&root, &key), "Disabled");

    // Actions without a key are judged on key/*: enc may not CreateKey.
    let denied = call(&enc(&f), "CreateKey", json!({"Alias": "nope"})).expect_err("denied");
    assert_eq!(denied.code, UNAUTHORIZED);
    let listed = call(&root, "ListKeys", json!({})).expect("ListKeys");
    assert_eq!(
        listed["TotalCount"], 1,
        "the denied CreateKey created nothing"
    );

    // The trail: each call with its identity, key and outcome.
    let trail = records(
        &f,
        AuditQuery {
            identity: Some("enc".into()),
            ..AuditQuery::default()
        },
    );
    let summary: Vec<(&str, Option<&str>, &str)> = trail
        .iter()
        .map(|r| (r.action.as_str(), r.key_id.as_deref(), r.result.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("Encrypt", Some(key.as_str()), "ok"),
            ("Decrypt", Some(key.as_str()), UNAUTHORIZED),
            ("CreateKey", None, UNAUTHORIZED),
        ]
    );
    assert!(trail.iter().all(|r| r.account_uin == A
        && r.region == "ap-guangzhou"
        && r.source_ip.as_deref() == Some("127.0.0.1")
        && uuid::Uuid::parse_str(&r.request_id).is_ok()));
    let denied_disable = records(
        &f,
        AuditQuery {
            action: Some("DisableKey".into()),
            result: Some(ResultFilter::Error),
            ..AuditQuery::default()
        },
    );
    assert_eq!(denied_disable.len(), 1);
    assert_eq!(denied_disable[0].identity, "ops");
    let ok_disable = records(
        &f,
        AuditQuery {
            action: Some("DisableKey".into()),
            result: Some(ResultFilter::Ok),
            ..AuditQuery::default()
        },
    );
    assert_eq!(ok_disable.len(), 1);
    assert_eq!(ok_disable[0].identity, "root");

    // A bad signature from a known SecretId is recorded too.
    let mut forged = Tc3::post(f.server.addr(), "ListKeys", "{}");
    forged.secret_id = "AKIDenc00000000000000000000000000000".into();
    forged.secret_key = "wrong".into();
    assert_eq!(
        forged.send(f.server.addr()).error_code().as_deref(),
        Some("AuthFailure.SignatureFailure")
    );
    let failed = records(
        &f,
        AuditQuery {
            result: Some(ResultFilter::Code("AuthFailure.SignatureFailure".into())),
            ..AuditQuery::default()
        },
    );
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].identity.as_str(), failed[0].action.as_str()),
        ("enc", "ListKeys")
    );

    // No plaintext, SecretKey or request body in the database files, and the rows are there.
    f.audit.flush();
    let data = f.dir.path().join("data");
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&data).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.to_string_lossy().contains("kms.sqlite3") {
            bytes.extend(std::fs::read(&path).expect("db file"));
        }
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        contains(&trail[0].request_id),
        "the rows are in the files searched"
    );
    for secret in [
        PLAINTEXT,
        PLAINTEXT_B64,
        "encsecretkey00000000000000000000",
        "opssecretkey00000000000000000000",
        "rootAsecretkey000000000000000000",
    ] {
        assert!(!contains(secret), "{secret} found in the database");
    }
}

#[test]
fn recipients_and_unknown_ids_are_refused() {
    let f = start();
    let recipient = as_(&f, "AKIDnews0000000000000000000000000000", "anything");
    let e = call(&recipient, "ListKeys", json!({})).expect_err("no API access");
    assert_eq!(e.code, "AuthFailure.InvalidSecretId");
    let stranger = as_(&f, "AKIDstranger", "x");
    let e = call(&stranger, "ListKeys", json!({})).expect_err("unknown");
    assert_eq!(e.code, "AuthFailure.SecretIdNotFound");
    // The server's own root credentials still act as the root of account 100000000001.
    let own = as_(&f, f.server.secret_id(), f.server.secret_key());
    call(&own, "ListKeys", json!({})).expect("root");
}

#[test]
fn cross_account_needs_both_sides() {
    let f = start();
    let key = create_key(&root_a(&f));
    let bob = as_(
        &f,
        "AKIDbob00000000000000000000000000000",
        "bobsecretkey00000000000000000000",
    );
    // Bob's policy names A's keys and A shares Encrypt with all of B: allowed, in A's account.
    let out = call(
        &bob,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": PLAINTEXT_B64}),
    )
    .expect("cross-account Encrypt");
    assert_eq!(out["KeyId"], key.as_str());
    // A does not share Decrypt.
    let blob = out["CiphertextBlob"].as_str().expect("blob");
    let e = call(&bob, "Decrypt", json!({"CiphertextBlob": blob})).expect_err("not shared");
    assert_eq!(e.code, UNAUTHORIZED);
    // B's root has no policy naming A's keys.
    let root_b = as_(
        &f,
        "AKIDrootB000000000000000000000000000",
        "rootBsecretkey000000000000000000",
    );
    let e = call(
        &root_b,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": PLAINTEXT_B64}),
    )
    .expect_err("not named by B");
    assert_eq!(e.code, UNAUTHORIZED);
    // And B's own ListKeys sees B's (empty) account, not A's.
    assert_eq!(
        call(&root_b, "ListKeys", json!({})).expect("ListKeys")["TotalCount"],
        0
    );
}

fn assume_role(f: &Fixture, duration: u64) -> (String, String, String, u64) {
    let body = json!({
        "RoleArn": format!("qcs::cam::uin/{A}:roleName/encryptor"),
        "RoleSessionName": "deploy",
        "DurationSeconds": duration,
    })
    .to_string();
    let mut request = Tc3::post(f.server.addr(), "AssumeRole", &body);
    request.version = "2018-08-13".into();
    request.secret_id = "AKIDops00000000000000000000000000000".into();
    request.secret_key = "opssecretkey00000000000000000000".into();
    let response = request.send(f.server.addr());
    assert_eq!(response.error_code(), None, "{}", response.json());
    let answer = &response.json()["Response"];
    let c = &answer["Credentials"];
    (
        c["TmpSecretId"].as_str().expect("id").to_owned(),
        c["TmpSecretKey"].as_str().expect("key").to_owned(),
        c["Token"].as_str().expect("token").to_owned(),
        answer["ExpiredTime"].as_u64().expect("ExpiredTime"),
    )
}

#[test]
fn a_token_sent_with_long_term_keys_is_refused() {
    let f = start();
    for (id, secret) in [
        (
            "AKIDrootA000000000000000000000000000",
            "rootAsecretkey000000000000000000",
        ),
        (
            "AKIDenc00000000000000000000000000000",
            "encsecretkey00000000000000000000",
        ),
    ] {
        let with_token = HttpKms::new(
            f.server.endpoint(),
            Credentials::new(id, secret).with_token("bogus-token"),
        )
        .expect("endpoint")
        .with_region("ap-guangzhou");
        assert_eq!(
            call(&with_token, "ListKeys", json!({}))
                .expect_err("a token the keys do not have")
                .code,
            "AuthFailure.TokenFailure",
            "{id}"
        );
    }
    call(&root_a(&f), "ListKeys", json!({})).expect("the same keys without a token");
}

#[test]
fn role_sessions_expire_on_the_service_clock() {
    let f = start();
    let key = create_key(&root_a(&f));
    let (id, secret, token, _) = assume_role(&f, 900);
    let session = HttpKms::new(
        f.server.endpoint(),
        Credentials::new(&id, &secret).with_token(&token),
    )
    .expect("endpoint")
    .with_region("ap-guangzhou");
    call(
        &session,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": PLAINTEXT_B64}),
    )
    .expect("the role may Encrypt");
    let e = call(&session, "DescribeKey", json!({"KeyId": key})).expect_err("not granted");
    assert_eq!(e.code, UNAUTHORIZED);
    // Without the token: refused.
    let no_token = as_(&f, &id, &secret);
    assert_eq!(
        call(&no_token, "ListKeys", json!({}))
            .expect_err("token")
            .code,
        "AuthFailure.TokenFailure"
    );
    // Move the mock clock past the expiry.
    advance(&f, 901);
    let e = call(
        &session,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": PLAINTEXT_B64}),
    )
    .expect_err("expired");
    assert_eq!(e.code, "AuthFailure.TokenFailure");
    let trail = records(
        &f,
        AuditQuery {
            identity: Some("role/encryptor/deploy".into()),
            ..AuditQuery::default()
        },
    );
    let results: Vec<&str> = trail.iter().map(|r| r.result.as_str()).collect();
    assert_eq!(
        results,
        [
            "ok",
            UNAUTHORIZED,
            "AuthFailure.TokenFailure",
            "AuthFailure.TokenFailure"
        ],
        "Encrypt, DescribeKey, ListKeys without the token, Encrypt after expiry"
    );
    let assumed = records(
        &f,
        AuditQuery {
            action: Some("sts:AssumeRole".into()),
            ..AuditQuery::default()
        },
    );
    assert_eq!(assumed.len(), 1);
    assert_eq!(assumed[0].identity, "ops");
}

#[test]
fn assume_role_answers_with_the_request_id_of_its_audit_row() {
    let f = start();
    let body = json!({
        "RoleArn": format!("qcs::cam::uin/{A}:roleName/encryptor"),
        "RoleSessionName": "audited",
    })
    .to_string();
    let mut request = Tc3::post(f.server.addr(), "AssumeRole", &body);
    request.version = "2018-08-13".into();
    request.secret_id = "AKIDops00000000000000000000000000000".into();
    request.secret_key = "opssecretkey00000000000000000000".into();
    let response = request.send(f.server.addr());
    assert_eq!(response.error_code(), None, "{}", response.json());
    let answered = response.json()["Response"]["RequestId"]
        .as_str()
        .expect("RequestId")
        .to_owned();
    let rows = records(
        &f,
        AuditQuery {
            action: Some("sts:AssumeRole".into()),
            ..AuditQuery::default()
        },
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].request_id, answered);
}

#[test]
fn reload_swaps_the_config_and_keeps_the_old_one_on_error() {
    let f = start();
    let key = create_key(&root_a(&f));
    let path = f.cam.path().expect("path").to_owned();
    let encrypt = |kms: &HttpKms| {
        call(
            kms,
            "Encrypt",
            json!({"KeyId": key, "Plaintext": PLAINTEXT_B64}),
        )
    };
    encrypt(&enc(&f)).expect("allowed before");
    // A broken file is refused; the old config keeps serving.
    std::fs::write(
        &path,
        config("").replace("\"action\":\"kms:Encrypt\"", "\"action\":\"Encrypt\""),
    )
    .expect("write");
    let e = f.cam.reload().expect_err("bad action refused");
    assert!(e.to_string().contains("encrypt-only"), "{e}");
    assert!(!e.to_string().contains("secretkey"), "{e}");
    encrypt(&enc(&f)).expect("old config still in force");
    // A good new file without enc's policy takes effect at once.
    std::fs::write(
        &path,
        config("").replace(
            "policies = [\"encrypt-only\"]\n\n[[users]]\nname = \"ops\"",
            "policies = []\n\n[[users]]\nname = \"ops\"",
        ),
    )
    .expect("write");
    f.cam.reload().expect("good config");
    assert_eq!(
        encrypt(&enc(&f)).expect_err("now denied").code,
        UNAUTHORIZED
    );
    assert_eq!(f.cam.snapshot().retention_days(), 180);
}

#[test]
fn reload_refuses_a_deny_naming_no_action_and_keeps_the_old_config() {
    let f = start();
    let path = f.cam.path().expect("path").to_owned();
    // The Deny of DisableKey, misspelt, would match nothing: the reload is refused, and the
    // error names the file, the policy, the statement, the bad name and the nearest valid one.
    std::fs::write(
        &path,
        config("").replace("\"kms:DisableKey\"", "\"kms:DisableKy\""),
    )
    .expect("write");
    let e = f.cam.reload().expect_err("typo refused").to_string();
    for part in [
        path.to_str().expect("utf-8"),
        "policy \"describe\"",
        "statement 1",
        "\"kms:DisableKy\"",
        "nearest valid name: \"kms:DisableKey\"",
    ] {
        assert!(e.contains(part), "{part:?} missing from {e}");
    }
    let key = create_key(&root_a(&f));
    assert_eq!(
        call(&ops(&f), "DisableKey", json!({"KeyId": key}))
            .expect_err("the old Deny still holds")
            .code,
        UNAUTHORIZED
    );
}

#[test]
fn audit_retention_is_enforced_on_the_service_clock() {
    let f = start();
    call(&root_a(&f), "ListKeys", json!({})).expect("ListKeys");
    assert_eq!(records(&f, AuditQuery::default()).len(), 1);
    // 179 days later the row stays (retention_days = 180); 181 days later it is gone.
    for (days, left) in [(179u64, 1usize), (2, 0)] {
        advance(&f, days * 86_400);
        assert_eq!(
            records(&f, AuditQuery::default()).len(),
            left,
            "after {days} more days"
        );
    }
}

#[test]
fn a_bad_config_refuses_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cam.toml");
    std::fs::write(
        &path,
        config("").replace(
            "\"kms:DisableKey\"",
            "\"kms:DisableKey\",\"condition\":{\"numeric_equal\":{\"qcs:ip\":\"1\"}}",
        ),
    )
    .expect("write");
    let hsm = open_hsm(&ServiceConfig::default()).expect("hsm");
    let root = RootCredentials::generate().expect("random");
    let e = service_options(&hsm, &root, Some(Path::new(&path))).expect_err("refused");
    let message = e.to_string();
    assert!(
        message.contains(
            "policy \"describe\": statement 1: unknown condition operator \"numeric_equal\""
        ),
        "{message}"
    );
    let _ = Zeroizing::new(message);
}
