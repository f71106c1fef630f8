//! Seed files: deterministic keys, golden ciphertexts, no overwrites, export.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

#[path = "support/kms.rs"]
mod support;

use mock_hsm::{ExportOptions, HsmConfig};
use serde_json::json;
use support::{DAY, Kms};

const SEED: &str = include_str!("data/seed-golden.toml");
const SM4: &str = "00000000-0000-4000-8000-000000000001";
const AES: &str = "00000000-0000-4000-8000-000000000002";

/// Made once with the seeded keys (Encrypt with context {"purpose":"golden"}; the v1 blob
/// with a seed holding only version 1). They must open forever: the blob format is stable.
const GOLDEN_SM4_V1: &str = "VEtCAQIwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDEAAAAB-k-/i7oUgRr3uLG8VlI-k-E6NEYg2//mqtHTm104qKbqeUkFkEZxmiX6csX1c=";
const GOLDEN_SM4_V2: &str = "VEtCAQIwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDEAAAAC-k-2JzwV6Y1A0b5+vSb-k-In3khModXyJxHh7vDwTs46VSgD9V/DL80L4RCoc=";
const GOLDEN_AES: &str = "VEtCAQEwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDIAAAAB-k-VfvVRJr3RduqaRiC-k-A5vMlPYvMoiAQT9doAu9HYLcNRLGFShqrt4=";

