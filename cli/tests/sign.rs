//! `tkms key sign` / `tkms key verify` for every signing usage (issue 13 item 7), against the
//! embedded store: message from a file or standard input, text and JSON output, exit code 5 for
//! a signature that does not verify, and signatures OpenSSL accepts.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const TKMS: &str = env!("CARGO_BIN_EXE_tkms");

fn tkms(data_dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(TKMS)
        .env_remove("TKMS_ENDPOINT")
        .env("TKMS_DATA_DIR", data_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tkms runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("tkms finishes")
}

fn ok(data_dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let out = tkms(data_dir, args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn every_signing_usage_signs_and_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("store");
    let message = dir.path().join("message.txt");
    std::fs::write(&message, b"release 1.2.3").expect("write");
    let message = message.to_str().expect("utf-8");
    for (usage, algorithm) in [
        ("sign-sm2", "SM2DSA"),
        ("sign-rsa-2048", "RSA_PSS_SHA_256"),
        ("sign-rsa-3072", "RSA_PSS_SHA_256"),
        ("sign-ecc", "ECC_P256_R1"),
        ("sign-ecdsa-384", "ECDSA384_SHA384"),
        ("dilithium", "ML_DSA_65"),
    ] {
        ok(&data, &["key", "create", usage, "--usage", usage], b"");
        // From a file, and the same message from standard input.
        let sig = ok(&data, &["key", "sign", usage, "--in", message], b"");
        let json = ok(
            &data,
            &["key", "sign", usage, "--output", "json"],
            b"release 1.2.3",
        );
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(v["Algorithm"], algorithm, "{usage}");
        let text = ok(
            &data,
            &[
                "key",
                "verify",
                usage,
                "--in",
                message,
                "--signature",
                sig.trim(),
            ],
            b"",
        );
        assert!(text.starts_with("signature valid"), "{usage}: {text}");
        let stdin_sig = v["Signature"].as_str().expect("Signature");
        let json = ok(
            &data,
            &[
                "key",
                "verify",
                usage,
                "--signature",
                stdin_sig,
                "--output",
                "json",
            ],
            b"release 1.2.3",
        );
        assert!(json.contains("\"SignatureValid\":true"), "{usage}: {json}");
        // Another message: exit code 5 and a clear message.
        let out = tkms(
            &data,
            &["key", "verify", usage, "--signature", sig.trim()],
            b"release 1.2.4",
        );
        assert_eq!(out.status.code(), Some(5), "{usage}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("does not verify"),
            "{usage}"
        );
    }
}

#[test]
fn clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("store");
    ok(&data, &["key", "create", "sym"], b"");
    ok(&data, &["key", "create", "pq", "--usage", "dilithium"], b"");
    ok(&data, &["key", "create", "ec", "--usage", "sign-ecc"], b"");
    let out = tkms(&data, &["key", "sign", "sym"], b"m");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a signing key"));
    let out = tkms(&data, &["key", "sign", "ec"], &[0u8; 4097]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than 4096 bytes"));
    let out = tkms(
        &data,
        &["key", "sign", "pq", "--message-type", "digest"],
        b"m",
    );
    assert_eq!(out.status.code(), Some(2));
    let out = tkms(&data, &["key", "verify", "ec", "--signature", "%%%"], b"m");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("base64"));
    // A DIGEST of the wrong length is the KMS's refusal, named.
    let out = tkms(
        &data,
        &["key", "sign", "ec", "--message-type", "digest"],
        &[1u8; 31],
    );
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidParameter"));
    ok(&data, &["key", "disable", "pq"], b"");
    let out = tkms(&data, &["key", "sign", "pq"], b"m");
    assert_eq!(out.status.code(), Some(6));
}

#[test]
fn openssl_verifies_cli_signatures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("store");
    let message = dir.path().join("m");
    std::fs::write(&message, b"checked by openssl").expect("write");
    for (usage, algorithm, digest, extra) in [
        ("sign-ecdsa-384", None, "-sha384", &[][..]),
        (
            "sign-rsa-3072",
            Some("rsa-pkcs1-sha256"),
            "-sha256",
            &[][..],
        ),
        (
            "sign-rsa-2048",
            None,
            "-sha256",
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:-1",
            ][..],
        ),
    ] {
        ok(&data, &["key", "create", usage, "--usage", usage], b"");
        let pem = dir.path().join(format!("{usage}.pem"));
        ok(
            &data,
            &[
                "key",
                "public-key",
                usage,
                "-o",
                pem.to_str().expect("utf-8"),
            ],
            b"",
        );
        let mut args = vec![
            "key",
            "sign",
            usage,
            "--in",
            message.to_str().expect("utf-8"),
        ];
        if let Some(a) = algorithm {
            args.extend(["--algorithm", a]);
        }
        let sig = ok(&data, &args, b"");
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sig.trim())
            .expect("base64");
        let sig_path = dir.path().join("sig");
        std::fs::write(&sig_path, raw).expect("write");
        let out = Command::new("openssl")
            .args(["dgst", digest, "-verify"])
            .arg(&pem)
            .args(extra)
            .arg("-signature")
            .arg(&sig_path)
            .arg(&message)
            .output()
            .expect("openssl runs");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Verified OK"),
            "{usage}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
