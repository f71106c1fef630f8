//! Hosted data keys and white-box keys are served from the store's in-memory cache
//! (docs/key-store.md) under the CMKs' rule: every change is seen by the very next call, whether
//! it comes from this store or from another connection to the same directory (another process,
//! `tkms` beside a running server), and state rules are judged on every call.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/kms.rs"]
mod support;

use mock_hsm::HsmConfig;
use serde_json::{Value, json};
use support::{DAY, Kms, b64, unb64};

/// A "server" (mock clock) and a "cli" store opened on one directory: two connections, as two
/// processes.
fn two_stores_on_one_directory() -> (tempfile::TempDir, Kms, Kms) {
    let dir = tempfile::tempdir().unwrap();
    let server = Kms::open(HsmConfig::directory(dir.path()).with_mock_clock());
    let cli = Kms::open(HsmConfig::directory(dir.path()));
    (dir, server, cli)
}

/// A hosted data key under a new CMK: (CMK, DataKeyId, data key).
fn hosted(kms: &Kms, name: &str) -> (String, String, Vec<u8>) {
    let cmk = kms.create_sym(&format!("cmk-{name}"));
    let v = kms.ok(
        "GenerateDataKey",
        json!({"KeyId": cmk, "NumberOfBytes": 32, "IsHostedByKms": 1, "DataKeyName": name}),
    );
    let id = v["DataKeyId"].as_str().unwrap().to_owned();
    (cmk, id, unb64(v["Plaintext"].as_str().unwrap()))
}

fn plaintext(kms: &Kms, id: &str) -> Result<Vec<u8>, String> {
    kms.call("GetDataKeyPlaintext", json!({"DataKeyId": id}))
        .map(|v| unb64(v["Plaintext"].as_str().unwrap()))
        .map_err(|e| e.code)
}

fn blob(kms: &Kms, id: &str) -> Result<String, String> {
    kms.call("GetDataKeyCiphertextBlob", json!({"DataKeyId": id}))
        .map(|v| v["CiphertextBlob"].as_str().unwrap().to_owned())
        .map_err(|e| e.code)
}

