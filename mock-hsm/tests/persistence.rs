//! The on-disk store: state survives reopening, and key material never appears in the files.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/kms.rs"]
mod support;

use mock_hsm::{HsmConfig, RootKeySource};
use serde_json::json;
use support::{Kms, b64};

#[test]
fn state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (sym, rsa, blob, signature, rotated_blob);
    {
        let kms = Kms::open(HsmConfig::directory(dir.path()));
        sym = kms.create_sym("sym");
        blob = kms.encrypt(&sym, b"persisted", Some(r#"{"a":"b"}"#));
        kms.ok("EnableKeyRotation", json!({"KeyId": sym, "RotateDays": 90}));
        kms.ok("RotateKey", json!({"KeyId": sym}));
        rotated_blob = kms.encrypt(&sym, b"after rotation", None);
        rsa = kms.create("signer", "ASYMMETRIC_SIGN_VERIFY_RSA_2048");
        signature = kms.ok(
            "SignByAsymmetricKey",
            json!({"KeyId": rsa, "Algorithm": "RSA_PKCS1_SHA_256", "Message": b64(b"m")}),
        )["Signature"]
            .clone();
        let d = kms.create_sym("disabled");
        kms.ok("DisableKey", json!({"KeyId": d}));
        kms.ok(
            "UpdateKeyDescription",
            json!({"KeyId": sym, "Description": "kept"}),
        );
    }
    let kms = Kms::open(HsmConfig::directory(dir.path()));
    assert_eq!(
        kms.decrypt(&blob, Some(r#"{"a":"b"}"#)).unwrap(),
        b"persisted"
    );
    assert_eq!(kms.decrypt(&rotated_blob, None).unwrap(), b"after rotation");
    let m = kms.meta(&sym);
    assert_eq!(
        (
            m["Description"].as_str(),
            m["RotateDays"].as_u64(),
            m["KeyRotationEnabled"].as_bool()
        ),
        (Some("kept"), Some(90), Some(true))
    );
    assert!(m["LastRotateTime"].as_u64().unwrap() > 0);
    assert_eq!(
        kms.code("RotateKey", json!({"KeyId": sym})),
        "RequestLimitExceeded.RotateRateLimited",
        "rate limit persists"
    );
    let v = kms.ok("VerifyByAsymmetricKey", json!({"KeyId": rsa, "Algorithm": "RSA_PKCS1_SHA_256", "Message": b64(b"m"), "SignatureValue": signature}));
    assert_eq!(
        v["SignatureValid"], true,
        "the same RSA key after reopening"
    );
    assert_eq!(kms.ok("ListKeys", json!({}))["TotalCount"], 3);
    assert_eq!(
        kms.code("CreateKey", json!({"Alias": "sym"})),
        "InvalidParameterValue.AliasAlreadyExists"
    );
    // reset() wipes everything, durably.
    kms.hsm.reset().unwrap();
    drop(kms);
    let kms = Kms::open(HsmConfig::directory(dir.path()));
    assert_eq!(kms.ok("ListKeys", json!({}))["TotalCount"], 0);
}

#[test]
fn key_material_is_never_stored_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let seed = include_str!("data/seed-golden.toml");
    let kms = Kms::open(HsmConfig::directory(dir.path()));
    kms.hsm.apply_seed(seed).unwrap();
    // Exercise every path that touches material.
    let blob = kms.encrypt("00000000-0000-4000-8000-000000000001", b"x", None);
    kms.decrypt(&blob, None).unwrap();
    kms.ok("SignByAsymmetricKey", json!({"KeyId": "00000000-0000-4000-8000-000000000005", "Algorithm": "SM2DSA", "Message": "aGk="}));
    drop(kms);

    // Every seeded material, raw and in the encodings it could leak in.
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for line in seed.lines() {
        if let Some(b64_value) = line
            .strip_prefix("material = \"")
            .and_then(|l| l.strip_suffix('"'))
        {
            let raw = support::unb64(b64_value);
            // For long PKCS#8 material, any 32-byte window would be a leak; check a few.
            for window in raw.chunks(32).filter(|c| c.len() >= 16).take(8) {
                needles.push(window.to_vec());
            }
            needles.push(hex::encode(&raw[..16]).into_bytes());
            needles.push(b64_value.as_bytes()[..20].to_vec());
        }
    }
    assert!(needles.len() >= 12, "the seed has material to look for");
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "root.key" {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        files += 1;
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == &needle[..]),
                "key material found in clear in {}",
                path.display()
            );
        }
    }
    assert!(files >= 1);
}

#[test]
fn root_key_file_outside_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_path = keys.path().join("kms-root.key");
    let id;
    {
        let kms = Kms::open(
            HsmConfig::directory(dir.path()).with_root_key(RootKeySource::File(key_path.clone())),
        );
        id = kms.create_sym("k");
    }
    assert!(!dir.path().join("root.key").exists());
    let kms =
        Kms::open(HsmConfig::directory(dir.path()).with_root_key(RootKeySource::File(key_path)));
    assert_eq!(kms.state(&id), "Enabled");
}

#[test]
fn concurrent_threads_share_one_hsm() {
    let dir = tempfile::tempdir().unwrap();
    let kms = std::sync::Arc::new(Kms::open(HsmConfig::directory(dir.path())));
    let shared = kms.create_sym("shared");
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let kms = kms.clone();
            let shared = shared.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..10 {
                    mine.push(kms.create_sym(&format!("t{t}-{i}")));
                    let pt = format!("thread {t} message {i}");
                    let blob = kms.encrypt(&shared, pt.as_bytes(), None);
                    assert_eq!(kms.decrypt(&blob, None).unwrap(), pt.as_bytes());
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 80);
    assert_eq!(kms.ok("ListKeys", json!({"Limit": 200}))["TotalCount"], 81);
}