fn seeded() -> Kms {
    let dir = std::env::temp_dir().join(format!("tkms-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("seed-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, SEED).unwrap();
    let kms = Kms::open(
        HsmConfig::in_memory()
            .with_mock_clock()
            .with_seed_file(&path),
    );
    std::fs::remove_file(path).unwrap();
    kms
}

#[test]
fn seeded_keys_have_fixed_ids_metadata_and_states() {
    let kms = seeded();
    let m = kms.meta(SM4);
    assert_eq!(m["Alias"], "golden-sm4");
    assert_eq!(m["Type"], 4);
    assert_eq!(m["CreateTime"], 1_700_000_000u64);
    assert_eq!(m["KeyRotationEnabled"], true);
    assert_eq!(m["RotateDays"], 90);
    assert_eq!(
        kms.meta(AES)["Type"],
        2,
        "per-key override: AES-256 in an SM region"
    );
    assert_eq!(
        kms.state("00000000-0000-4000-8000-000000000003"),
        "Disabled"
    );
    assert_eq!(
        kms.state("00000000-0000-4000-8000-000000000007"),
        "PendingImport"
    );
    assert_eq!(
        kms.meta("00000000-0000-4000-8000-000000000004")["KeyUsage"],
        "ASYMMETRIC_DECRYPT_RSA_2048"
    );
    assert_eq!(
        kms.code(
            "DescribeKey",
            json!({"KeyId": "00000000-0000-4000-8000-000000000008"})
        ),
        "ResourceUnavailable.CmkNotFound",
        "another account's key"
    );
    assert_eq!(
        kms.account(42)
            .region("ap-singapore")
            .state("00000000-0000-4000-8000-000000000008"),
        "Enabled"
    );
    let tagged = kms.ok(
        "ListKeyDetail",
        json!({"TagFilters": [{"TagKey": "env", "TagValue": ["ci"]}]}),
    );
    assert_eq!(tagged["TotalCount"], 1);
    // The seeded SM2 public key is fixed by its scalar.
    let pk = kms.ok(
        "GetPublicKey",
        json!({"KeyId": "00000000-0000-4000-8000-000000000005"}),
    );
    assert!(
        pk["PublicKey"]
            .as_str()
            .unwrap()
            .starts_with("MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAE")
    );
}

#[test]
fn golden_ciphertexts_decrypt() {
    let kms = seeded();
    let ctx = Some(r#"{"purpose":"golden"}"#);
    assert_eq!(kms.decrypt(GOLDEN_SM4_V1, ctx).unwrap(), b"golden sm4 v1");
    assert_eq!(kms.decrypt(GOLDEN_SM4_V2, ctx).unwrap(), b"golden sm4 v2");
    assert_eq!(kms.decrypt(GOLDEN_AES, ctx).unwrap(), b"golden aes");
    // New ciphertexts use the newest seeded version.
    let blob = kms.encrypt(SM4, b"x", None);
    let header = support::unb64(blob.split("-k-").next().unwrap());
    assert_eq!(u32::from_be_bytes(header[41..45].try_into().unwrap()), 2);
}

#[test]
fn seeding_never_overwrites_existing_keys() {
    let kms = seeded();
    kms.ok(
        "UpdateKeyDescription",
        json!({"KeyId": SM4, "Description": "changed"}),
    );
    let report = kms.hsm.apply_seed(SEED).unwrap();
    assert!(report.created.is_empty());
    assert_eq!(report.skipped.len(), 8);
    assert_eq!(kms.meta(SM4)["Description"], "changed");
}

#[test]
fn bad_seeds_are_refused_whole() {
    let kms = Kms::new();
    for (bad, why) in [
        ("version = 2", "version"),
        (
            "version = 1\n[[keys]]\nkey_id = \"nope\"\nalias = \"a\"",
            "key id",
        ),
        (
            "version = 1\n[[keys]]\nkey_id = \"00000000-0000-4000-8000-00000000000a\"\nalias = \"kms-a\"",
            "alias",
        ),
        (
            "version = 1\n[[keys]]\nkey_id = \"00000000-0000-4000-8000-00000000000a\"\nalias = \"a\"\nkey_usage = \"X\"",
            "usage",
        ),
        (
            "version = 1\n[[keys]]\nkey_id = \"00000000-0000-4000-8000-00000000000a\"\nalias = \"a\"\n[[keys.versions]]\nversion = 1\nmaterial = \"AAAA\"",
            "material length",
        ),
        (
            "version = 1\n[[keys]]\nkey_id = \"00000000-0000-4000-8000-00000000000a\"\nalias = \"a\"\n[[keys.versions]]\nversion = 2",
            "version gap",
        ),
        (
            "version = 1\n[[keys]]\nkey_id = \"00000000-0000-4000-8000-00000000000a\"\nalias = \"a\"\nstate = \"PendingDelete\"",
            "deletion date",
        ),
        (
            "version = 1\n[[keys]]\nkey_id = \"00000000-0000-4000-8000-00000000000a\"\nalias = \"a\"\nsurprise = 1",
            "unknown field",
        ),
        (
            "version = 1\n[[keys]]\nkey_id = \"00000000-0000-4000-8000-00000000000a\"\nalias = \"a\"\n[[keys]]\nkey_id = \"00000000-0000-4000-8000-00000000000b\"\nalias = \"a\"",
            "duplicate alias",
        ),
        (
            "version = 1\n[[keys]]\nkey_id = \"00000000-0000-4000-8000-00000000000a\"\nalias = \"a\"\nlast_rotate_time = 253402300800",
            "time past 9999-12-31",
        ),
        (
            "version = 1\n[[keys]]\nkey_id = \"00000000-0000-4000-8000-00000000000a\"\nalias = \"a\"\n[[keys.versions]]\nversion = 1\ncreated = 9223372036854775807",
            "version time past 9999-12-31",
        ),
    ] {
        assert!(kms.hsm.apply_seed(bad).is_err(), "{why}");
    }
    assert_eq!(
        kms.ok("ListKeys", json!({}))["TotalCount"],
        0,
        "nothing half-applied"
    );
}

#[test]
fn export_round_trips_with_material_only_when_asked() {
    let kms = seeded();
    kms.clock().advance(DAY);
    let safe = kms.hsm.export_seed(ExportOptions::default()).unwrap();
    assert!(
        !safe.contains("material"),
        "no key material without the danger option"
    );
    assert!(safe.contains("golden-sm4"));
    let full = kms
        .hsm
        .export_seed(ExportOptions {
            danger_include_key_material: true,
        })
        .unwrap();
    assert!(full.contains("AAECAwQFBgcICQoLDA0ODw=="));
    // A fresh HSM seeded from the full export opens the golden ciphertexts.
    let copy = Kms::new();
    let report = copy.hsm.apply_seed(&full).unwrap();
    assert_eq!(report.created.len(), 8);
    assert_eq!(
        copy.decrypt(GOLDEN_SM4_V1, Some(r#"{"purpose":"golden"}"#))
            .unwrap(),
        b"golden sm4 v1"
    );
    assert_eq!(copy.meta(SM4)["Alias"], "golden-sm4");
    assert_eq!(
        copy.state("00000000-0000-4000-8000-000000000007"),
        "PendingImport"
    );
    // Seeded from the safe export, keys exist with fresh material: old ciphertexts do not open.
    let fresh = Kms::new();
    fresh.hsm.apply_seed(&safe).unwrap();
    assert!(
        fresh
            .decrypt(GOLDEN_SM4_V1, Some(r#"{"purpose":"golden"}"#))
            .is_err()
    );
}
