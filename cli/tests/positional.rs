//! `-o` from a regular file goes through kms-core's positional path (docs/cli.md, "Output
//! files"): its envelopes are the ones the streaming path reads and writes, both ways; a bad
//! envelope leaves no OUT; outputs are private; several files still cost one data key.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TKMS: &str = env!("CARGO_BIN_EXE_tkms");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn tkms(store: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(TKMS)
        .env_remove("TKMS_ENDPOINT")
        .env_remove("TKMS_PARTIAL_OUTPUT")
        .env("TKMS_DATA_DIR", store)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tkms runs");
    let writer = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let out = child.wait_with_output().expect("tkms finishes");
    if let Some(writer) = writer {
        writer.join().expect("the writer does not panic");
    }
    out
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn file_outputs_and_streams_read_each_other_both_ways() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    for (len, frame) in [
        (0, "65536"),
        (1, "65536"),
        (65_536, "65536"),
        ((3 << 20) + 5, "65536"),
        (200_000, "4096"),
    ] {
        let plain = tmp.path().join(format!("p{len}"));
        std::fs::write(&plain, pattern(len)).expect("plaintext");
        // Positional encrypt, streaming decrypt (standard input to standard output).
        let sealed = tmp.path().join(format!("p{len}.tkms"));
        ok(tkms(
            &store,
            &[
                "encrypt",
                "--frame-size",
                frame,
                "-c",
                "k=v",
                path(&plain),
                "-o",
                path(&sealed),
            ],
            None,
        ));
        let streamed = ok(tkms(
            &store,
            &["decrypt", "-c", "k=v"],
            Some(&std::fs::read(&sealed).expect("sealed")),
        ));
        assert_eq!(streamed.stdout, pattern(len), "{len}");
        // Streaming encrypt, positional decrypt.
        let piped = ok(tkms(
            &store,
            &["encrypt", "--frame-size", frame, "-c", "k=v"],
            Some(&pattern(len)),
        ));
        let from_pipe = tmp.path().join(format!("s{len}.tkms"));
        std::fs::write(&from_pipe, &piped.stdout).expect("sealed");
        for envelope in [&sealed, &from_pipe] {
            let back = tmp.path().join(format!("back{len}"));
            ok(tkms(
                &store,
                &[
                    "decrypt",
                    "-c",
                    "k=v",
                    path(envelope),
                    "-o",
                    path(&back),
                    "--force",
                ],
                None,
            ));
            assert_eq!(std::fs::read(&back).expect("opened"), pattern(len), "{len}");
            let mode = std::fs::metadata(&back)
                .expect("opened")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "plaintext outputs are private");
        }
    }
}

#[test]
fn a_damaged_envelope_leaves_no_output_and_exits_5() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    let plain = tmp.path().join("plain");
    std::fs::write(&plain, pattern(3 << 20)).expect("plaintext");
    let sealed = tmp.path().join("plain.tkms");
    ok(tkms(
        &store,
        &["encrypt", path(&plain), "-o", path(&sealed)],
        None,
    ));
    let envelope = std::fs::read(&sealed).expect("sealed");
    let mut flipped = envelope.clone();
    let at = flipped.len() - 100_000;
    flipped[at] ^= 1;
    let cases = [
        ("a frame flipped", flipped),
        ("cut short", envelope[..envelope.len() - 70_000].to_vec()),
        ("extended", [&envelope[..], b"more"].concat()),
    ];
    for named in [false, true] {
        for (what, bytes) in &cases {
            let bad = tmp.path().join("bad.tkms");
            std::fs::write(&bad, bytes).expect("bad");
            let out = work.join("out");
            let mut command = Command::new(TKMS);
            command
                .env_remove("TKMS_ENDPOINT")
                .env("TKMS_DATA_DIR", &store)
                .args(["decrypt", path(&bad), "-o", path(&out)]);
            if named {
                command.env("TKMS_PARTIAL_OUTPUT", "named");
            } else {
                command.env_remove("TKMS_PARTIAL_OUTPUT");
            }
            let result = command.output().expect("tkms runs");
            assert_eq!(result.status.code(), Some(5), "{what}: {result:?}");
            assert_eq!(
                names_in(&work),
                Vec::<String>::new(),
                "{what} (named: {named})"
            );
        }
    }
}

#[test]
fn several_files_round_trip_through_out_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    let sealed_dir = tmp.path().join("sealed");
    let opened_dir = tmp.path().join("opened");
    std::fs::create_dir(&sealed_dir).expect("mkdir");
    std::fs::create_dir(&opened_dir).expect("mkdir");
    let inputs: Vec<PathBuf> = [0, 10, 1 << 20, (2 << 20) + 3]
        .iter()
        .map(|&len| {
            let p = tmp.path().join(format!("f{len}"));
            std::fs::write(&p, pattern(len)).expect("plaintext");
            p
        })
        .collect();
    let mut args = vec!["encrypt", "--out-dir", path(&sealed_dir)];
    args.extend(inputs.iter().map(|p| path(p)));
    ok(tkms(&store, &args, None));
    let sealed: Vec<PathBuf> = names_in(&sealed_dir)
        .iter()
        .map(|n| sealed_dir.join(n))
        .collect();
    assert_eq!(sealed.len(), inputs.len());
    let mut args = vec!["decrypt", "--out-dir", path(&opened_dir)];
    args.extend(sealed.iter().map(|p| path(p)));
    ok(tkms(&store, &args, None));
    for input in &inputs {
        let name = input.file_name().expect("name");
        assert_eq!(
            std::fs::read(opened_dir.join(name)).expect("opened"),
            std::fs::read(input).expect("input")
        );
    }
}

#[test]
fn recipients_only_files_need_no_kms() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("never-created");
    let plain = tmp.path().join("plain");
    std::fs::write(&plain, pattern(700_000)).expect("plaintext");
    let sealed = tmp.path().join("plain.tkms");
    let back = tmp.path().join("back");
    let public = format!("{DATA}/test-only-sm2.pub.pem");
    let private = format!("{DATA}/test-only-sm2.key.pem");
    ok(tkms(
        &store,
        &[
            "encrypt",
            "--recipient",
            &public,
            "--suite",
            "sm4gcm",
            path(&plain),
            "-o",
            path(&sealed),
        ],
        None,
    ));
    ok(tkms(
        &store,
        &[
            "decrypt",
            "--identity",
            &private,
            path(&sealed),
            "-o",
            path(&back),
        ],
        None,
    ));
    assert_eq!(std::fs::read(&back).expect("opened"), pattern(700_000));
    assert!(!store.exists());
}
