//! Standard input to standard output, both directions, with the real binary.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const TKMS: &str = env!("CARGO_BIN_EXE_tkms");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn pipe(data_dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(TKMS)
        .env_remove("TKMS_ENDPOINT")
        .env("TKMS_DATA_DIR", data_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tkms runs");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    // Write from another thread: tkms streams, so its stdout must be drained meanwhile.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("tkms finishes");
    writer.join().expect("the writer thread does not panic");
    out
}

fn plaintext() -> Vec<u8> {
    // Several frames and a partial last one.
    (0..200_000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn recipient_only_stdin_to_stdout_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("never-created");
    let public = format!("{DATA}/test-only-sm2.pub.pem");
    let private = format!("{DATA}/test-only-sm2.key.pem");
    let sealed = pipe(
        &store,
        &["encrypt", "--recipient", &public, "--frame-size", "4096"],
        &plaintext(),
    );
    assert!(
        sealed.status.success(),
        "{}",
        String::from_utf8_lossy(&sealed.stderr)
    );
    assert!(sealed.stderr.is_empty(), "silent on success");
    let opened = pipe(
        &store,
        &["decrypt", "--identity", &private, "-"],
        &sealed.stdout,
    );
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    assert_eq!(opened.stdout, plaintext());
    // No KMS was needed, so the embedded store was never created.
    assert!(!store.exists());
}

#[test]
fn embedded_store_stdin_to_stdout_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let sealed = pipe(tmp.path(), &["encrypt", "-c", "k=v"], &plaintext());
    assert!(
        sealed.status.success(),
        "{}",
        String::from_utf8_lossy(&sealed.stderr)
    );
    let opened = pipe(tmp.path(), &["decrypt", "-c", "k=v"], &sealed.stdout);
    assert_eq!(opened.stdout, plaintext());
    let empty = pipe(tmp.path(), &["encrypt"], b"");
    let opened = pipe(tmp.path(), &["decrypt"], &empty.stdout);
    assert!(opened.status.success() && opened.stdout.is_empty());
}

#[test]
fn a_truncated_stream_fails_with_exit_5_after_only_authenticated_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let public = format!("{DATA}/test-only-rsa.pub.pem");
    let private = format!("{DATA}/test-only-rsa.key.pem");
    let sealed = pipe(
        tmp.path(),
        &["encrypt", "-r", &public, "--frame-size", "4096"],
        &plaintext(),
    );
    let cut = &sealed.stdout[..sealed.stdout.len() - 5000];
    let opened = pipe(tmp.path(), &["decrypt", "-i", &private], cut);
    assert_eq!(opened.status.code(), Some(5));
    // Whatever was released is an exact prefix of the plaintext, never garbage.
    assert!(opened.stdout.len() < plaintext().len());
    assert_eq!(opened.stdout[..], plaintext()[..opened.stdout.len()]);
}

#[test]
fn ciphertext_is_never_written_to_a_terminal() {
    // util-linux `script` gives the command a pseudo-terminal as stdout.
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain");
    std::fs::write(&plain, b"secret").unwrap();
    let command = format!(
        "{TKMS} encrypt -r {DATA}/test-only-rsa.pub.pem {}",
        plain.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("TKMS_ENDPOINT")
        .stdin(Stdio::null())
        .output()
        .expect("`script` (util-linux) is installed");
    assert_eq!(out.status.code(), Some(2));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("refusing to write ciphertext to a terminal"),
        "{shown}"
    );
    assert!(
        !shown.contains("TKMSENV"),
        "no envelope (magic TKMSENV) reached the terminal: {shown}"
    );
}