/// Encrypt, Decrypt and GenerateDataKey serve keys from memory; every commit by another
/// connection to the store (another process, `tkms key ...` beside a running server) must
/// still be seen by the very next call.
#[test]
fn a_second_hsm_on_the_same_store_is_seen_at_once() {
    let (_dir, server, cli) = two_stores_on_one_directory();
    let key = server.create_sym("shared");
    let first = server.encrypt(&key, b"one", None);

    for round in 0..50 {
        cli.ok("DisableKey", json!({"KeyId": key}));
        assert_eq!(
            server.code("Encrypt", json!({"KeyId": key, "Plaintext": b64(b"x")})),
            "ResourceUnavailable.CmkDisabled",
            "round {round}: Encrypt right after another connection disabled the key"
        );
        assert_eq!(
            server.decrypt(&first, None).unwrap_err().code,
            "ResourceUnavailable.CmkDisabled"
        );
        cli.ok("EnableKey", json!({"KeyId": key}));
        assert_eq!(
            server.decrypt(&first, None).unwrap(),
            b"one",
            "round {round}"
        );
    }

    // A version created elsewhere: blobs under it open here, and new blobs use it.
    cli.ok("EnableKeyRotation", json!({"KeyId": key, "RotateDays": 30}));
    cli.ok("RotateKey", json!({"KeyId": key}));
    let from_cli = cli.encrypt(&key, b"two", None);
    assert_eq!(server.decrypt(&from_cli, None).unwrap(), b"two");
    let from_server = server.encrypt(&key, b"three", None);
    assert_eq!(
        (
            blob_version(&first),
            blob_version(&from_cli),
            blob_version(&from_server)
        ),
        (1, 2, 2),
        "the server encrypts under the version rotated in by the other connection"
    );
    assert_eq!(cli.decrypt(&from_server, None).unwrap(), b"three");

    cli.ok("ArchiveKey", json!({"KeyId": key}));
    assert_eq!(
        server.code("Encrypt", json!({"KeyId": key, "Plaintext": b64(b"x")})),
        "ResourceUnavailable.CmkArchived"
    );
    assert_eq!(
        server.decrypt(&first, None).unwrap(),
        b"one",
        "archived keys decrypt"
    );
    cli.ok("CancelKeyArchive", json!({"KeyId": key}));
    cli.ok("DisableKey", json!({"KeyId": key}));
    cli.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": key, "PendingWindowInDays": 7}),
    );
    assert_eq!(server.state(&key), "PendingDelete");
    let pending = json!({"KeyId": key, "Plaintext": b64(b"x")});
    assert_eq!(
        server.code("Encrypt", pending.clone()),
        "ResourceUnavailable.CmkStateNotSupport"
    );
    assert_eq!(
        server.decrypt(&first, None).unwrap_err().code,
        "ResourceUnavailable.CmkStateNotSupport"
    );

    // The cache is per scope: the same key id in another region or account is not found.
    let other = server.create_sym("scoped");
    server.encrypt(&other, b"warm the cache", None);
    let elsewhere = json!({"KeyId": other, "Plaintext": b64(b"x")});
    assert_eq!(
        server
            .region("ap-beijing")
            .code("Encrypt", elsewhere.clone()),
        "ResourceUnavailable.CmkNotFound"
    );
    assert_eq!(
        server.account(support::UIN + 1).code("Encrypt", elsewhere),
        "ResourceUnavailable.CmkNotFound"
    );
}

/// A "server" and a "cli" store opened on one directory: two connections, as two processes.
fn two_stores_on_one_directory() -> (tempfile::TempDir, Kms, Kms) {
    let dir = tempfile::tempdir().unwrap();
    let server = Kms::open(HsmConfig::directory(dir.path()));
    let cli = Kms::open(HsmConfig::directory(dir.path()));
    (dir, server, cli)
}

/// The key version a CiphertextBlob was sealed under: the last 4 bytes of its 45-byte header
/// (docs/ciphertext-blob.md).
fn blob_version(blob: &str) -> u32 {
    let header = support::unb64(blob.split("-k-").next().unwrap());
    assert_eq!(header.len(), 45);
    u32::from_be_bytes(header[41..].try_into().unwrap())
}

/// The same, under concurrency: while another connection disables and enables a key over and
/// over, every Encrypt that runs entirely between two toggles answers for the state the last
/// toggle left, never for an older one.
#[test]
fn calls_between_two_commits_of_another_connection_see_the_first() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

    let (_dir, server, cli) = two_stores_on_one_directory();
    let key = server.create_sym("toggled");
    // Toggles started and finished; an odd number finished leaves the key disabled.
    let (started, finished, done) = (AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false));
    let checked = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let params = json!({"KeyId": key, "Plaintext": b64(b"x")});
                while !done.load(SeqCst) {
                    let before = finished.load(SeqCst);
                    let result = server.call("Encrypt", params.clone());
                    if started.load(SeqCst) != before {
                        continue; // a toggle overlapped the call: either answer is right
                    }
                    match (before % 2, result) {
                        (0, Ok(_)) => {}
                        (1, Err(e)) if e.code == "ResourceUnavailable.CmkDisabled" => {}
                        (_, other) => panic!("after {before} toggles: {other:?}"),
                    }
                    checked.fetch_add(1, SeqCst);
                }
            });
        }
        for round in 0..100 {
            let action = if round % 2 == 0 {
                "DisableKey"
            } else {
                "EnableKey"
            };
            started.fetch_add(1, SeqCst);
            cli.ok(action, json!({"KeyId": key}));
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