fn whitebox_key(kms: &Kms, alias: &str, algorithm: &str) -> String {
    kms.ok(
        "CreateWhiteBoxKey",
        json!({"Alias": alias, "Algorithm": algorithm}),
    )["KeyId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// EncryptByWhiteBox of a fixed plaintext under a fixed IV: the ciphertext, or the error code.
fn wb_encrypt(kms: &Kms, key_id: &str) -> Result<Vec<u8>, String> {
    kms.call(
        "EncryptByWhiteBox",
        json!({"KeyId": key_id, "PlainText": b64(b"hot"), "InitializationVector": b64(&[7; 16])}),
    )
    .map(|v| unb64(v["CipherText"].as_str().unwrap()))
    .map_err(|e| e.code)
}

fn decrypt_key(kms: &Kms, key_id: &str) -> Result<Value, String> {
    kms.call("DescribeWhiteBoxDecryptKey", json!({"KeyId": key_id}))
        .map(|v| v["DecryptKey"].clone())
        .map_err(|e| e.code)
}

#[test]
fn a_cached_data_key_sees_every_change_of_another_connection() {
    let (_dir, server, cli) = two_stores_on_one_directory();
    let (cmk, id, key) = hosted(&server, "shared");
    let made_blob = blob(&server, &id).unwrap();
    let data_key = json!({"DataKeyId": id});
    for round in 0..20 {
        // Cached by these calls, then changed by the other connection.
        assert_eq!(plaintext(&server, &id).as_ref(), Ok(&key), "round {round}");
        cli.ok("DisableDataKey", data_key.clone());
        assert_eq!(
            plaintext(&server, &id),
            Err("ResourceUnavailable.DataKeyDisabled".into()),
            "round {round}: right after another connection disabled the data key"
        );
        assert_eq!(
            blob(&server, &id),
            Err("ResourceUnavailable.DataKeyStateNotSupport".into())
        );
        cli.ok("EnableDataKey", data_key.clone());
        assert_eq!(blob(&server, &id).as_ref(), Ok(&made_blob));
        // The CMK's own state, changed elsewhere.
        cli.ok("DisableKey", json!({"KeyId": cmk}));
        assert_eq!(
            plaintext(&server, &id),
            Err("ResourceUnavailable.CmkDisabled".into()),
            "round {round}: right after another connection disabled the CMK"
        );
        cli.ok("EnableKey", json!({"KeyId": cmk}));
    }
    assert_eq!(plaintext(&server, &id).as_ref(), Ok(&key));
    cli.ok("DisableDataKey", data_key.clone());
    cli.ok(
        "ScheduleDataKeyDeletion",
        json!({"DataKeyId": id, "PendingWindowInDays": 7}),
    );
    assert_eq!(
        plaintext(&server, &id),
        Err("ResourceUnavailable.DataKeyPendingDelete".into())
    );
    // Nothing is committed from here: the server's own clock passes the deletion date (with a
    // day to spare, the two clocks started apart), and the entry it holds no longer exists.
    server.clock().advance(8 * DAY);
    assert_eq!(
        plaintext(&server, &id),
        Err("ResourceUnavailable.DataKeyNotFound".into())
    );
    assert_eq!(
        blob(&server, &id),
        Err("ResourceUnavailable.DataKeyNotFound".into())
    );
    // The cache is per scope: the same id in another region or account is not found.
    let (_, other, _) = hosted(&server, "scoped");
    plaintext(&server, &other).unwrap();
    for elsewhere in [
        server.region("ap-beijing"),
        server.account(support::UIN + 1),
    ] {
        assert_eq!(
            plaintext(&elsewhere, &other),
            Err("ResourceUnavailable.DataKeyNotFound".into())
        );
    }
}

#[test]
fn a_cached_whitebox_key_sees_every_change_of_another_connection() {
    let (_dir, server, cli) = two_stores_on_one_directory();
    for algorithm in ["AES_256", "SM4"] {
        let key_id = whitebox_key(&server, &format!("wb-{algorithm}"), algorithm);
        let ciphertext = wb_encrypt(&server, &key_id).unwrap();
        let decrypt = decrypt_key(&server, &key_id).unwrap();
        let ids = json!({"KeyId": key_id});
        for round in 0..20 {
            cli.ok("DisableWhiteBoxKey", ids.clone());
            assert_eq!(
                wb_encrypt(&server, &key_id),
                Err("ResourceUnavailable.KeyDisabled".into()),
                "{algorithm} round {round}: right after another connection disabled the key"
            );
            assert_eq!(
                decrypt_key(&server, &key_id).as_ref(),
                Ok(&decrypt),
                "a disabled key still hands out its DecryptKey"
            );
            cli.ok("EnableWhiteBoxKey", ids.clone());
            assert_eq!(
                wb_encrypt(&server, &key_id).as_ref(),
                Ok(&ciphertext),
                "{algorithm} round {round}"
            );
        }
        cli.ok("DisableWhiteBoxKey", ids.clone());
        cli.ok("DeleteWhiteBoxKey", ids.clone());
        assert_eq!(wb_encrypt(&server, &key_id), Err("ResourceNotFound".into()));
        assert_eq!(
            decrypt_key(&server, &key_id),
            Err("ResourceNotFound".into())
        );
    }
    // Per scope.
    let key_id = whitebox_key(&server, "scoped", "SM4");
    wb_encrypt(&server, &key_id).unwrap();
    for elsewhere in [
        server.region("ap-beijing"),
        server.account(support::UIN + 1),
    ] {
        assert_eq!(
            wb_encrypt(&elsewhere, &key_id),
            Err("ResourceNotFound".into())
        );
    }
}

/// The same store's own writes, and the test controls' reset, are seen at once too.
#[test]
fn cached_keys_see_this_stores_own_changes_and_reset() {
    let kms = Kms::new();
    let (cmk, id, key) = hosted(&kms, "own");
    let wb = whitebox_key(&kms, "own", "AES_256");
    assert_eq!(plaintext(&kms, &id).as_ref(), Ok(&key));
    wb_encrypt(&kms, &wb).unwrap();
    kms.ok("DisableKey", json!({"KeyId": cmk}));
    assert_eq!(
        plaintext(&kms, &id),
        Err("ResourceUnavailable.CmkDisabled".into())
    );
    kms.ok("EnableKey", json!({"KeyId": cmk}));
    kms.ok("DisableDataKey", json!({"DataKeyId": id}));
    assert_eq!(
        plaintext(&kms, &id),
        Err("ResourceUnavailable.DataKeyDisabled".into())
    );
    kms.ok("DisableWhiteBoxKey", json!({"KeyId": wb}));
    assert_eq!(
        wb_encrypt(&kms, &wb),
        Err("ResourceUnavailable.KeyDisabled".into())
    );
    kms.ok("EnableDataKey", json!({"DataKeyId": id}));
    kms.ok("EnableWhiteBoxKey", json!({"KeyId": wb}));
    assert_eq!(plaintext(&kms, &id).as_ref(), Ok(&key));
    wb_encrypt(&kms, &wb).unwrap();
    kms.hsm.reset().unwrap();
    assert_eq!(
        plaintext(&kms, &id),
        Err("ResourceUnavailable.DataKeyNotFound".into())
    );
    assert_eq!(wb_encrypt(&kms, &wb), Err("ResourceNotFound".into()));
}

/// A data key pending deletion is refused, then gone once the clock passes its date, with no
/// commit in between to clear the cache; and its CMK's own deletion date is judged as well.
#[test]
fn deletion_dates_are_judged_on_every_call_of_a_cached_key() {
    let kms = Kms::new();
    let (cmk, id, _) = hosted(&kms, "dated");
    kms.ok("DisableDataKey", json!({"DataKeyId": id}));
    kms.ok(
        "ScheduleDataKeyDeletion",
        json!({"DataKeyId": id, "PendingWindowInDays": 7}),
    );
    kms.clock().advance(7 * DAY - 1);
    assert_eq!(
        plaintext(&kms, &id),
        Err("ResourceUnavailable.DataKeyPendingDelete".into())
    );
    kms.clock().advance(1);
    assert_eq!(
        plaintext(&kms, &id),
        Err("ResourceUnavailable.DataKeyNotFound".into())
    );

    let (_, id, key) = hosted(&kms, "under-a-dated-cmk");
    let cmk_of = |id: &str| {
        kms.ok("DescribeDataKey", json!({"DataKeyId": id}))["DataKeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let cmk2 = cmk_of(&id);
    assert_ne!(cmk2, cmk);
    assert_eq!(plaintext(&kms, &id).as_ref(), Ok(&key));
    kms.ok("DisableKey", json!({"KeyId": cmk2}));
    kms.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": cmk2, "PendingWindowInDays": 7}),
    );
    assert_eq!(
        plaintext(&kms, &id),
        Err("ResourceUnavailable.CmkStateNotSupport".into())
    );
    kms.clock().advance(7 * DAY);
    assert_eq!(
        plaintext(&kms, &id),
        Err("ResourceUnavailable.CmkNotFound".into())
    );
}

/// Reopening starts with an empty cache: the same data key, and the same ciphertext for the same
/// input, come back from the store.
#[test]
fn results_are_the_same_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (id, key, made_blob, wb, ciphertext, decrypt);
    {
        let kms = Kms::open(HsmConfig::directory(dir.path()));
        (_, id, key) = hosted(&kms, "kept");
        made_blob = blob(&kms, &id).unwrap();
        wb = whitebox_key(&kms, "kept", "SM4");
        ciphertext = wb_encrypt(&kms, &wb).unwrap();
        decrypt = decrypt_key(&kms, &wb).unwrap();
    }
    let kms = Kms::open(HsmConfig::directory(dir.path()));
    for _ in 0..2 {
        // The first round reads the store, the second the cache.
        assert_eq!(plaintext(&kms, &id).as_ref(), Ok(&key));
        assert_eq!(blob(&kms, &id).as_ref(), Ok(&made_blob));
        assert_eq!(wb_encrypt(&kms, &wb).as_ref(), Ok(&ciphertext));
        assert_eq!(decrypt_key(&kms, &wb).as_ref(), Ok(&decrypt));
    }
}

/// While another connection disables and enables a white-box key and a data key over and over,
/// every call that runs entirely between two toggles answers for the state the last toggle
/// left, never for an older one.
#[test]
fn calls_between_two_commits_of_another_connection_see_the_first() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

    let (_dir, server, cli) = two_stores_on_one_directory();
    let wb = whitebox_key(&server, "toggled", "SM4");
    let (_, id, _) = hosted(&server, "toggled");
    let (started, finished, done) = (AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false));
    let checked = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for thread in 0..2 {
            let (server, wb, id) = (&server, &wb, &id);
            let (started, finished, done, checked) = (&started, &finished, &done, &checked);
            scope.spawn(move || {
                while !done.load(SeqCst) {
                    let before = finished.load(SeqCst);
                    let (result, disabled) = if thread == 0 {
                        (
                            wb_encrypt(server, wb).map(drop),
                            "ResourceUnavailable.KeyDisabled",
                        )
                    } else {
                        (
                            plaintext(server, id).map(drop),
                            "ResourceUnavailable.DataKeyDisabled",
                        )
                    };
                    if started.load(SeqCst) != before {
                        continue; // a toggle overlapped the call: either answer is right
                    }
                    match (before % 2, result) {
                        (0, Ok(())) => {}
                        (1, Err(code)) if code == disabled => {}
                        (_, other) => panic!("thread {thread} after {before} toggles: {other:?}"),
                    }
                    checked.fetch_add(1, SeqCst);
                }
            });
        }
        for round in 0..100 {
            let (wb_action, dk_action) = if round % 2 == 0 {
                ("DisableWhiteBoxKey", "DisableDataKey")
            } else {
                ("EnableWhiteBoxKey", "EnableDataKey")
            };
            started.fetch_add(1, SeqCst);
            cli.ok(wb_action, json!({"KeyId": wb}));
            cli.ok(dk_action, json!({"DataKeyId": id}));
            finished.fetch_add(1, SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        done.store(true, SeqCst);
    });
    assert!(
        checked.load(SeqCst) > 100,
        "too few calls fell between toggles to check anything: {}",
        checked.load(SeqCst)
    );
}
