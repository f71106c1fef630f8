//! Output files are all or nothing (docs/cli.md, "Output files"): the real binary, interrupted
//! by real signals, killed, or stopped by a file size limit, leaves no partial output behind.

use std::io::Write;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TKMS: &str = env!("CARGO_BIN_EXE_tkms");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn tkms(data_dir: &Path) -> Command {
    let mut command = Command::new(TKMS);
    command
        .env_remove("TKMS_ENDPOINT")
        .env_remove("TKMS_PARTIAL_OUTPUT")
        .env("TKMS_DATA_DIR", data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("tkms runs")
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the directory is readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A ciphertext of 8 MiB for the test-only SM2 recipient (no KMS needed to open it).
fn big_ciphertext(dir: &Path) -> PathBuf {
    let plain = dir.join("big.bin");
    let sealed = dir.join("big.tkms");
    std::fs::write(
        &plain,
        (0..8u32 << 20).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    )
    .expect("write the plaintext");
    let out = run(tkms(&dir.join("store")).args([
        "encrypt",
        "--recipient",
        &format!("{DATA}/test-only-sm2.pub.pem"),
        "-o",
        sealed.to_str().expect("utf-8"),
        plain.to_str().expect("utf-8"),
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sealed
}

/// Starts `tkms decrypt - -o out/p.bin` and feeds it the first 3 MiB of `sealed` through a pipe
/// left open, so the command is mid-output (past its 1 MiB buffer) until it is stopped.
fn decrypt_fed_halfway(dir: &Path, sealed: &Path, out_dir: &Path, named: bool) -> Child {
    let mut command = tkms(&dir.join("store"));
    command
        .args([
            "decrypt",
            "--identity",
            &format!("{DATA}/test-only-sm2.key.pem"),
            "-o",
            out_dir.join("p.bin").to_str().expect("utf-8"),
            "-",
        ])
        .stdin(Stdio::piped());
    if named {
        command.env("TKMS_PARTIAL_OUTPUT", "named");
    }
    let mut child = command.spawn().expect("tkms starts");
    let bytes = std::fs::read(sealed).expect("read the ciphertext");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(&bytes[..3 << 20])
        .expect("feed the ciphertext");
    // Keep the pipe open (and tkms waiting for more) until the test ends the process.
    std::mem::forget(stdin);
    child
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// The named fallback: SIGINT, SIGTERM and SIGHUP each remove the partial output, and the
/// process still dies of the signal.
#[test]
fn terminating_signals_remove_the_named_partial_output() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sealed = big_ciphertext(tmp.path());
    for (name, number) in [("INT", 2), ("TERM", 15), ("HUP", 1)] {
        let out_dir = tmp.path().join(format!("out-{name}"));
        std::fs::create_dir(&out_dir).expect("mkdir");
        let mut child = decrypt_fed_halfway(tmp.path(), &sealed, &out_dir, true);
        wait_for("plaintext in the partial output", || {
            std::fs::read_dir(&out_dir)
                .expect("readable")
                .any(|e| e.expect("entry").metadata().is_ok_and(|m| m.len() > 0))
        });
        send(&child, name);
        let status = child.wait().expect("tkms ends");
        assert_eq!(status.signal(), Some(number), "SIG{name}: {status:?}");
        assert_eq!(
            names_in(&out_dir),
            Vec::<String>::new(),
            "SIG{name} left a file"
        );
    }
}

/// `O_TMPFILE`: the partial output has no name at all, so even SIGKILL leaves nothing.
#[test]
fn sigkill_leaves_nothing_where_the_output_has_no_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sealed = big_ciphertext(tmp.path());
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let mut child = decrypt_fed_halfway(tmp.path(), &sealed, &out_dir, false);
    let fds = PathBuf::from(format!("/proc/{}/fd", child.id()));
    let prefix = out_dir.to_string_lossy().into_owned();
    wait_for("an unnamed output file holding plaintext", || {
        std::fs::read_dir(&fds).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|fd| {
                let target = std::fs::read_link(fd.path()).unwrap_or_default();
                let target = target.to_string_lossy();
                target.starts_with(&prefix)
                    && target.ends_with("(deleted)")
                    && std::fs::metadata(fd.path()).is_ok_and(|m| m.len() > 0)
            })
        })
    });
    assert_eq!(
        names_in(&out_dir),
        Vec::<String>::new(),
        "no name while writing"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("tkms ends");
    assert_eq!(names_in(&out_dir), Vec::<String>::new());
}

/// What SIGKILL leaves with the named fallback is reported by the next run into the directory.
#[test]
fn the_next_run_reports_a_leftover_partial_output() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    std::fs::write(out_dir.join(".tkms-abc123.partial"), b"plaintext").expect("leftover");
    std::fs::write(tmp.path().join("in.txt"), b"hello").expect("input");
    let out = run(tkms(&tmp.path().join("store")).args([
        "encrypt",
        "--recipient",
        &format!("{DATA}/test-only-sm2.pub.pem"),
        "-o",
        out_dir.join("x.tkms").to_str().expect("utf-8"),
        tmp.path().join("in.txt").to_str().expect("utf-8"),
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("interrupted tkms run") && stderr.contains(".tkms-abc123.partial"),
        "{stderr}"
    );
}

/// A write past RLIMIT_FSIZE is an I/O error (exit 3), not a SIGXFSZ death, and the partial
/// output is removed, in both modes.
#[test]
fn file_size_limit_is_an_error_that_leaves_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sealed = big_ciphertext(tmp.path());
    for named in [false, true] {
        let out_dir = tmp.path().join(format!("out-{named}"));
        std::fs::create_dir(&out_dir).expect("mkdir");
        let mut command = Command::new("prlimit");
        command
            .args(["--fsize=2000000", TKMS, "decrypt", "--identity"])
            .arg(format!("{DATA}/test-only-sm2.key.pem"))
            .arg("-o")
            .arg(out_dir.join("p.bin"))
            .arg(&sealed)
            .env_remove("TKMS_ENDPOINT")
            .env("TKMS_DATA_DIR", tmp.path().join("store"));
        if named {
            command.env("TKMS_PARTIAL_OUTPUT", "named");
        } else {
            command.env_remove("TKMS_PARTIAL_OUTPUT");
        }
        let out = run(&mut command);
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("too large"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(names_in(&out_dir), Vec::<String>::new());
    }
}

/// `tkms tde dump -o`: a tampered page leaves no OUT (and no partial), and an existing OUT is
/// replaced only with --force.
#[test]
fn tde_dump_output_is_all_or_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = tmp.path();
    let store = work.join("store");
    let tde = |args: &[&str]| run(tkms(&store).current_dir(work).arg("tde").args(args));
    let out = tde(&["init", "db", "--key", "tkms-default", "--page-size", "4096"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(work.join("t.bin"), &data).expect("input");
    assert!(tde(&["load", "db", "t", "t.bin"]).status.success());

    // An existing OUT is kept without --force, replaced with it.
    std::fs::write(work.join("dump.bin"), b"precious").expect("existing");
    let refused = tde(&["dump", "db", "t", "-o", "dump.bin"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert_eq!(
        std::fs::read(work.join("dump.bin")).expect("kept"),
        b"precious"
    );
    let forced = tde(&["dump", "db", "t", "-o", "dump.bin", "--force"]);
    assert!(forced.status.success(), "{forced:?}");
    assert_eq!(std::fs::read(work.join("dump.bin")).expect("dumped"), data);

    // Tamper the last of the 5 page records (docs/tde.md §2.3: from offset 8192, 4128 bytes each).
    let tbs = work.join("db/t.tbs");
    let mut bytes = std::fs::read(&tbs).expect("tablespace");
    bytes[8192 + 4 * 4128 + 100] ^= 1;
    std::fs::write(&tbs, bytes).expect("tamper");
    let failed = tde(&["dump", "db", "t", "-o", "fresh.bin"]);
    assert!(!failed.status.success(), "{failed:?}");
    let failed = tde(&["dump", "db", "t", "-o", "dump.bin", "--force"]);
    assert!(!failed.status.success(), "{failed:?}");
    assert_eq!(std::fs::read(work.join("dump.bin")).expect("kept"), data);
    assert!(
        !names_in(work)
            .iter()
            .any(|n| n == "fresh.bin" || n.ends_with(".partial")),
        "{:?}",
        names_in(work)
    );
}
